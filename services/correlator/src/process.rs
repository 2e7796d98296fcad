//! One delivery (its alerts and any deployment): stored in one transaction, events published
//! after the commit, ack last.
//!
//! A crash anywhere is safe. Before the commit nothing happened and the redelivery starts
//! over. After the commit the delivery is recorded in `alert_deliveries` with the incident
//! events it caused, so the redelivery finds its work done and only republishes them; JetStream
//! drops the duplicates by their `Nats-Msg-Id`.

use std::sync::Arc;

use aurora_bus::{Bus, HandlerError, IncidentSubject};
use aurora_db::deliveries::{self, ProcessedAlert};
use aurora_db::incidents::{self, Attachment};
use aurora_db::{
    AsyncConnection, AsyncPgConnection, DbPool, QueryError, alerts, analysis, deployments, events,
    time,
};
use aurora_domain::{
    AlertBatch, AlertStatus, IncidentChange, IncidentChanged, IncidentCreated, NormalizedAlert,
    UserId,
};
use chrono::{NaiveDateTime, TimeDelta};
use uuid::Uuid;

use crate::correlate;
use crate::dedup::{self, Dedup};
use crate::lifecycle::{self, History};
use crate::open_incident;
use crate::scoring::Rules;

/// What processing a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// True when the delivery had been processed before (a redelivery).
    pub already_processed: bool,
    /// The incidents its alerts opened.
    pub opened_incidents: Vec<Uuid>,
    /// The incident events it published (correlated, resolved, reopened …).
    pub changes: Vec<i64>,
}

/// Stores deliveries, correlates alerts, and opens, resolves and reopens incidents.
#[derive(Clone)]
pub struct Correlator {
    pool: DbPool,
    bus: Bus,
    rules: Arc<Rules>,
}

impl Correlator {
    /// A correlator over these connections and rules.
    pub fn new(pool: DbPool, bus: Bus, rules: Arc<Rules>) -> Self {
        Self { pool, bus, rules }
    }

    /// The rules it applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Its database pool.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Processes one delivery and publishes its events; the caller acks after `Ok`.
    pub async fn handle(&self, batch: &AlertBatch) -> Result<DeliveryOutcome, HandlerError> {
        let (already_processed, processed) = self.store(batch).await?;
        let opened_incidents: Vec<Uuid> = processed
            .iter()
            .filter_map(|alert| alert.opened_incident_id)
            .collect();
        let changes: Vec<i64> = processed
            .iter()
            .flat_map(|alert| alert.event_ids.iter().copied())
            .collect();
        for incident_id in &opened_incidents {
            self.publish_created(*incident_id).await?;
        }
        self.publish_changes(&changes).await?;
        Ok(DeliveryOutcome {
            already_processed,
            opened_incidents,
            changes,
        })
    }

