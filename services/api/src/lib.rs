//! The incidents API for people and tools.
//!
//! - [`auth`]: the bearer API token decides the user; another user's data is always 404.
//! - [`incidents`]: `GET /api/incidents` and `GET /api/incidents/{id}`.
//! - [`error`]: the one mapping from failures to `{"error": …}` answers.

pub mod auth;
pub mod error;
pub mod incidents;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use aurora_db::DbPool;
use aurora_runtime::{Readiness, health_routes, shutdown_token};
use aurora_settings::Settings;

/// Builds the API server on `listener` (port 0 in tests).
pub fn server(
    pool: DbPool,
    readiness: Readiness,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let pool = web::Data::new(pool);
    let readiness = web::Data::new(readiness);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(readiness.clone())
            .configure(health_routes)
            .configure(incidents::routes)
    })
    .disable_signals()
    .listen(listener)?
    .run())
}

/// The service: the API on `api.bind` until SIGTERM, letting in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let connections = aurora_runtime::Connections::open(&settings, "api").await?;
    let listener = TcpListener::bind(settings.api.bind)?;
    let server = server(connections.pool.clone(), connections.readiness(), listener)?;
    let handle = server.handle();
    let shutdown = shutdown_token();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    tracing::info!(bind = %settings.api.bind, "api started");
    server.await?;
    Ok(())
}
