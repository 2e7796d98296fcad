//! Writing a correlation plan: one multi-row statement per kind of row (`INSERT … SELECT FROM
//! unnest(…)`, `UPDATE … FROM unnest(…)`), whatever the number of alerts.

use aurora_correlation::plan::{AlertRow, IncidentRow};
use aurora_correlation::{AlertRef, Arrival, EventDetail, Plan};
use aurora_domain::UserId;
use chrono::{DurationRound, NaiveDateTime};
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{
    Array, BigInt, Float4, Integer, Jsonb, Nullable, Text, Timestamp, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{QueryResult, deployments};

/// A statement whose parameters are bound a group of columns at a time.
type Query<'a> = BoxedSqlQuery<'a, Pg, SqlQuery>;

/// The ids the plan's new alerts and events were written with.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Id of each of [`Plan::new_alerts`], in order.
    pub alert_ids: Vec<i32>,
    /// Id of each of [`Plan::events`], in order.
    pub event_ids: Vec<i64>,
}

impl Written {
    /// The id of an alert row.
    pub fn alert_id(&self, alert: AlertRef) -> i32 {
        match alert {
            AlertRef::Stored(id) => id,
            AlertRef::New(index) => self.alert_ids[index],
        }
    }
}

/// Writes `plan`, decided for `user` over `arrivals` at `now`. Call inside the transaction
/// that loaded its state.
pub async fn write(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
    now: NaiveDateTime,
) -> QueryResult<Written> {
    let written = allocate(conn, plan.new_alerts.len(), plan.events.len()).await?;
    insert_incidents(conn, user, arrivals, plan, &written).await?;
    // Updates before inserts: a key's stored row stops firing before a new row of the same
    // key starts (at most one open row per key).
    update_alerts(conn, plan).await?;
    insert_alerts(conn, user, arrivals, plan, &written).await?;
    update_incidents(conn, plan).await?;
    insert_links(conn, plan, &written, now).await?;
    insert_events(conn, plan, &written, now).await?;
    insert_thoughts(conn, plan, now).await?;
    insert_processed(conn, user, arrivals, plan, &written, now).await?;
    crate::silences::count_suppressed(conn, &plan.suppressed).await?;
    count_noise(conn, user, arrivals, plan).await?;
    let beats: Vec<(Uuid, NaiveDateTime)> = plan
        .beats
        .iter()
        .map(|(id, at)| (*id, naive(*at)))
        .collect();
    crate::heartbeats::heard(conn, &beats).await?;

    for &index in &plan.deployments {
        let batch = arrivals[index].batch;
        let deployment = batch
            .deployment
            .as_ref()
            .expect("planned from a deployment");
        deployments::record(
            conn,
            user,
            &batch.delivery_id,
            deployment,
            batch.received_at.naive_utc(),
            &batch.raw_payload,
        )
        .await?;
    }
    Ok(written)
}

#[derive(QueryableByName)]
struct Allocated {
    #[diesel(sql_type = Array<Integer>)]
    alert_ids: Vec<i32>,
    #[diesel(sql_type = Array<BigInt>)]
    event_ids: Vec<i64>,
}

/// Draws ids for the new alerts and events from their sequences, in one round trip.
async fn allocate(
    conn: &mut AsyncPgConnection,
    alerts: usize,
    events: usize,
) -> QueryResult<Written> {
    if alerts == 0 && events == 0 {
        return Ok(Written::default());
    }
    let allocated: Allocated = diesel::sql_query(
        "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('alerts', 'id'))::int4 \
                      FROM generate_series(1, $1)) AS alert_ids, \
                ARRAY(SELECT nextval(pg_get_serial_sequence('incident_events', 'id')) \
                      FROM generate_series(1, $2)) AS event_ids",
    )
    .bind::<Integer, _>(alerts as i32)
    .bind::<Integer, _>(events as i32)
    .get_result(conn)
    .await?;
    Ok(Written {
        alert_ids: allocated.alert_ids,
        event_ids: allocated.event_ids,
    })
}

