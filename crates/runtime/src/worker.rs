//! The shape every bus worker shares: connections, health endpoints, a run loop, SIGTERM.

use std::future::Future;
use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};
use aurora_settings::Settings;
use tokio_util::sync::CancellationToken;

use crate::{Connections, health_routes, shutdown_token};

/// Runs a worker service: opens the connections, serves `/healthz` and `/readyz` on
/// `health_bind`, and runs `work` until SIGTERM, after which in-flight work finishes.
pub async fn run_worker<F, Fut>(
    settings: &Settings,
    service: &'static str,
    health_bind: SocketAddr,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Connections, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let connections = Connections::open(settings, service).await?;
    let shutdown = shutdown_token();
    connections.sample_pool(shutdown.clone());
    let readiness = web::Data::new(crate::liveness(settings, service, &connections)?);
    let registry = web::Data::new(connections.metrics.clone());
    let health = HttpServer::new(move || {
        App::new()
            .app_data(readiness.clone())
            .app_data(registry.clone())
            .configure(health_routes)
            .configure(crate::metrics::metrics_route)
    })
    .workers(1)
    .disable_signals()
    .bind(health_bind)?
    .run();
    let health_handle = health.handle();
    let health_task = tokio::spawn(health);
    tracing::info!(%health_bind, "{service} started");
    let result = work(connections, shutdown).await;
    health_handle.stop(true).await;
    let _ = health_task.await;
    tracing::info!("{service} stopped");
    result
}
