//! Incident changes made through the API, published after the commit like the correlator's.

use aurora_bus::Bus;
use aurora_db::events::IncidentEvent;
use aurora_db::time;
use aurora_domain::{IncidentChange, IncidentChanged, UserId};

/// Publishes each change. The change is committed already, so a bus failure is logged rather
/// than failing the request; the timeline keeps the change either way.
pub(crate) async fn changes(bus: &Bus, user: &UserId, changes: &[(IncidentChange, IncidentEvent)]) {
    for (change, event) in changes {
        let message = IncidentChanged {
            change: *change,
            incident_id: event.incident_id,
            user_id: user.clone(),
            event_id: event.id,
            occurred_at: time::to_utc(event.created_at),
        };
        if let Err(err) = bus.publish_incident_change(&message).await {
            tracing::error!(incident_id = %event.incident_id, error = %err, "cannot publish an incident change");
        }
    }
}