fn naive(at: chrono::DateTime<chrono::Utc>) -> NaiveDateTime {
    at.naive_utc()
}

fn services_json(services: &[String]) -> serde_json::Value {
    serde_json::Value::from(services.to_vec())
}

async fn insert_incidents(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
    written: &Written,
) -> QueryResult<()> {
    if plan.new_incidents.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut opened_by = Vec::new();
    let (mut sources, mut titles) = (Vec::new(), Vec::new());
    let (mut services, mut environments, mut started) = (Vec::new(), Vec::new(), Vec::new());
    let mut created = Vec::new();
    let rows = IncidentColumns::of(plan.new_incidents.iter().map(|i| &i.row));
    for incident in &plan.new_incidents {
        let alert = &arrivals[incident.arrival].batch.alerts[incident.alert_index];
        ids.push(incident.id);
        opened_by.push(written.alert_id(incident.opened_by));
        sources.push(alert.source_type.as_str());
        titles.push(alert.title.as_str());
        services.push(alert.service.as_deref());
        environments.push(alert.environment.as_deref());
        started.push(naive(alert.started_at));
        created.push(naive(incident.created_at));
    }
    let query = diesel::sql_query(
        "INSERT INTO incidents (id, user_id, source_type, source_alert_id, \
             alert_title, alert_service, alert_environment, started_at, created_at, status, \
             resolved_at, updated_at, correlated_alert_count, affected_services, \
             firing_alert_count, severity, firing_by_severity, aurora_status, active_tab) \
         SELECT n.id, $1, n.source_type, n.source_alert_id, n.title, n.service, \
                n.environment, n.started_at, n.created_at, n.status, n.resolved_at, \
                n.updated_at, n.alert_count, \
                ARRAY(SELECT jsonb_array_elements_text(n.services)), n.firing, n.severity, \
                ARRAY(SELECT jsonb_array_elements_text(n.by_severity)::int4), 'idle', \
                'thoughts' \
         FROM unnest($2::uuid[], $3::text[], $4::int4[], $5::text[], \
                     $6::text[], $7::text[], $8::timestamp[], $9::timestamp[], $10::text[], \
                     $11::timestamp[], $12::timestamp[], $13::int4[], $14::jsonb[], \
                     $15::int4[], $16::text[], $17::jsonb[]) \
              AS n(id, source_type, source_alert_id, title, service, environment, \
                   started_at, created_at, status, resolved_at, updated_at, alert_count, \
                   services, firing, severity, by_severity)",
    )
    .into_boxed()
    .bind::<Text, _>(user.as_str())
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&sources)
    .bind::<Array<Integer>, _>(&opened_by)
    .bind::<Array<Text>, _>(&titles)
    .bind::<Array<Nullable<Text>>, _>(&services)
    .bind::<Array<Nullable<Text>>, _>(&environments)
    .bind::<Array<Timestamp>, _>(&started)
    .bind::<Array<Timestamp>, _>(&created);
    rows.bind(query).execute(conn).await.map(drop)
}

/// The correlator's columns of incident rows, as one array per column.
struct IncidentColumns {
    statuses: Vec<&'static str>,
    resolved_at: Vec<Option<NaiveDateTime>>,
    updated_at: Vec<NaiveDateTime>,
    alert_counts: Vec<i32>,
    firing: Vec<i32>,
    services: Vec<serde_json::Value>,
    severities: Vec<&'static str>,
    /// Each incident's counts as a JSON array: unnest would flatten an int4[][] into one
    /// column of numbers.
    firing_by_severity: Vec<serde_json::Value>,
}

