//! Incident changes made through the API, published after the commit like the correlator's.

use aurora_bus::Bus;
use aurora_db::events::{self, IncidentEvent};
use aurora_db::{PooledConnection, time};
use aurora_domain::{IncidentChange, IncidentChanged, UserId};

/// Publishes each change and marks it published, on the request's connection. The change
/// and its event are committed already, so a failure here is logged rather than failing the
/// request: the event stays in the outbox and the correlator's relay publishes it.
pub(crate) async fn changes(
    bus: &Bus,
    conn: &mut PooledConnection,
    user: &UserId,
    changes: &[(IncidentChange, IncidentEvent)],
) {
    let mut published = Vec::new();
    for (change, event) in changes {
        let message = IncidentChanged {
            change: *change,
            incident_id: event.incident_id,
            user_id: user.clone(),
            event_id: event.id,
            occurred_at: time::to_utc(event.created_at),
        };
        match bus.publish_incident_change(&message).await {
            Ok(_) => published.push(event.id),
            Err(err) => {
                tracing::error!(incident_id = %event.incident_id, error = %err, "cannot publish an incident change; the outbox relay will");
                // Later changes of the incident must not overtake this one.
                break;
            }
        }
    }
    if let Err(err) = events::mark_published(conn, &published).await {
        tracing::warn!(error = %err, "published changes not marked; the outbox relay publishes them again and JetStream drops the copies");
    }
}
