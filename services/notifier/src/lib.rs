//! The notifier: tells people about incidents in Slack, PagerDuty and outgoing webhooks, and
//! keeps what it told them current as the incident evolves.
//!
//! - [`intake`]: a durable consumer on every `incidents.*` subject, shared by all replicas. Each
//!   event becomes rows in `notification_deliveries`, keyed by the event, then is acked: a
//!   destination being down never holds the stream back.
//! - [`routing`]: which destinations an incident goes to, by its user's rules.
//! - [`deliver`]: one loop per destination kind that claims due rows, sends them, and retries
//!   with backoff (honouring `Retry-After`) or keeps them as failed.
//! - [`destinations`]: Slack's Web API, PagerDuty's Events API v2 and signed webhooks.
//! - [`view`]: what every destination says about an incident.

pub mod deliver;
pub mod destinations;
pub mod intake;
mod metrics;
pub mod routing;
pub mod view;

use std::sync::Arc;

use aurora_runtime::Connections;
use aurora_settings::Settings;
use tokio_util::sync::CancellationToken;

pub use deliver::Deliverer;
pub use destinations::Destinations;
pub use routing::Router;

/// Takes incident events and delivers notifications until `shutdown`; deliveries in flight
/// are finished first.
pub async fn run(
    connections: Connections,
    router: Arc<Router>,
    destinations: Arc<Destinations>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = metrics::NotifierMetrics::new(&connections.metrics);
    let deliverer = Arc::new(Deliverer::new(
        connections.pool.clone(),
        destinations,
        metrics,
    ));
    match deliverer.abandon_unserved().await {
        Ok(0) => {}
        Ok(count) => tracing::error!(
            count,
            "pending notifications to destinations no longer configured are kept as failed (aurora notifications failed)"
        ),
        Err(err) => {
            tracing::warn!(error = %err, "cannot look for notifications to removed destinations")
        }
    }
    let loops = deliverer.spawn_loops(shutdown.clone());
    let taken = intake::run(&connections, router, deliverer.clone(), shutdown).await;
    for delivery_loop in loops {
        let _ = delivery_loop.await;
    }
    taken
}

/// The service: health endpoints on `notifier.bind` and the notifier, until SIGTERM. Fails at
/// start, naming the setting, when a variable a destination needs is not set.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let destinations = Arc::new(Destinations::from_settings(
        &settings.notifications,
        |name| std::env::var(name).ok(),
    )?);
    let router = Arc::new(Router::new(settings.notifications.routes.clone()));
    aurora_runtime::run_worker(
        &settings,
        "notifier",
        settings.notifier.bind,
        |connections, shutdown| run(connections, router, destinations, shutdown),
    )
    .await
}