impl IncidentColumns {
    /// Binds the columns as the next parameters, in this order: status, resolved at, updated
    /// at, alert count, services, firing alerts, severity, firing alerts by severity.
    fn bind<'a>(&'a self, query: Query<'a>) -> Query<'a> {
        query
            .bind::<Array<Text>, _>(&self.statuses)
            .bind::<Array<Nullable<Timestamp>>, _>(&self.resolved_at)
            .bind::<Array<Timestamp>, _>(&self.updated_at)
            .bind::<Array<Integer>, _>(&self.alert_counts)
            .bind::<Array<Jsonb>, _>(&self.services)
            .bind::<Array<Integer>, _>(&self.firing)
            .bind::<Array<Text>, _>(&self.severities)
            .bind::<Array<Jsonb>, _>(&self.firing_by_severity)
    }

    fn of<'a>(rows: impl Iterator<Item = &'a IncidentRow>) -> Self {
        let mut columns = IncidentColumns {
            statuses: Vec::new(),
            resolved_at: Vec::new(),
            updated_at: Vec::new(),
            alert_counts: Vec::new(),
            firing: Vec::new(),
            services: Vec::new(),
            severities: Vec::new(),
            firing_by_severity: Vec::new(),
        };
        for row in rows {
            columns.statuses.push(row.status.as_str());
            columns.resolved_at.push(row.resolved_at.map(naive));
            columns.updated_at.push(naive(row.updated_at));
            columns.alert_counts.push(row.correlated_alert_count);
            columns.firing.push(row.firing_alerts);
            columns.services.push(services_json(&row.affected_services));
            columns.severities.push(row.severity.as_str());
            columns
                .firing_by_severity
                .push(serde_json::Value::from(row.firing_by_severity.0.to_vec()));
        }
        columns
    }
}

async fn update_incidents(conn: &mut AsyncPgConnection, plan: &Plan) -> QueryResult<()> {
    if plan.incident_updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = plan.incident_updates.iter().map(|u| u.id).collect();
    let rows = IncidentColumns::of(plan.incident_updates.iter().map(|u| &u.row));
    let query = diesel::sql_query(
        "UPDATE incidents i SET status = u.status, resolved_at = u.resolved_at, \
             updated_at = u.updated_at, correlated_alert_count = u.alert_count, \
             affected_services = ARRAY(SELECT jsonb_array_elements_text(u.services)), \
             firing_alert_count = u.firing, severity = u.severity, \
             firing_by_severity = ARRAY(SELECT jsonb_array_elements_text(u.by_severity)::int4) \
         FROM unnest($1::uuid[], $2::text[], $3::timestamp[], $4::timestamp[], $5::int4[], \
                     $6::jsonb[], $7::int4[], $8::text[], $9::jsonb[]) \
              AS u(id, status, resolved_at, updated_at, alert_count, services, firing, \
                   severity, by_severity) \
         WHERE i.id = u.id",
    )
    .into_boxed()
    .bind::<Array<SqlUuid>, _>(&ids);
    rows.bind(query).execute(conn).await.map(drop)
}

/// The mutable columns of alert rows, as one array per column.
struct AlertColumns {
    statuses: Vec<&'static str>,
    incident_ids: Vec<Option<Uuid>>,
    resolved_at: Vec<Option<NaiveDateTime>>,
    last_seen_at: Vec<NaiveDateTime>,
    epochs: Vec<i64>,
    sequences: Vec<i64>,
    suppressed_by: Vec<Option<Uuid>>,
    severities: Vec<&'static str>,
}

impl AlertColumns {
    /// Binds the columns as the next parameters, in this order: status, incident, resolved
    /// at, last seen at, receipt epoch, receipt sequence, the silence that kept it quiet,
    /// severity.
    fn bind<'a>(&'a self, query: Query<'a>) -> Query<'a> {
        query
            .bind::<Array<Text>, _>(&self.statuses)
            .bind::<Array<Nullable<SqlUuid>>, _>(&self.incident_ids)
            .bind::<Array<Nullable<Timestamp>>, _>(&self.resolved_at)
            .bind::<Array<Timestamp>, _>(&self.last_seen_at)
            .bind::<Array<BigInt>, _>(&self.epochs)
            .bind::<Array<BigInt>, _>(&self.sequences)
            .bind::<Array<Nullable<SqlUuid>>, _>(&self.suppressed_by)
            .bind::<Array<Text>, _>(&self.severities)
    }

