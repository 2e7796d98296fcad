//! The correlator's run loop: a durable pull consumer on `ALERTS`, shared by all replicas.

use std::sync::Arc;
use std::time::Duration;

use aurora_bus::{Delivery, Lanes, Topology, consume};
use aurora_domain::AlertBatch;
use aurora_runtime::Connections;
use aurora_settings::Settings;
use tokio_util::sync::CancellationToken;

use crate::{Correlator, Rules, auto_resolve};

/// How long a delivery may take before JetStream redelivers it to another replica.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Consumes deliveries until `shutdown` fires (an in-flight delivery is finished first), and
/// auto-resolves silent alerts alongside.
pub async fn run(
    connections: Connections,
    rules: Arc<Rules>,
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
    let correlator = Correlator::new(connections.pool.clone(), connections.bus.clone(), rules);
    let sweeper = tokio::spawn(auto_resolve::run(correlator.clone(), shutdown.clone()));
    let dead_letters = aurora_runtime::DbDeadLetters::new(connections.pool.clone());
    let consumed = consume(
        consumer,
        &dead_letters,
        shutdown,
        // Users proceed in parallel; one user's deliveries one at a time, in the order this
        // replica pulls them (they take the user's lock anyway). Redeliveries after a failure
        // or a crash can still come after newer messages.
        Lanes::ordered_by(IN_FLIGHT, owner_of),
        |delivery: Delivery<AlertBatch>| {
            let correlator = correlator.clone();
            async move { correlator.handle(&delivery.payload).await.map(drop) }
        },
    )
    .await;
    let _ = sweeper.await;
    Ok(consumed?)
}

/// The service: health endpoints on `correlator.bind` and the run loop, until SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let rules = Arc::new(Rules::new(settings.correlation.clone()));
    aurora_runtime::run_worker(
        &settings,
        "correlator",
        settings.correlator.bind,
        |connections, shutdown| run(connections, rules, shutdown),
    )
    .await
}

/// Deliveries the correlator works on at once (each holds a database connection).
const IN_FLIGHT: usize = 8;

/// A delivery's lane: its user. Undecodable payloads get a lane of their own (they become dead
/// letters).
fn owner_of(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Owner {
        user_id: String,
    }
    serde_json::from_slice::<Owner>(payload)
        .ok()
        .map(|owner| owner.user_id)
}
