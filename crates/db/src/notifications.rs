//! The notifier's records: where each incident is announced (`notification_targets`) and what
//! is still to be sent there (`notification_deliveries`).
//!
//! A delivery is recorded once per (incident, destination, action, event), so a redelivered
//! event, a restart or a second notifier replica cannot record it twice. The rows of one
//! incident and destination are sent one at a time in id order ([`claim`]): an update never
//! overtakes the message it updates. One sends at a time because the claim leases the
//! destination's `notification_targets` row, a compare-and-set on one row that two notifiers
//! cannot both win, whatever order their rows were committed in. Leases are judged by
//! PostgreSQL's clock alone, as the analyses' are, and a delivery is settled only by the attempt
//! that holds it (its `attempts` count), so one whose lease lapsed cannot settle another's.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::QueryResult;

/// A destination a routing rule chose for an incident.
#[derive(Debug, Clone)]
pub struct NewTarget {
    /// The incident.
    pub incident_id: Uuid,
    /// `slack:<channel>`, `pagerduty:<rule>` or `webhook:<endpoint>`.
    pub target: String,
    /// The delivery loop that serves it.
    pub endpoint: String,
    /// The rule's name.
    pub rule: String,
    /// Nothing is sent before the incident is this old.
    pub notify_after: Duration,
}

/// Something to send to a destination because of an incident event.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The incident.
    pub incident_id: Uuid,
    /// Its destination (a target recorded for the incident).
    pub target: String,
    /// The delivery loop that serves it.
    pub endpoint: String,
    /// `sync`, `summary` or `event`.
    pub action: &'static str,
    /// `created`, or the `incident_events` id.
    pub event_key: String,
    /// `incident.created`, `incident.correlated` …
    pub event_type: String,
}

/// A row of `notification_targets`: a destination and what it already holds.
#[derive(Debug, Clone, QueryableByName)]
pub struct Target {
    /// The incident.
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    /// The destination.
    #[diesel(sql_type = Text)]
    pub target: String,
    /// The rule that chose it.
    #[diesel(sql_type = Text)]
    pub rule: String,
    /// Something was sent there.
    #[diesel(sql_type = Bool)]
    pub announced: bool,
    /// Seconds from the incident's opening to when it may be announced.
    #[diesel(sql_type = Double)]
    pub notify_after_secs: f64,
    /// Slack: the channel of the incident's message.
    #[diesel(sql_type = Nullable<Text>)]
    pub slack_channel: Option<String>,
    /// Slack: the message's `ts`.
    #[diesel(sql_type = Nullable<Text>)]
    pub slack_ts: Option<String>,
    /// PagerDuty: `trigger` or `resolve`, as last sent.
    #[diesel(sql_type = Nullable<Text>)]
    pub pagerduty_state: Option<String>,
}

/// A claimed delivery: the caller's to send until its lease ends.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    /// Row id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The incident.
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    /// The destination.
    #[diesel(sql_type = Text)]
    pub target: String,
    /// `sync`, `summary` or `event`.
    #[diesel(sql_type = Text)]
    pub action: String,
    /// `created`, or the `incident_events` id.
    #[diesel(sql_type = Text)]
    pub event_key: String,
    /// The webhook's event type.
    #[diesel(sql_type = Text)]
    pub event_type: String,
    /// Attempts so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// When the first attempt that may have reached the destination without an answer began
    /// (its notifier died, or it timed out): look for what it sent before sending again,
    /// where the destination allows it.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub in_doubt_since: Option<DateTime<Utc>>,
}

/// A delivery that failed for good, for people to look at and retry.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct DeadDelivery {
    /// Row id (`aurora notifications retry ID`).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The incident.
    #[diesel(sql_type = SqlUuid)]
    pub incident_id: Uuid,
    /// The destination.
    #[diesel(sql_type = Text)]
    pub target: String,
    /// What was to be sent.
    #[diesel(sql_type = Text)]
    pub action: String,
    /// The event that caused it.
    #[diesel(sql_type = Text)]
    pub event_type: String,
    /// Attempts made.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Why it failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// When it was given up, RFC 3339.
    #[diesel(sql_type = Text)]
    pub finished_at: String,
}

