//! The incidents API for people and tools. JSON field names are the tables' column names;
//! errors answer `{"error": …}`; a bearer API token decides the caller, and another user's
//! incident is always 404.
//!
//! - [`auth`]: the caller from the API token.
//! - [`incidents`]: the list with filters and pages, one incident, its alerts, its timeline.
//! - [`update`]: `PATCH` status, tab and summary.
//! - [`merge`]: fold one incident into another.
//! - [`stream`]: server-sent events of the caller's changes: one bus subscription per process,
//!   bounded per connection and per user, replay after `Last-Event-ID`.
//! - [`openapi`]: the OpenAPI document, checked against the routes in a test.
//! - `stats`: alerts received against incidents opened, the console's headline figure.
//! - `silences`: maintenance windows: create, list, expire.
//! - [`console`]: the web console for people, served at `/` from files embedded in the binary.

pub mod auth;
pub mod console;
mod cursor;
pub mod error;
pub mod incidents;
mod markdown;
pub mod merge;
pub mod openapi;
mod publish;
mod silences;
mod stats;
pub mod stream;
pub mod update;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{App, HttpServer, web};
use aurora_runtime::metrics::{HttpMetrics, http_metrics as http_metrics_layer, metrics_route};
use aurora_runtime::{Connections, Readiness, health_routes, shutdown_token};
use aurora_settings::Settings;

use crate::error::ApiError;
pub use crate::stream::{StreamHub, StreamLimits};

/// Largest JSON body the API reads.
pub const BODY_LIMIT_BYTES: usize = 128 * 1024;

/// Registers every API route; the caller adds the pool, the bus and the stream hub as app
/// data.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(BODY_LIMIT_BYTES)
                .error_handler(|err, _| match err {
                    JsonPayloadError::Overflow { .. }
                    | JsonPayloadError::OverflowKnownLength { .. } => {
                        ApiError::TooLarge(BODY_LIMIT_BYTES).into()
                    }
                    JsonPayloadError::ContentType => {
                        ApiError::BadRequest("send the body as application/json".into()).into()
                    }
                    other => ApiError::Unprocessable(format!("invalid body: {other}")).into(),
                }),
        )
        .app_data(
            web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
                ApiError::BadRequest(format!("invalid query: {err}")).into()
            }),
        )
        .route("/api/openapi.json", web::get().to(openapi::document))
        .route("/api/stats", web::get().to(stats::stats))
        .route("/api/silences", web::get().to(silences::list))
        .route("/api/silences", web::post().to(silences::create))
        .route("/api/silences/{id}", web::get().to(silences::get))
        .route(
            "/api/silences/{id}/expire",
            web::post().to(silences::expire),
        )
        // Before `/{id}`, which would take "stream" for an id.
        .route("/api/incidents/stream", web::get().to(stream::stream))
        .route("/api/incidents", web::get().to(incidents::list))
        .route("/api/incidents/{id}", web::get().to(incidents::detail))
        .route("/api/incidents/{id}", web::patch().to(update::update))
        .route(
            "/api/incidents/{id}/alerts",
            web::get().to(incidents::incident_alerts),
        )
        .route(
            "/api/incidents/{id}/events",
            web::get().to(incidents::timeline),
        )
        .route(
            "/api/incidents/{id}/merge-alert",
            web::post().to(merge::merge),
        );
}

/// Builds the API server over `connections` (its metrics in their registry) on `listener`
/// (port 0 in tests); `hub` serves the live stream (keep a clone to watch it).
pub fn server(
    connections: Connections,
    hub: StreamHub,
    readiness: Readiness,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let http_metrics = web::Data::new(HttpMetrics::new("api", &connections.metrics));
    let registry = web::Data::new(connections.metrics);
    let pool = web::Data::new(connections.pool);
    let bus = web::Data::new(connections.bus);
    let hub = web::Data::new(hub);
    let readiness = web::Data::new(readiness);
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(aurora_runtime::access_log))
            .wrap(actix_web::middleware::from_fn(http_metrics_layer))
            .app_data(pool.clone())
            .app_data(bus.clone())
            .app_data(hub.clone())
            .app_data(readiness.clone())
            .app_data(registry.clone())
            .app_data(http_metrics.clone())
            .configure(health_routes)
            .configure(metrics_route)
            .configure(routes)
            .configure(console::routes)
    })
    // A client that closes its side is gone (browsers and HTTP clients never half-close while
    // awaiting an answer): end its response at once, so a closed live stream gives its slot
    // back now rather than at the next keep-alive write.
    .h1_allow_half_closed(false)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// The service: the API on `api.bind` until SIGTERM, letting in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let connections = aurora_runtime::Connections::open(&settings, "api").await?;
    let listener = TcpListener::bind(settings.api.bind)?;
    let hub = StreamHub::new(connections.bus.clone(), StreamLimits::from(&settings.api));
    let shutdown = shutdown_token();
    connections.sample_pool(shutdown.clone());
    let readiness = aurora_runtime::liveness(&settings, "api", &connections)?;
    let server = server(connections, hub.clone(), readiness, listener)?;
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        // Live streams never finish on their own: end them, so stopping does not wait them
        // out; their clients reconnect (to another process) with `Last-Event-ID`.
        hub.close();
        handle.stop(true).await;
    });
    tracing::info!(bind = %settings.api.bind, "api started");
    server.await?;
    Ok(())
}