    fn of<'a>(rows: impl Iterator<Item = &'a AlertRow>) -> Self {
        let mut columns = AlertColumns {
            statuses: Vec::new(),
            incident_ids: Vec::new(),
            resolved_at: Vec::new(),
            last_seen_at: Vec::new(),
            epochs: Vec::new(),
            sequences: Vec::new(),
            suppressed_by: Vec::new(),
            severities: Vec::new(),
        };
        for row in rows {
            columns.statuses.push(row.status.as_str());
            columns.incident_ids.push(row.incident_id);
            columns.resolved_at.push(row.resolved_at.map(naive));
            columns.last_seen_at.push(naive(row.last_seen_at));
            columns.epochs.push(row.receipt.epoch);
            columns.sequences.push(row.receipt.sequence);
            columns.suppressed_by.push(row.suppressed_by);
            columns.severities.push(row.severity.as_str());
        }
        columns
    }
}

async fn update_alerts(conn: &mut AsyncPgConnection, plan: &Plan) -> QueryResult<()> {
    if plan.alert_updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i32> = plan.alert_updates.iter().map(|u| u.id).collect();
    let added: Vec<i32> = plan
        .alert_updates
        .iter()
        .map(|u| u.added_occurrences)
        .collect();
    let rows = AlertColumns::of(plan.alert_updates.iter().map(|u| &u.row));
    let query = diesel::sql_query(
        "UPDATE alerts a SET status = u.status, incident_id = u.incident_id, \
             resolved_at = u.resolved_at, last_seen_at = u.last_seen_at, \
             occurrence_count = a.occurrence_count + u.added, \
             receipt_epoch = u.epoch, receipt_sequence = u.sequence, \
             suppressed_by = u.suppressed_by, severity = u.severity \
         FROM unnest($1::int4[], $2::int4[], $3::text[], $4::uuid[], $5::timestamp[], \
                     $6::timestamp[], $7::int8[], $8::int8[], $9::uuid[], $10::text[]) \
              AS u(id, added, status, incident_id, resolved_at, last_seen_at, epoch, sequence, \
                   suppressed_by, severity) \
         WHERE a.id = u.id",
    )
    .into_boxed()
    .bind::<Array<Integer>, _>(&ids)
    .bind::<Array<Integer>, _>(&added);
    rows.bind(query).execute(conn).await.map(drop)
}