/// Records the targets not yet recorded and the deliveries not yet recorded (both are only
/// ever added); answers how many deliveries are new. A delivery to a destination that has
/// announced nothing yet is first due when its rule's delay has passed.
pub async fn record(
    conn: &mut AsyncPgConnection,
    targets: &[NewTarget],
    deliveries: &[NewDelivery],
) -> QueryResult<usize> {
    if !targets.is_empty() {
        diesel::sql_query(
            "INSERT INTO notification_targets (incident_id, target, endpoint, rule, announce_after) \
             SELECT t.incident_id, t.target, t.endpoint, t.rule, \
                    (coalesce(i.created_at, i.started_at) AT TIME ZONE 'UTC') + make_interval(secs => t.delay) \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
                  AS t(incident_id, target, endpoint, rule, delay) \
             JOIN incidents i ON i.id = t.incident_id \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(targets.iter().map(|t| t.incident_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(targets.iter().map(|t| t.target.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(targets.iter().map(|t| t.endpoint.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(targets.iter().map(|t| t.rule.as_str()).collect::<Vec<_>>())
        .bind::<Array<Double>, _>(
            targets
                .iter()
                .map(|t| t.notify_after.as_secs_f64())
                .collect::<Vec<_>>(),
        )
        .execute(conn)
        .await?;
    }
    if deliveries.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "INSERT INTO notification_deliveries \
             (incident_id, target, endpoint, action, event_key, event_type, next_attempt_at) \
         SELECT d.incident_id, d.target, d.endpoint, d.action, d.event_key, d.event_type, \
                CASE WHEN t.announced THEN now() ELSE greatest(now(), t.announce_after) END \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
              WITH ORDINALITY AS d(incident_id, target, endpoint, action, event_key, event_type, n) \
         JOIN notification_targets t ON t.incident_id = d.incident_id AND t.target = d.target \
         ORDER BY d.n \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(deliveries.iter().map(|d| d.incident_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(deliveries.iter().map(|d| d.target.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(deliveries.iter().map(|d| d.endpoint.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(deliveries.iter().map(|d| d.action).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(deliveries.iter().map(|d| d.event_key.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(deliveries.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>())
    .execute(conn)
    .await
}

/// Claims up to `limit` due deliveries of `endpoint` for `lease`: of each incident and
/// destination only the oldest pending one, once it is due, when no other notifier is sending
/// to that destination for that incident (and, for a `sync`, once the destination's hold has
/// passed).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    endpoint: &str,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "WITH candidates AS ( \
             SELECT h.id, h.incident_id, h.target FROM ( \
                 SELECT DISTINCT ON (incident_id, target) id, incident_id, target, action, \
                        next_attempt_at \
                 FROM notification_deliveries \
                 WHERE endpoint = $1 AND state = 'pending' \
                 ORDER BY incident_id, target, id) h \
             JOIN notification_targets t ON t.incident_id = h.incident_id AND t.target = h.target \
             WHERE h.next_attempt_at <= now() \
               AND (t.locked_until IS NULL OR t.locked_until < now()) \
               AND (h.action <> 'sync' OR t.sync_after IS NULL OR t.sync_after <= now()) \
             ORDER BY h.next_attempt_at, h.id \
             LIMIT $2 \
             FOR UPDATE OF t SKIP LOCKED), \
         leased AS ( \
             UPDATE notification_targets t SET locked_until = now() + make_interval(secs => $3) \
             FROM candidates c \
             WHERE t.incident_id = c.incident_id AND t.target = c.target \
               AND (t.locked_until IS NULL OR t.locked_until < now()) \
             RETURNING c.id) \
         UPDATE notification_deliveries d \
         SET attempts = d.attempts + 1, attempt_started_at = now(), \
             in_doubt_since = coalesce(d.in_doubt_since, d.attempt_started_at) \
         FROM leased WHERE d.id = leased.id \
         RETURNING d.id, d.incident_id, d.target, d.action, d.event_key, d.event_type, \
                   d.attempts, d.in_doubt_since",
    )
    .bind::<Text, _>(endpoint)
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)
    .await
}

/// The newest pending delivery (of `action`, when given) to an incident's destination: read
/// before the incident's state, so a delivery that succeeds covers every one up to it.
pub async fn newest_pending(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
    action: Option<&str>,
) -> QueryResult<Option<i64>> {
    use crate::schema::notification_deliveries as d;
    let mut query = d::table
        .filter(d::incident_id.eq(incident_id))
        .filter(d::target.eq(target))
        .filter(d::state.eq("pending"))
        .into_boxed();
    if let Some(action) = action {
        query = query.filter(d::action.eq(action));
    }
    query.select(diesel::dsl::max(d::id)).first(conn).await
}

/// Marks a claimed delivery sent, and the pending deliveries of the same action to the same
/// destination up to `covers` (they asked for the state this one sent) `coalesced`. With
/// `hold`, the destination's next `sync` waits at least that long, gathering the changes
/// meanwhile into one send (a Slack message is updated every few seconds at most during a
/// storm, not once per alert).
pub async fn delivered(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    covers: Option<i64>,
    hold: Option<Duration>,
) -> QueryResult<()> {
    conn.transaction(async |conn| {
        if finish(conn, claimed, "delivered", None, hold).await?
            && let Some(covers) = covers
        {
            settle_pending(conn, claimed, covers, "coalesced", Some(&claimed.action)).await?;
        }
        Ok(())
    })
    .await
}

/// Marks a claimed delivery, and every pending one to the same destination up to `covers`,
/// `skipped` for `reason` (the incident resolved before it was announced).
pub async fn skipped(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    covers: Option<i64>,
    reason: &str,
) -> QueryResult<()> {
    conn.transaction(async |conn| {
        if finish(conn, claimed, "skipped", Some(reason), None).await? {
            settle_pending(conn, claimed, covers.unwrap_or(claimed.id), "skipped", None).await?;
        }
        Ok(())
    })
    .await
}

/// Marks a claimed delivery failed for good.
pub async fn dead(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    reason: &str,
) -> QueryResult<()> {
    finish(conn, claimed, "dead", Some(reason), None)
        .await
        .map(drop)
}

/// Releases a claimed delivery for another attempt after `delay`; `maybe_sent` puts it in
/// doubt (the attempt may have reached the destination), so every later one looks first.
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    delay: Duration,
    reason: &str,
    maybe_sent: bool,
) -> QueryResult<()> {
    diesel::sql_query(
        "WITH released AS ( \
             UPDATE notification_deliveries \
             SET next_attempt_at = now() + make_interval(secs => $3), attempt_started_at = NULL, \
                 in_doubt_since = CASE WHEN $5 THEN coalesce(in_doubt_since, attempt_started_at) \
                                       ELSE in_doubt_since END, \
                 last_error = $4 \
             WHERE id = $1 AND state = 'pending' AND attempts = $2 \
             RETURNING incident_id, target) \
         UPDATE notification_targets t SET locked_until = NULL \
         FROM released r WHERE t.incident_id = r.incident_id AND t.target = r.target",
    )
    .bind::<BigInt, _>(claimed.id)
    .bind::<Integer, _>(claimed.attempts)
    .bind::<Double, _>(delay.as_secs_f64())
    .bind::<Text, _>(reason)
    .bind::<Bool, _>(maybe_sent)
    .execute(conn)
    .await
    .map(drop)
}

/// Ends the claimed attempt in `state` and releases its destination (holding its next `sync`
/// for `hold`); `false` when the attempt no longer held the delivery (its lease lapsed and
/// another attempt claimed it), which then changes nothing.
async fn finish(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    state: &str,
    reason: Option<&str>,
    hold: Option<Duration>,
) -> QueryResult<bool> {
    diesel::sql_query(
        "WITH done AS ( \
             UPDATE notification_deliveries \
             SET state = $3, finished_at = now(), attempt_started_at = NULL, \
                 in_doubt_since = CASE WHEN $3 = 'delivered' THEN NULL ELSE in_doubt_since END, \
                 last_error = coalesce($4, last_error) \
             WHERE id = $1 AND state = 'pending' AND attempts = $2 \
             RETURNING incident_id, target) \
         UPDATE notification_targets t \
         SET locked_until = NULL, \
             sync_after = CASE WHEN $5::float8 IS NULL THEN t.sync_after \
                               ELSE now() + make_interval(secs => $5) END \
         FROM done WHERE t.incident_id = done.incident_id AND t.target = done.target",
    )
    .bind::<BigInt, _>(claimed.id)
    .bind::<Integer, _>(claimed.attempts)
    .bind::<Text, _>(state)
    .bind::<Nullable<Text>, _>(reason)
    .bind::<Nullable<Double>, _>(hold.map(|hold| hold.as_secs_f64()))
    .execute(conn)
    .await
    .map(|released| released == 1)
}

async fn settle_pending(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    through: i64,
    state: &str,
    action: Option<&str>,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE notification_deliveries \
         SET state = $4, finished_at = now() \
         WHERE incident_id = $1 AND target = $2 AND state = 'pending' AND id <= $3 \
           AND ($5::text IS NULL OR action = $5)",
    )
    .bind::<SqlUuid, _>(claimed.incident_id)
    .bind::<Text, _>(&claimed.target)
    .bind::<BigInt, _>(through)
    .bind::<Text, _>(state)
    .bind::<Nullable<Text>, _>(action)
    .execute(conn)
    .await
    .map(drop)
}

/// Fails every pending delivery of an endpoint not in `served` (its destination was removed
/// from the settings: no notifier would ever send it); answers how many.
pub async fn abandon_unserved(
    conn: &mut AsyncPgConnection,
    served: &[String],
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE notification_deliveries \
         SET state = 'dead', finished_at = now(), \
             last_error = 'no notifier sends to ' || endpoint || ' any more (removed from the settings)' \
         WHERE state = 'pending' AND NOT (endpoint = ANY($1))",
    )
    .bind::<Array<Text>, _>(served)
    .execute(conn)
    .await
}

/// An incident's destination and what it holds.
pub async fn target(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
) -> QueryResult<Option<Target>> {
    diesel::sql_query(
        "SELECT t.incident_id, t.target, t.rule, t.announced, t.slack_channel, t.slack_ts, \
                t.pagerduty_state, \
                extract(epoch FROM t.announce_after - \
                    (coalesce(i.created_at, i.started_at) AT TIME ZONE 'UTC'))::float8 AS notify_after_secs \
         FROM notification_targets t JOIN incidents i ON i.id = t.incident_id \
         WHERE t.incident_id = $1 AND t.target = $2",
    )
    .bind::<SqlUuid, _>(incident_id)
    .bind::<Text, _>(target)
    .get_result(conn)
    .await
    .optional()
}

/// The destinations recorded for these incidents (`(incident, target, endpoint)`).
pub async fn targets_of(
    conn: &mut AsyncPgConnection,
    incident_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, String, String)>> {
    use crate::schema::notification_targets as t;
    t::table
        .filter(t::incident_id.eq_any(incident_ids))
        .select((t::incident_id, t::target, t::endpoint))
        .load(conn)
        .await
}

/// The analysis' conclusion in one line (its last `conclusion` thought), once there is one.
pub async fn likely_cause(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Option<String>> {
    use crate::schema::incident_thoughts as t;
    t::table
        .filter(t::incident_id.eq(incident_id))
        .filter(t::kind.eq("conclusion"))
        .order(t::id.desc())
        .select(t::content)
        .first(conn)
        .await
        .optional()
}

/// Notes that something was sent to a destination.
pub async fn mark_announced(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
) -> QueryResult<()> {
    use crate::schema::notification_targets as t;
    diesel::update(t::table.find((incident_id, target)))
        .set(t::announced.eq(true))
        .execute(conn)
        .await
        .map(drop)
}

/// Keeps the Slack message posted for an incident at a destination; the first one an incident
/// gets is also its `slack_channel` and `slack_message_ts`, and so is one that replaces it
/// (`replaces`: the `ts` of a message that was deleted).
pub async fn set_slack_message(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
    channel: &str,
    ts: &str,
    replaces: Option<&str>,
) -> QueryResult<()> {
    use crate::schema::{incidents, notification_targets as t};
    diesel::update(t::table.find((incident_id, target)))
        .set((
            t::announced.eq(true),
            t::slack_channel.eq(channel),
            t::slack_ts.eq(ts),
        ))
        .execute(conn)
        .await?;
    diesel::update(incidents::table.find(incident_id))
        .filter(
            incidents::slack_message_ts
                .is_null()
                .or(incidents::slack_message_ts.eq(replaces)),
        )
        .set((
            incidents::slack_channel.eq(channel),
            incidents::slack_message_ts.eq(ts),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Keeps what PagerDuty was last sent for an incident (`trigger` or `resolve`).
pub async fn set_pagerduty_state(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    target: &str,
    state: &str,
) -> QueryResult<()> {
    use crate::schema::notification_targets as t;
    diesel::update(t::table.find((incident_id, target)))
        .set((t::announced.eq(true), t::pagerduty_state.eq(state)))
        .execute(conn)
        .await
        .map(drop)
}

/// Deliveries that failed for good, newest first.
pub async fn dead_deliveries(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<DeadDelivery>> {
    diesel::sql_query(
        "SELECT id, incident_id, target, action, event_type, attempts, last_error, \
                to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS finished_at \
         FROM notification_deliveries WHERE state = 'dead' \
         ORDER BY finished_at DESC, id DESC LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Makes a dead delivery pending again, due now; `false` when no dead delivery has that id.
pub async fn revive(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    diesel::sql_query(
        "UPDATE notification_deliveries \
         SET state = 'pending', attempts = 0, next_attempt_at = now(), finished_at = NULL \
         WHERE id = $1 AND state = 'dead'",
    )
    .bind::<BigInt, _>(id)
    .execute(conn)
    .await
    .map(|changed| changed == 1)
}
