//! The outbox relay: incident events recorded but never published (their writer died between
//! its commit and its publish, or the bus refused) are published here, with their event id as
//! `Nats-Msg-Id`, so JetStream drops the copy of one that had gone out after all.
//!
//! Every correlator replica runs it; each takes the rows it publishes under `FOR UPDATE SKIP
//! LOCKED`, so replicas share the work instead of repeating it.

use std::time::Duration;

use aurora_bus::{Bus, IncidentSubject};
use aurora_db::events::{self, Unpublished};
use aurora_db::{AsyncConnection, DbPool, QueryError, time};
use aurora_domain::{IncidentChange, IncidentChanged, IncidentCreated, UserId};
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

/// How often unpublished events are looked for.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long a writer has to publish and mark its own events before the relay steps in (well
/// inside JetStream's two-minute duplicate window, so a late mark costs no second message).
const GRACE: TimeDelta = TimeDelta::seconds(2);
/// Events relayed per round.
const BATCH: i64 = 500;

/// Why a relay round failed; the next round tries again.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Database(String),
    /// NATS refused a publish: the events stay unpublished.
    #[error(transparent)]
    Bus(#[from] aurora_bus::BusError),
}

impl From<QueryError> for RelayError {
    fn from(err: QueryError) -> Self {
        RelayError::Database(err.to_string())
    }
}

/// Publishes the events left unpublished for longer than `grace`, oldest first, and marks
/// them; answers how many it published. All or nothing per round: a failed publish leaves the
/// round's events for the next one.
pub async fn relay_once(pool: &DbPool, bus: &Bus, grace: TimeDelta) -> Result<usize, RelayError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|err| RelayError::Database(err.to_string()))?;
    let recorded_before = time::now() - grace;
    conn.transaction(async |conn| {
        let pending = events::unpublished(conn, recorded_before, BATCH).await?;
        let mut published = 0;
        for unpublished in &pending {
            match message_of(unpublished) {
                Some(Relayed::Change(change)) => {
                    bus.publish_incident_change(&change).await?;
                }
                Some(Relayed::Created(created)) => {
                    let subject = bus.topology().incident_subject(IncidentSubject::Created);
                    bus.publish(subject, &created.message_id(), &created)
                        .await?;
                }
                None => continue,
            }
            published += 1;
        }
        let ids: Vec<i64> = pending.iter().map(|u| u.event.id).collect();
        events::mark_published(conn, &ids).await?;
        Ok::<_, RelayError>(published)
    })
    .await
}

/// What the relay publishes for an event.
enum Relayed {
    /// `incidents.<change>`.
    Change(IncidentChanged),
    /// `incidents.created`, for an incident no delivery opened (a silence's end did).
    Created(IncidentCreated),
}

/// The message an event announces; `None` for events that announce none
/// (`analysis_started`, or an owner id that can no longer be read).
fn message_of(unpublished: &Unpublished) -> Option<Relayed> {
    let event = &unpublished.event;
    let user_id = UserId::parse(unpublished.user_id.clone()).ok()?;
    if event.kind == "created" {
        return Some(Relayed::Created(IncidentCreated {
            incident_id: event.incident_id,
            user_id,
            source_alert_id: i32::try_from(event.detail["alert_id"].as_i64()?).ok()?,
            source_type: event.detail["source_type"].as_str()?.parse().ok()?,
            created_at: time::to_utc(event.created_at),
        }));
    }
    Some(Relayed::Change(IncidentChanged {
        change: IncidentChange::of_event_kind(&event.kind)?,
        incident_id: event.incident_id,
        user_id,
        event_id: event.id,
        occurred_at: time::to_utc(event.created_at),
    }))
}

/// Relays every [`INTERVAL`] until `shutdown`; failures are logged and retried.
pub async fn run(pool: DbPool, bus: Bus, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        match relay_once(&pool, &bus, GRACE).await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                "published incident events their writers had not (a crash or a bus outage)"
            ),
            Err(err) => tracing::warn!(error = %err, "outbox relay failed; retrying"),
        }
    }
}
