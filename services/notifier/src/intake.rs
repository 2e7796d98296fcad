//! Incident events in, deliveries recorded: a durable consumer on every `incidents.*` subject
//! turns each batch of events into `notification_deliveries` rows in one transaction, then
//! acks. Sending happens elsewhere ([`crate::deliver`]), so a destination that is down or slow
//! never holds the stream back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aurora_bus::{Batching, Delivery, HandlerError, Topology, consume_batches};
use aurora_db::incidents::{self, Incident};
use aurora_db::notifications::{self, NewDelivery, NewTarget};
use aurora_db::{AsyncConnection, QueryError};
use aurora_domain::{IncidentChange, IncidentChanged, IncidentCreated};
use aurora_runtime::Connections;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Router;
use crate::deliver::Deliverer;
use crate::routing::Destination;

/// How events are taken off the stream: recording is one transaction per batch.
const BATCHING: Batching = Batching {
    max_messages: 500,
    max_wait: Duration::from_millis(20),
};

/// How long a batch may take before JetStream offers it to another replica.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Any message of the INCIDENTS stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IncidentMessage {
    /// `incidents.<change>`.
    Changed(IncidentChanged),
    /// `incidents.created`.
    Created(IncidentCreated),
}

impl IncidentMessage {
    fn incident_id(&self) -> Uuid {
        match self {
            IncidentMessage::Changed(changed) => changed.incident_id,
            IncidentMessage::Created(created) => created.incident_id,
        }
    }

    fn user_id(&self) -> &str {
        match self {
            IncidentMessage::Changed(changed) => changed.user_id.as_str(),
            IncidentMessage::Created(created) => created.user_id.as_str(),
        }
    }

    /// What identifies the event among the incident's: `created`, or its event id.
    fn event_key(&self) -> String {
        match self {
            IncidentMessage::Changed(changed) => changed.event_id.to_string(),
            IncidentMessage::Created(_) => "created".to_owned(),
        }
    }

    /// The webhook's event type.
    fn event_type(&self) -> String {
        let change = match self {
            IncidentMessage::Created(_) => "created",
            IncidentMessage::Changed(changed) => match changed.change {
                IncidentChange::Correlated => "correlated",
                IncidentChange::Updated => "updated",
                IncidentChange::Resolved => "resolved",
                IncidentChange::Merged => "merged",
                IncidentChange::Analyzed => "analyzed",
            },
        };
        format!("incident.{change}")
    }

    fn is_analysis(&self) -> bool {
        matches!(self, IncidentMessage::Changed(changed) if changed.change == IncidentChange::Analyzed)
    }
}

/// Records deliveries for incident events until `shutdown`; the batch in hand is finished.
pub async fn run(
    connections: &Connections,
    router: Arc<Router>,
    deliverer: Arc<Deliverer>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topology = connections.bus.topology();
    let consumer = connections
        .bus
        .durable_consumer_from_now(
            &topology.incidents_stream(),
            Topology::NOTIFIER,
            topology.all_incident_subjects(),
            ACK_WAIT,
        )
        .await?;
    aurora_runtime::metrics::sample_consumer(
        connections.bus.clone(),
        topology.incidents_stream(),
        Topology::NOTIFIER,
        &connections.metrics,
        shutdown.clone(),
    );
    let dead_letters = aurora_runtime::DbDeadLetters::new(connections);
    let pool = connections.pool.clone();
    consume_batches(
        consumer,
        &dead_letters,
        shutdown,
        BATCHING,
        |batch: Vec<Delivery<IncidentMessage>>| {
            let pool = pool.clone();
            let router = Arc::clone(&router);
            let deliverer = Arc::clone(&deliverer);
            async move {
                let messages: Vec<IncidentMessage> = batch.into_iter().map(|d| d.payload).collect();
                let served = |endpoint: &str| deliverer.serves(endpoint);
                let outcome = match pool.get().await {
                    Ok(mut conn) => record(&mut conn, &router, &messages, &served).await,
                    Err(err) => Err(err.to_string()),
                };
                match outcome {
                    Ok(endpoints) => {
                        for endpoint in endpoints {
                            deliverer.wake(&endpoint);
                        }
                        vec![Ok(()); messages.len()]
                    }
                    Err(err) => vec![Err(HandlerError::Transient(err)); messages.len()],
                }
            }
        },
    )
    .await?;
    Ok(())
}

/// Records what `messages` ask to send, in one transaction: the destinations their incidents
/// now route to (added, never removed), and a delivery per event and destination that
/// `served` says a loop sends (a repeat of an event records nothing). Answers the delivery
/// loops that got work.
pub async fn record(
    conn: &mut aurora_db::AsyncPgConnection,
    router: &Router,
    messages: &[IncidentMessage],
    served: &(dyn Fn(&str) -> bool + Sync),
) -> Result<HashSet<String>, String> {
    let ids: Vec<Uuid> = messages
        .iter()
        .map(IncidentMessage::incident_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    conn.transaction(async |conn| {
        let found: HashMap<Uuid, Incident> = incidents::by_ids(conn, &ids)
            .await?
            .into_iter()
            .map(|incident| (incident.id, incident))
            .collect();
        let mut destinations: HashMap<Uuid, Vec<Destination>> = HashMap::new();
        for (incident, target, _) in notifications::targets_of(conn, &ids).await? {
            if let Some(destination) = Destination::of_target(&target) {
                destinations.entry(incident).or_default().push(destination);
            }
        }
        let mut targets = Vec::new();
        for incident in found.values() {
            let known = destinations.entry(incident.id).or_default();
            for routed in router.route(incident) {
                if !known.contains(&routed.destination) {
                    targets.push(NewTarget {
                        incident_id: incident.id,
                        target: routed.destination.target(),
                        endpoint: routed.destination.endpoint(),
                        rule: routed.rule,
                        notify_after: routed.notify_after,
                    });
                    known.push(routed.destination);
                }
            }
        }
        let mut deliveries = Vec::new();
        for message in messages {
            let id = message.incident_id();
            // An incident deleted since (retention), or a message naming another owner.
            if found
                .get(&id)
                .is_none_or(|i| i.user_id != message.user_id())
            {
                continue;
            }
            let destinations = destinations.get(&id).into_iter().flatten();
            // A destination removed from the settings since the incident was routed to it.
            for destination in destinations.filter(|d| served(&d.endpoint())) {
                let actions: &[&'static str] = match destination {
                    Destination::Slack { .. } if message.is_analysis() => &["sync", "summary"],
                    Destination::Slack { .. } | Destination::PagerDuty { .. } => &["sync"],
                    Destination::Webhook { .. } => &["event"],
                };
                for &action in actions {
                    deliveries.push(NewDelivery {
                        incident_id: id,
                        target: destination.target(),
                        endpoint: destination.endpoint(),
                        action,
                        event_key: message.event_key(),
                        event_type: message.event_type(),
                    });
                }
            }
        }
        notifications::record(conn, &targets, &deliveries).await?;
        Ok::<_, QueryError>(deliveries.into_iter().map(|d| d.endpoint).collect())
    })
    .await
    .map_err(|err| err.to_string())
}
