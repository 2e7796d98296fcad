//! The correlator's run loop: a durable pull consumer on `ALERTS`, shared by all replicas.

use std::time::Duration;

use aurora_bus::{Delivery, Topology, consume};
use aurora_domain::AlertBatch;
use aurora_runtime::Connections;
use aurora_settings::Settings;
use tokio_util::sync::CancellationToken;

use crate::Correlator;

/// How long a delivery may take before JetStream redelivers it to another replica.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Consumes deliveries until `shutdown` fires; an in-flight delivery is finished first.
pub async fn run(connections: Connections, shutdown: CancellationToken) -> anyhow::Result<()> {
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
    let correlator = Correlator::new(connections.pool.clone(), connections.bus.clone());
    consume(consumer, shutdown, |delivery: Delivery<AlertBatch>| {
        let correlator = correlator.clone();
        async move { correlator.handle(&delivery.payload).await.map(drop) }
    })
    .await?;
    Ok(())
}

/// The service: health endpoints on `correlator.bind` and the run loop, until SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    aurora_runtime::run_worker(&settings, "correlator", settings.correlator.bind, run).await
}
