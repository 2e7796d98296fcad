//! The webhook ingress service. One process serves every vendor's route (`ingress`), or one
//! vendor's route (`ingress-<vendor>`) so each vendor scales and deploys on its own behind
//! the load balancer. Both are the same code over a different list of vendors.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use aurora_domain::SourceType;
use aurora_ingress::{ClientFailures, IngressState, RateLimiter, RequestLimits, SystemClock};
use aurora_runtime::metrics::{HttpMetrics, http_metrics as http_metrics_layer, metrics_route};
use aurora_runtime::{Readiness, health_routes, shutdown_token};
use aurora_settings::Settings;
use aurora_vendors::Vendor;

/// How long a client has to send a request's head.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the ingress server on `listener` (port 0 in tests).
pub fn server(
    state: IngressState,
    vendors: Vec<Arc<dyn Vendor>>,
    readiness: Readiness,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let registry = web::Data::new(state.metrics.registry().clone());
    let http_metrics = web::Data::new(HttpMetrics::new("ingress", &registry));
    let state = web::Data::new(state);
    let readiness = web::Data::new(readiness);
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(aurora_runtime::access_log))
            .wrap(actix_web::middleware::from_fn(http_metrics_layer))
            .app_data(state.clone())
            .app_data(readiness.clone())
            .app_data(registry.clone())
            .app_data(http_metrics.clone())
            .configure(health_routes)
            .configure(metrics_route)
            .configure(aurora_ingress::routes(vendors.clone()))
    })
    .disable_signals()
    // A sender gets this long to send its request head, so a slow-loris cannot hold sockets;
    // heads over actix's 128 KiB limit (or 96 headers) are refused with 431.
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .listen(listener)?
    .run())
}

/// The service: serves `only`'s route, or every vendor's when `None`, on `ingress.bind`
/// until SIGTERM; in-flight requests finish, so none is dropped after its alert was queued.
pub async fn serve(settings: Settings, only: Option<SourceType>) -> anyhow::Result<()> {
    let vendors: Vec<Arc<dyn Vendor>> = match only {
        Some(source) => vec![
            aurora_vendors::for_source(source)
                .ok_or_else(|| anyhow::anyhow!("no normalizer for source {source}"))?,
        ],
        None => aurora_vendors::all(),
    };
    let (key, previous_keys) = settings.secrets.keys();
    let secret_box = aurora_db::secret_box::SecretBox::from_settings(key, previous_keys)
        .map_err(|err| anyhow::anyhow!("secrets.encryption_key: {err}"))?;
    let connections = aurora_runtime::Connections::open(&settings, "ingress").await?;
    let shutdown = shutdown_token();
    connections.sample_pool(shutdown.clone());
    let state = IngressState {
        metrics: aurora_ingress::IngressMetrics::new(&connections.metrics),
        pool: connections.pool.clone(),
        bus: connections.bus.clone(),
        clock: Arc::new(SystemClock),
        limits: RequestLimits {
            body_bytes: settings.ingress.body_limit_bytes,
            body_read_timeout: Duration::from_secs(settings.ingress.body_read_timeout_secs),
            alerts_per_delivery: settings.ingress.max_alerts_per_delivery,
            trusted_proxy_hops: settings.ingress.trusted_proxy_hops,
        },
        auth_failures: ClientFailures::new(
            settings.ingress.auth_failures_per_minute,
            Duration::from_secs(60),
        ),
        signature_tolerance: Duration::from_secs(settings.ingress.signature_tolerance_secs),
        secret_box,
        integrations: aurora_ingress::IntegrationCache::new(
            Duration::from_secs(settings.ingress.auth_cache_secs),
            Duration::from_secs(settings.ingress.auth_fallback_secs),
        ),
        rate_limiter: RateLimiter::new(
            NonZeroU32::new(settings.ingress.rate_limit_per_second).expect("validated at start-up"),
            NonZeroU32::new(settings.ingress.rate_limit_burst).expect("validated at start-up"),
        ),
    };
    know_live_tokens(&state).await;
    let changes = aurora_ingress::follow_changes(
        connections.bus.clone(),
        state.integrations.clone(),
        shutdown.clone(),
    )
    .await?;
    let listener = TcpListener::bind(settings.ingress.bind)?;
    let routes: Vec<&str> = vendors
        .iter()
        .map(|v| aurora_vendors::route_path(v.source_type()))
        .collect();
    let server = server(
        state,
        vendors,
        connections.readiness().without_database(),
        listener,
    )?;
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    tracing::info!(bind = %settings.ingress.bind, ?routes, "ingress started");
    server.await?;
    changes.await?;
    Ok(())
}

/// Tells the failure limit per address which tokens are live before their first webhook, so a
/// stranger's guesses from a shared address cannot lock them out after a restart. Best
/// effort: without PostgreSQL the tokens become known as they are looked up.
async fn know_live_tokens(state: &IngressState) {
    let listed = async {
        let mut conn = state.pool.get().await.map_err(|err| err.to_string())?;
        aurora_db::integrations::live_token_hashes(&mut conn)
            .await
            .map_err(|err| err.to_string())
    };
    match listed.await {
        Ok(hashes) => state.integrations.know(hashes),
        Err(err) => tracing::warn!(error = %err, "cannot list live integrations at start"),
    }
}

/// The whole `main` of an `ingress-<vendor>` binary: `vendor_main!(Grafana);`.
#[macro_export]
macro_rules! vendor_main {
    ($source:ident) => {
        #[tokio::main]
        async fn main() -> anyhow::Result<()> {
            let source = aurora_domain::SourceType::$source;
            let service = format!("ingress-{source}").leak();
            aurora_ingress_service::main(service, Some(source)).await
        }
    };
}

/// `main` of every ingress binary.
pub async fn main(service: &'static str, only: Option<SourceType>) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = aurora_runtime::init_telemetry(service, &settings)?;
    serve(settings, only).await
}
