//! The correlator's run loop: a durable pull consumer on `ALERTS`, shared by all replicas,
//! taking deliveries in batches and deciding each user's deliveries of a batch together.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aurora_bus::{Batching, Delivery, HandlerError, Topology, consume_batches};
use aurora_correlation::{Arrival, Receipt};
use aurora_domain::{AlertBatch, UserId};
use aurora_runtime::Connections;
use aurora_settings::{CorrelatorSettings, Settings};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{Correlator, Rules, auto_resolve, heartbeats, outbox, retention, silences};

/// How long a batch may take before JetStream redelivers it to another replica (in-progress
/// acks extend it while the work goes on).
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Users' groups of a batch decided at once, each in its own transaction and connection.
const GROUPS_AT_ONCE: usize = 4;

/// The batching `settings` ask for.
pub fn batching(settings: &CorrelatorSettings) -> Batching {
    Batching {
        max_messages: settings.batch_max_messages,
        max_wait: Duration::from_millis(settings.batch_max_wait_ms),
    }
}

/// Consumes deliveries until `shutdown` fires (the batch in hand is finished first), and
/// auto-resolves silent alerts alongside.
pub async fn run(
    connections: Connections,
    rules: Arc<Rules>,
    batching: Batching,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topology = connections.bus.topology();
    let consumer = connections
        .bus
        .durable_consumer(
            &topology.alerts_stream(),
            Topology::CORRELATOR,
            topology.all_alert_subjects(),
            ACK_WAIT,
        )
        .await?;
    let epoch = connections
        .bus
        .stream_epoch(&topology.alerts_stream())
        .await?;
    let correlator = Correlator::new(connections.pool.clone(), connections.bus.clone(), rules)
        .with_metrics(&connections.metrics);
    aurora_runtime::metrics::sample_consumer(
        connections.bus.clone(),
        topology.alerts_stream(),
        Topology::CORRELATOR,
        &connections.metrics,
        shutdown.clone(),
    );
    let sweeper = tokio::spawn(auto_resolve::run(correlator.clone(), shutdown.clone()));
    let releaser = tokio::spawn(silences::run(correlator.clone(), shutdown.clone()));
    let heartbeat_sweeper = tokio::spawn(heartbeats::run(correlator.clone(), shutdown.clone()));
    let relay = tokio::spawn(outbox::run(
        connections.pool.clone(),
        connections.bus.clone(),
        shutdown.clone(),
    ));
    let dead_letters = aurora_runtime::DbDeadLetters::new(&connections);
    let consumed = consume_batches(
        consumer,
        &dead_letters,
        shutdown,
        batching,
        |deliveries: Vec<Delivery<AlertBatch>>| {
            let correlator = correlator.clone();
            async move { handle_batch(&correlator, epoch, &deliveries).await }
        },
    )
    .await;
    let _ = sweeper.await;
    let _ = releaser.await;
    let _ = heartbeat_sweeper.await;
    let _ = relay.await;
    Ok(consumed?)
}

/// The service: health endpoints on `correlator.bind` and the run loop, until SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let rules = Arc::new(Rules::new(settings.correlation.clone()));
    let batching = batching(&settings.correlator);
    let retention_settings = settings.retention.clone();
    aurora_runtime::run_worker(
        &settings,
        "correlator",
        settings.correlator.bind,
        |connections, shutdown| {
            let retention = tokio::spawn(retention::run(
                connections.pool.clone(),
                retention_settings,
                shutdown.clone(),
            ));
            async move {
                let consumed = run(connections, rules, batching, shutdown).await;
                let _ = retention.await;
                consumed
            }
        },
    )
    .await
}

/// A batch off the stream: each user's deliveries decided together, users in parallel.
/// Answers one outcome per delivery. A user's group that fails is tried again one delivery at
/// a time, so only a delivery that cannot be processed is retried or set aside.
async fn handle_batch(
    correlator: &Correlator,
    epoch: i64,
    deliveries: &[Delivery<AlertBatch>],
) -> Vec<Result<(), HandlerError>> {
    let mut groups: HashMap<&UserId, Vec<usize>> = HashMap::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        groups
            .entry(&delivery.payload.user_id)
            .or_default()
            .push(index);
    }
    let groups: Vec<_> = groups
        .into_iter()
        .map(|(user, members)| handle_group(correlator, epoch, deliveries, user, members))
        .collect();
    let decided: Vec<(Vec<usize>, Result<(), HandlerError>)> = futures::stream::iter(groups)
        .buffer_unordered(GROUPS_AT_ONCE)
        .collect()
        .await;
    let mut outcomes = vec![Ok(()); deliveries.len()];
    for (members, outcome) in decided {
        match outcome {
            // One delivery that cannot be stored (a constraint, a value PostgreSQL refuses, a
            // group too big for the statement timeout) must not hold back the others: they
            // are tried one by one, and only what fails alone is retried or set aside.
            Err(_) if members.len() > 1 => {
                for index in members {
                    let user = &deliveries[index].payload.user_id;
                    let arrival = arrival(epoch, deliveries, index);
                    outcomes[index] = correlator.handle(user, &[arrival]).await.map(drop);
                }
            }
            outcome => {
                for index in members {
                    outcomes[index] = outcome.clone();
                }
            }
        }
    }
    outcomes
}

/// One user's deliveries (`members` of the batch), decided together.
async fn handle_group(
    correlator: &Correlator,
    epoch: i64,
    deliveries: &[Delivery<AlertBatch>],
    user: &UserId,
    members: Vec<usize>,
) -> (Vec<usize>, Result<(), HandlerError>) {
    let arrivals: Vec<Arrival<'_>> = members
        .iter()
        .map(|&index| arrival(epoch, deliveries, index))
        .collect();
    let traces: Vec<opentelemetry::Context> = members
        .iter()
        .map(|&index| deliveries[index].trace.clone())
        .collect();
    let outcome = correlator
        .handle_traced(user, &arrivals, &traces)
        .await
        .map(drop);
    (members, outcome)
}

/// Delivery `index` of a batch, with its receipt.
fn arrival(epoch: i64, deliveries: &[Delivery<AlertBatch>], index: usize) -> Arrival<'_> {
    Arrival {
        receipt: Receipt {
            epoch,
            sequence: i64::try_from(deliveries[index].sequence).unwrap_or(i64::MAX),
        },
        batch: &deliveries[index].payload,
    }
}