async fn insert_alerts(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
    written: &Written,
) -> QueryResult<()> {
    if plan.new_alerts.is_empty() {
        return Ok(());
    }
    // Each delivery's raw payload is sent once, however many of its alerts are new; alerts
    // name theirs by position (1-based, as SQL arrays count).
    let mut payloads: Vec<&str> = Vec::new();
    let mut payloads_received: Vec<NaiveDateTime> = Vec::new();
    let mut payload_of: Vec<Option<i32>> = vec![None; arrivals.len()];
    let (mut sources, mut fingerprints) = (Vec::new(), Vec::new());
    let (mut titles, mut services, mut environments) = (Vec::new(), Vec::new(), Vec::new());
    let (mut labels, mut urls, mut started) = (Vec::new(), Vec::new(), Vec::new());
    let (mut received, mut occurrences, mut payload_positions) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut descriptions, mut runbooks) = (Vec::new(), Vec::new());
    for new in &plan.new_alerts {
        let batch = arrivals[new.arrival].batch;
        let alert = &batch.alerts[new.alert_index];
        let position = *payload_of[new.arrival].get_or_insert_with(|| {
            payloads.push(batch.raw_payload.get());
            payloads_received.push(naive(batch.received_at));
            payloads.len() as i32
        });
        sources.push(alert.source_type.as_str());
        fingerprints.push(alert.fingerprint.as_str());
        titles.push(alert.title.as_str());
        services.push(alert.service.as_deref());
        environments.push(alert.environment.as_deref());
        labels.push(serde_json::to_value(&alert.labels).expect("a string map always serializes"));
        urls.push(alert.url.as_deref());
        descriptions.push(alert.description.as_deref());
        runbooks.push(alert.runbook_url.as_deref());
        started.push(naive(alert.started_at));
        received.push(naive(batch.received_at));
        occurrences.push(new.occurrence_count);
        payload_positions.push(position);
    }
    let rows = AlertColumns::of(plan.new_alerts.iter().map(|n| &n.row));
    // The bodies are stored first, once each, with ids drawn in the same statement (a CTE
    // with `nextval` runs once), and the alerts reference theirs by position.
    let query = diesel::sql_query(
        "WITH payloads AS ( \
             SELECT nextval(pg_get_serial_sequence('raw_payloads', 'id')) AS id, p.body, \
                    p.received_at, p.position \
             FROM unnest($22::text[], $23::timestamp[]) WITH ORDINALITY \
                  AS p(body, received_at, position)), \
         stored AS ( \
             INSERT INTO raw_payloads (id, user_id, received_at, payload) \
             SELECT id, $1, received_at, body::jsonb FROM payloads) \
         INSERT INTO alerts (id, user_id, source_type, fingerprint, severity, title, service, \
             environment, labels, url, started_at, received_at, occurrence_count, \
             raw_payload_id, status, incident_id, resolved_at, last_seen_at, receipt_epoch, \
             receipt_sequence, suppressed_by, description, runbook_url) \
         SELECT n.id, $1, n.source_type, n.fingerprint, n.severity, n.title, n.service, \
                n.environment, n.labels, n.url, n.started_at, n.received_at, n.occurrences, \
                p.id, n.status, n.incident_id, n.resolved_at, n.last_seen_at, n.epoch, \
                n.sequence, n.suppressed_by, n.description, n.runbook_url \
         FROM unnest($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::jsonb[], $9::text[], $10::timestamp[], $11::timestamp[], \
                     $12::int4[], $13::int4[], $14::text[], $15::uuid[], $16::timestamp[], \
                     $17::timestamp[], $18::int8[], $19::int8[], $20::uuid[], $21::text[], \
                     $24::text[], $25::text[]) \
              AS n(id, source_type, fingerprint, title, service, environment, \
                   labels, url, started_at, received_at, occurrences, payload_position, \
                   status, incident_id, resolved_at, last_seen_at, epoch, sequence, \
                   suppressed_by, severity, description, runbook_url) \
         JOIN payloads p ON p.position = n.payload_position",
    )
    .into_boxed()
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Integer>, _>(&written.alert_ids)
    .bind::<Array<Text>, _>(&sources)
    .bind::<Array<Text>, _>(&fingerprints)
    .bind::<Array<Text>, _>(&titles)
    .bind::<Array<Nullable<Text>>, _>(&services)
    .bind::<Array<Nullable<Text>>, _>(&environments)
    .bind::<Array<Jsonb>, _>(&labels)
    .bind::<Array<Nullable<Text>>, _>(&urls)
    .bind::<Array<Timestamp>, _>(&started)
    .bind::<Array<Timestamp>, _>(&received)
    .bind::<Array<Integer>, _>(&occurrences)
    .bind::<Array<Integer>, _>(&payload_positions);
    rows.bind(query)
        .bind::<Array<Text>, _>(&payloads)
        .bind::<Array<Timestamp>, _>(&payloads_received)
        .bind::<Array<Nullable<Text>>, _>(&descriptions)
        .bind::<Array<Nullable<Text>>, _>(&runbooks)
        .execute(conn)
        .await
        .map(drop)
}

