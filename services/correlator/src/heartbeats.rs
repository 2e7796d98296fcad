//! The heartbeat sweep: when an integration's heartbeat is overdue, Aurora raises an alert of
//! its own ("No heartbeat from … for …"), sent through the bus like any delivery; when the
//! beats resume, it sends that alert's resolve. Any replica may sweep: the deliveries' ids
//! name the gap, so JetStream and the correlator take each once.

use std::time::Duration;

use aurora_bus::HandlerError;
use aurora_bus::Topology;
use aurora_correlation::MissingBeats;
use aurora_db::heartbeats;
use aurora_domain::{AlertStatus, UserId};
use tokio_util::sync::CancellationToken;

use crate::Correlator;
use crate::process::{classify, now};

/// How often heartbeats are checked.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// How long a delivery sent to a correlator may take to be processed before its beats count:
/// batches commit within a few seconds.
const IN_FLIGHT: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// Raises the alerts of overdue heartbeats and resolves those of resumed ones; answers how
/// many it sent.
pub async fn sweep(correlator: &Correlator) -> Result<usize, HandlerError> {
    let mut conn = correlator
        .pool()
        .get()
        .await
        .map_err(|err| HandlerError::Transient(err.to_string()))?;
    let all = heartbeats::all(&mut conn).await.map_err(classify)?;
    if all.is_empty() {
        return Ok(0);
    }
    let now = now();
    // A beat still on its way is not missing: judge only by what the correlators were sent
    // and had time to process, so one behind in a storm raises nothing. A message stuck in
    // redelivery does not hold this back: it was sent.
    let bus = correlator.bus();
    let sent_until = bus
        .first_unsent(&bus.topology().alerts_stream(), Topology::CORRELATOR)
        .await
        .map_err(|err| HandlerError::Transient(err.to_string()))?
        .map_or(now, |first| first.min(now));
    let judged_at = (sent_until - IN_FLIGHT).naive_utc();
    let mut sent = 0;
    for row in all {
        let (status, since) = match row.missing_since {
            // Missing: raised once the beats are overdue by what was processed.
            None => match row.overdue_since(judged_at) {
                Some(due) => (AlertStatus::Firing, due),
                None => continue,
            },
            // Back only once a beat was heard after the gap began.
            Some(since) if row.last_seen_at.is_some_and(|seen| seen > since) => {
                (AlertStatus::Resolved, since)
            }
            Some(_) => continue,
        };
        let user =
            UserId::parse(row.user_id.clone()).map_err(|e| HandlerError::Poison(e.to_string()))?;
        let Some(heartbeat) = row.to_heartbeat() else {
            continue;
        };
        let delivery = MissingBeats {
            heartbeat: &heartbeat,
            user: &user,
            interval: Duration::from_secs(row.interval_secs.unsigned_abs().into()),
            since: since.and_utc(),
        }
        .delivery(status, now);
        // Sent first, then marked: a sweep that dies between sends it again, as the same
        // delivery.
        bus.publish(
            bus.topology().alert_subject(heartbeat.source_type),
            &delivery.message_id(),
            &delivery,
        )
        .await
        .map_err(|err| HandlerError::Transient(err.to_string()))?;
        match status {
            AlertStatus::Firing => heartbeats::mark_missing(&mut conn, row.id, since).await,
            AlertStatus::Resolved => heartbeats::mark_resumed(&mut conn, row.id).await,
        }
        .map_err(classify)?;
        sent += 1;
    }
    Ok(sent)
}

/// Sweeps every [`SWEEP_INTERVAL`] until `shutdown`; failures are logged and retried.
pub async fn run(correlator: Correlator, shutdown: CancellationToken) {
    crate::sweep::every(
        SWEEP_INTERVAL,
        shutdown,
        "heartbeat alerts raised or resolved",
        || sweep(&correlator),
    )
    .await;
}