    /// The database half: each alert deduplicated, correlated or opened, and any deployment
    /// stored, in one transaction under the user's lock. Answers whether the delivery had been
    /// stored before, and what each alert did.
    pub async fn store(
        &self,
        batch: &AlertBatch,
    ) -> Result<(bool, Vec<ProcessedAlert>), HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        conn.transaction(async |conn| {
            aurora_db::lock_user(conn, &batch.user_id).await?;
            let done = deliveries::find(conn, &batch.user_id, &batch.delivery_id).await?;
            if !done.is_empty() {
                return Ok((true, done));
            }
            let received_at = batch.received_at.naive_utc();
            let mut processed = Vec::with_capacity(batch.alerts.len());
            for (index, alert) in batch.alerts.iter().enumerate() {
                let mut entry = self.apply(conn, batch, alert, received_at).await?;
                entry.alert_index =
                    i32::try_from(index).expect("a delivery holds fewer than 2^31 alerts");
                deliveries::record(conn, &batch.user_id, &batch.delivery_id, &entry).await?;
                processed.push(entry);
            }
            if let Some(deployment) = &batch.deployment {
                // Idempotent on its own (per build, else per delivery): a redelivery of a
                // deployment-only delivery, which records no alerts, stores nothing twice.
                deployments::record(
                    conn,
                    &batch.user_id,
                    &batch.delivery_id,
                    deployment,
                    received_at,
                    &batch.raw_payload,
                )
                .await?;
            }
            Ok::<_, QueryError>((false, processed))
        })
        .await
        .map_err(classify)
    }

    /// One alert: a repeat or resolve of an open alert, a flap, or a new alert that joins an
    /// incident or opens one.
    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        batch: &AlertBatch,
        alert: &NormalizedAlert,
        received_at: NaiveDateTime,
    ) -> Result<ProcessedAlert, QueryError> {
        let user = &batch.user_id;
        let now = time::now();
        let mut entry = ProcessedAlert {
            alert_index: 0,
            alert_id: 0,
            opened_incident_id: None,
            event_ids: Vec::new(),
        };
        match dedup::apply(conn, user, alert, received_at).await? {
            Dedup::Repeat(open) => entry.alert_id = open.id,
            Dedup::Resolved(resolved) => {
                entry.alert_id = resolved.id;
                if let Some(incident_id) = resolved.incident_id {
                    let policy = self.rules.settings.resolve_policy;
                    entry.event_ids.extend(
                        lifecycle::after_alert_resolved(conn, incident_id, policy, now).await?,
                    );
                }
            }
            // A resolve for an alert Aurora never saw open is kept, but is no incident.
            Dedup::New if alert.status == AlertStatus::Resolved => {
                entry.alert_id = alerts::insert(conn, user, alert, received_at, &batch.raw_payload)
                    .await?
                    .id;
            }
            Dedup::New => {
                self.apply_firing(conn, batch, alert, received_at, now, &mut entry)
                    .await?
            }
        }
        Ok(entry)
    }

    async fn apply_firing(
        &self,
        conn: &mut AsyncPgConnection,
        batch: &AlertBatch,
        alert: &NormalizedAlert,
        received_at: NaiveDateTime,
        now: NaiveDateTime,
        entry: &mut ProcessedAlert,
    ) -> Result<(), QueryError> {
        let user = &batch.user_id;
        let flap_window = TimeDelta::seconds(self.rules.settings.flap_window_secs as i64);
        let earlier = match lifecycle::history(conn, user, alert, flap_window, now).await? {
            History::Flap {
                alert: previous,
                incident,
            } => {
                let (refired, reopened) =
                    lifecycle::refire(conn, &previous, &incident, now).await?;
                entry.alert_id = refired.id;
                entry.event_ids.extend(reopened);
                return Ok(());
            }
            History::Recurrence { earlier } => Some(earlier),
            History::New => None,
        };
        let stored = alerts::insert(conn, user, alert, received_at, &batch.raw_payload).await?;
        entry.alert_id = stored.id;
        // It may join an open incident; a resolved one never takes it (see `lifecycle`).
        if let Some(found) =
            correlate::best_match(conn, &self.rules, user, alert, batch.received_at).await?
        {
            let strongest = &found.verdict.strongest;
            let attachment = Attachment {
                strategy: strongest.strategy.as_str(),
                score: found.verdict.combined as f32,
                reason: &strongest.reason,
            };
            incidents::attach(conn, found.incident.id, &stored, &attachment, now).await?;
            let detail = serde_json::json!({
                "alert_id": stored.id,
                "strategy": attachment.strategy,
                "score": attachment.score,
                "reason": attachment.reason,
            });
            entry.event_ids.push(
                events::record(conn, found.incident.id, "correlated", detail)
                    .await?
                    .id,
            );
            follow_up(conn, &found.incident, alert, &strongest.reason).await?;
            return Ok(());
        }
        let incident = open_incident::open(conn, &stored, now).await?;
        if let Some(earlier) = earlier {
            lifecycle::link_recurrence(conn, earlier, &incident).await?;
        }
        entry.opened_incident_id = Some(incident.id);
        Ok(())
    }

    async fn publish_created(&self, incident_id: Uuid) -> Result<(), HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let incident = incidents::get(&mut conn, incident_id)
            .await
            .map_err(classify)?;
        drop(conn);
        let event = IncidentCreated {
            incident_id,
            user_id: UserId::parse(incident.user_id)
                .map_err(|err| HandlerError::Poison(err.to_string()))?,
            source_alert_id: incident.source_alert_id,
            source_type: incident.source_type.parse().map_err(
                |err: aurora_domain::ParseEnumError| HandlerError::Poison(err.to_string()),
            )?,
            created_at: time::to_utc(incident.created_at.unwrap_or_else(time::now)),
        };
        let subject = self
            .bus
            .topology()
            .incident_subject(IncidentSubject::Created);
        self.bus
            .publish(subject, &event.message_id(), &event)
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        tracing::info!(%incident_id, "incident opened");
        Ok(())
    }

    /// Publishes incident events recorded in `incident_events`, each on the subject of its
    /// change, with a `Nats-Msg-Id` from the event row.
    pub async fn publish_changes(&self, event_ids: &[i64]) -> Result<(), HandlerError> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        for event in events::by_ids(&mut conn, event_ids)
            .await
            .map_err(classify)?
        {
            let Some(change) = change_of(&event.kind) else {
                continue;
            };
            let incident = incidents::get(&mut conn, event.incident_id)
                .await
                .map_err(classify)?;
            let message = IncidentChanged {
                change,
                incident_id: event.incident_id,
                user_id: UserId::parse(incident.user_id)
                    .map_err(|err| HandlerError::Poison(err.to_string()))?,
                event_id: event.id,
                occurred_at: time::to_utc(event.created_at),
            };
            self.bus
                .publish_incident_change(&message)
                .await
                .map_err(|err| HandlerError::Transient(err.to_string()))?;
        }
        Ok(())
    }
}

/// An alert that joins an incident whose analysis already ran (or is running) gets a
/// follow-up thought, so the people reading the summary know it does not account for it.
async fn follow_up(
    conn: &mut AsyncPgConnection,
    incident: &incidents::Incident,
    alert: &NormalizedAlert,
    reason: &str,
) -> Result<(), QueryError> {
    let when = match incident.aurora_status.as_deref() {
        Some("complete") => "after the analysis",
        Some("running") => "while the analysis ran",
        _ => return Ok(()),
    };
    let thought = format!(
        "Follow-up: \"{}\" from {} correlated {when} ({reason}); the summary does not account for it.",
        alert.title,
        alert.source_type.display_name()
    );
    analysis::add_thought(conn, incident.id, "follow_up", &thought).await
}

/// Which published change an `incident_events` kind is; `None` for timeline-only events.
pub fn change_of(kind: &str) -> Option<IncidentChange> {
    match kind {
        "correlated" => Some(IncidentChange::Correlated),
        "resolved" => Some(IncidentChange::Resolved),
        "reopened" | "status_changed" | "updated" => Some(IncidentChange::Updated),
        "merged" | "merged_into" => Some(IncidentChange::Merged),
        _ => None,
    }
}

/// A database error that retrying cannot fix (the delivery names a user that does not exist)
/// is poison; anything else (connection lost, timeout, serialization) is worth a retry.
pub(crate) fn classify(err: QueryError) -> HandlerError {
    use aurora_db::DatabaseErrorKind;
    use aurora_db::QueryError::DatabaseError;
    match &err {
        DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::CheckViolation,
            _,
        ) => HandlerError::Poison(err.to_string()),
        _ => HandlerError::Transient(err.to_string()),
    }
}
