//! One delivery (its alerts and any deployment): stored in one transaction, events published after the commit, ack last.
//!
//! A crash anywhere is safe. Before the commit nothing happened and the redelivery starts
//! over. After the commit the delivery is recorded in `alert_deliveries`, so the redelivery
//! finds its work done and only republishes the events, which JetStream deduplicates by their
//! `Nats-Msg-Id`.

use aurora_bus::{Bus, HandlerError, IncidentSubject};
use aurora_db::deliveries::{self, ProcessedAlert};
use aurora_db::{AsyncConnection, DbPool, QueryError, alerts, deployments, incidents, time};
use aurora_domain::{AlertBatch, AlertStatus, IncidentCreated};
use uuid::Uuid;

use crate::dedup::{self, Dedup};
use crate::open_incident;

/// What processing a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// True when the delivery had been processed before (a redelivery).
    pub already_processed: bool,
    /// The incidents its alerts opened.
    pub opened_incidents: Vec<Uuid>,
}

/// Stores deliveries and opens incidents.
#[derive(Clone)]
pub struct Correlator {
    pool: DbPool,
    bus: Bus,
}

impl Correlator {
    /// A correlator over these connections.
    pub fn new(pool: DbPool, bus: Bus) -> Self {
        Self { pool, bus }
    }

    /// Processes one delivery and publishes its events; the caller acks after `Ok`.
    pub async fn handle(&self, batch: &AlertBatch) -> Result<DeliveryOutcome, HandlerError> {
        let (already_processed, processed) = self.store(batch).await?;
        let opened_incidents: Vec<Uuid> = processed
            .iter()
            .filter_map(|alert| alert.opened_incident_id)
            .collect();
        for incident_id in &opened_incidents {
            self.publish_created(*incident_id).await?;
        }
        Ok(DeliveryOutcome {
            already_processed,
            opened_incidents,
        })
    }

    /// The database half: dedup or store each alert and open incidents, in one transaction.
    /// Answers whether the delivery had been stored before, and what each alert did.
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
                let (alert_id, opened_incident_id) =
                    match dedup::apply(conn, &batch.user_id, alert, received_at).await? {
                        Dedup::Repeat(open) | Dedup::Resolved(open) => (open.id, None),
                        Dedup::New => {
                            let stored = alerts::insert(
                                conn,
                                &batch.user_id,
                                alert,
                                received_at,
                                &batch.raw_payload,
                            )
                            .await?;
                            // A resolve for an alert Aurora never saw open is kept, but is no incident.
                            let incident = match alert.status {
                                AlertStatus::Firing => {
                                    Some(open_incident::open(conn, &stored, time::now()).await?.id)
                                }
                                AlertStatus::Resolved => None,
                            };
                            (stored.id, incident)
                        }
                    };
                let entry = ProcessedAlert {
                    alert_index: i32::try_from(index)
                        .expect("a delivery holds fewer than 2^31 alerts"),
                    alert_id,
                    opened_incident_id,
                };
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
            user_id: aurora_domain::UserId::parse(incident.user_id)
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
}

/// A database error that retrying cannot fix (the delivery names a user that does not exist)
/// is poison; anything else (connection lost, timeout, serialization) is worth a retry.
fn classify(err: QueryError) -> HandlerError {
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