async fn insert_links(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    written: &Written,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if plan.links.is_empty() {
        return Ok(());
    }
    let incidents: Vec<Uuid> = plan.links.iter().map(|l| l.incident_id).collect();
    let alerts: Vec<i32> = plan
        .links
        .iter()
        .map(|l| written.alert_id(l.alert))
        .collect();
    let strategies: Vec<&str> = plan.links.iter().map(|l| l.strategy).collect();
    let scores: Vec<f32> = plan.links.iter().map(|l| l.score).collect();
    let reasons: Vec<&str> = plan.links.iter().map(|l| l.reason.as_str()).collect();
    diesel::sql_query(
        "INSERT INTO incident_alerts (incident_id, alert_id, strategy, score, reason, attached_at) \
         SELECT l.incident_id, l.alert_id, l.strategy, l.score, l.reason, $6 \
         FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::real[], $5::text[]) \
              AS l(incident_id, alert_id, strategy, score, reason)",
    )
    .bind::<Array<SqlUuid>, _>(&incidents)
    .bind::<Array<Integer>, _>(&alerts)
    .bind::<Array<Text>, _>(&strategies)
    .bind::<Array<Float4>, _>(&scores)
    .bind::<Array<Text>, _>(&reasons)
    .bind::<Timestamp, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

async fn insert_events(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    written: &Written,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if plan.events.is_empty() {
        return Ok(());
    }
    let incidents: Vec<Uuid> = plan.events.iter().map(|e| e.incident_id).collect();
    let kinds: Vec<&str> = plan.events.iter().map(|e| e.detail.kind()).collect();
    let details: Vec<serde_json::Value> = plan
        .events
        .iter()
        .map(|e| e.detail.to_json(|alert| written.alert_id(alert)))
        .collect();
    // An event a delivery caused is republished with that delivery's redelivery (its id is in
    // `alert_deliveries`, as is the incident it opened), and one that publishes nothing needs
    // no relay: both count as published. The rest (auto-resolve's, and incidents a silence's
    // end opened) wait in the outbox until their publisher marks them, or the relay publishes
    // them.
    let covered: std::collections::HashSet<usize> = plan
        .processed
        .iter()
        .flat_map(|processed| processed.events.iter().copied())
        .collect();
    let opened_by_delivery: std::collections::HashSet<Uuid> = plan
        .processed
        .iter()
        .filter_map(|processed| processed.opened_incident)
        .collect();
    let published: Vec<bool> = plan
        .events
        .iter()
        .enumerate()
        .map(|(index, e)| match e.detail {
            EventDetail::Created { .. } => opened_by_delivery.contains(&e.incident_id),
            _ => covered.contains(&index) || e.detail.published_change().is_none(),
        })
        .collect();
    diesel::sql_query(
        "INSERT INTO incident_events (id, incident_id, kind, detail, created_at, published) \
         SELECT e.id, e.incident_id, e.kind, e.detail, $5, e.published \
         FROM unnest($1::int8[], $2::uuid[], $3::text[], $4::jsonb[], $6::bool[]) \
              AS e(id, incident_id, kind, detail, published)",
    )
    .bind::<Array<BigInt>, _>(&written.event_ids)
    .bind::<Array<SqlUuid>, _>(&incidents)
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Jsonb>, _>(&details)
    .bind::<Timestamp, _>(now)
    .bind::<Array<diesel::sql_types::Bool>, _>(&published)
    .execute(conn)
    .await
    .map(drop)
}

async fn insert_thoughts(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if plan.thoughts.is_empty() {
        return Ok(());
    }
    let incidents: Vec<Uuid> = plan.thoughts.iter().map(|t| t.incident_id).collect();
    let kinds: Vec<&str> = plan.thoughts.iter().map(|t| t.kind).collect();
    let contents: Vec<&str> = plan.thoughts.iter().map(|t| t.content.as_str()).collect();
    diesel::sql_query(
        "INSERT INTO incident_thoughts (incident_id, kind, content, created_at) \
         SELECT t.incident_id, t.kind, t.content, $4 \
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(incident_id, kind, content)",
    )
    .bind::<Array<SqlUuid>, _>(&incidents)
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Text>, _>(&contents)
    .bind::<Timestamp, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Records what each alert of each new delivery did, so a redelivery finds it done.
async fn insert_processed(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
    written: &Written,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if plan.processed.is_empty() {
        return Ok(());
    }
    let deliveries: Vec<&str> = plan
        .processed
        .iter()
        .map(|p| arrivals[p.arrival].batch.delivery_id.as_str())
        .collect();
    let indexes: Vec<i32> = plan
        .processed
        .iter()
        .map(|p| i32::try_from(p.alert_index).expect("a delivery holds fewer than 2^31 alerts"))
        .collect();
    let alerts: Vec<i32> = plan
        .processed
        .iter()
        .map(|p| written.alert_id(p.alert))
        .collect();
    let opened: Vec<Option<Uuid>> = plan.processed.iter().map(|p| p.opened_incident).collect();
    let events: Vec<serde_json::Value> = plan
        .processed
        .iter()
        .map(|p| {
            serde_json::Value::from(
                p.events
                    .iter()
                    .map(|&index| written.event_ids[index])
                    .collect::<Vec<i64>>(),
            )
        })
        .collect();
    diesel::sql_query(
        "INSERT INTO alert_deliveries (user_id, delivery_id, alert_index, alert_id, \
             opened_incident_id, event_ids, processed_at) \
         SELECT $1, p.delivery_id, p.alert_index, p.alert_id, p.opened, \
                ARRAY(SELECT jsonb_array_elements_text(p.events)::int8), $7 \
         FROM unnest($2::text[], $3::int4[], $4::int4[], $5::uuid[], $6::jsonb[]) \
              AS p(delivery_id, alert_index, alert_id, opened, events)",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Text>, _>(&deliveries)
    .bind::<Array<Integer>, _>(&indexes)
    .bind::<Array<Integer>, _>(&alerts)
    .bind::<Array<Nullable<SqlUuid>>, _>(&opened)
    .bind::<Array<Jsonb>, _>(&events)
    .bind::<Timestamp, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Adds what became of each processed notification to the user's hourly noise figures
/// (`noise_counts`), one upsert for the whole plan.
async fn count_noise(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
) -> QueryResult<()> {
    let mut counts: std::collections::BTreeMap<(NaiveDateTime, &str, &str, &str), i64> =
        std::collections::BTreeMap::new();
    for processed in &plan.processed {
        let batch = arrivals[processed.arrival].batch;
        let alert = &batch.alerts[processed.alert_index];
        let hour = batch
            .received_at
            .duration_trunc(chrono::TimeDelta::hours(1))
            .unwrap_or(batch.received_at)
            .naive_utc();
        let key = (
            hour,
            alert.source_type.as_str(),
            alert.service.as_deref().unwrap_or(""),
            processed.outcome.as_str(),
        );
        *counts.entry(key).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    let (mut hours, mut sources, mut services, mut outcomes, mut numbers) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((hour, source, service, outcome), count) in counts {
        hours.push(hour);
        sources.push(source);
        services.push(service);
        outcomes.push(outcome);
        numbers.push(count);
    }
    diesel::sql_query(
        "INSERT INTO noise_counts (user_id, hour, source_type, service, outcome, count) \
         SELECT $1, n.hour, n.source_type, n.service, n.outcome, n.count \
         FROM unnest($2::timestamp[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
              AS n(hour, source_type, service, outcome, count) \
         ON CONFLICT (user_id, hour, source_type, service, outcome) \
         DO UPDATE SET count = noise_counts.count + EXCLUDED.count",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Timestamp>, _>(&hours)
    .bind::<Array<Text>, _>(&sources)
    .bind::<Array<Text>, _>(&services)
    .bind::<Array<Text>, _>(&outcomes)
    .bind::<Array<BigInt>, _>(&numbers)
    .execute(conn)
    .await
    .map(drop)
}
