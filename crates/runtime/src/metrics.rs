//! Prometheus metrics every service shares: the `/metrics` route, HTTP latency by route, the
//! database pool's connections and the JetStream consumer's backlog.
//!
//! The `prometheus` crate rather than `metrics` + an exporter: its registries are explicit
//! values, one per service, so services that share a process (the tests run them all in one)
//! keep their series apart; `metrics` records into one global recorder per process.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use aurora_bus::Bus;
use aurora_db::DbPool;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

/// How often gauges that are sampled (pool, consumer) are read.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Registers `collector` in `registry` and answers it. Names are fixed in the code and every
/// service has a registry of its own, so a clash is a bug.
pub fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("each metric is registered once per service registry");
    collector
}

/// Adds `GET /metrics` (Prometheus text format) to an app that has the service's [`Registry`]
/// in its app data.
pub fn metrics_route(config: &mut web::ServiceConfig) {
    config.route("/metrics", web::get().to(scrape));
}

async fn scrape(registry: web::Data<Registry>) -> HttpResponse {
    match TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(err) => HttpResponse::InternalServerError().body(err.to_string()),
    }
}

/// `aurora_http_request_duration_seconds{service,route,method,status}`, observed by
/// [`http_metrics`] for an app that has it in its app data.
#[derive(Clone)]
pub struct HttpMetrics {
    service: &'static str,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// The histogram of `service`, registered in `registry`.
    pub fn new(service: &'static str, registry: &Registry) -> Self {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "aurora_http_request_duration_seconds",
                "HTTP requests by route pattern, method and status, in seconds",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["service", "route", "method", "status"],
        )
        .expect("a valid histogram");
        Self {
            service,
            duration: register(registry, duration),
        }
    }
}

/// Middleware (`App::wrap(from_fn(http_metrics))`) observing each request's duration under
/// its route pattern (`/api/incidents/{id}`, never the id itself: one series per route).
pub async fn http_metrics(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = request.app_data::<web::Data<HttpMetrics>>().cloned();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        metrics
            .duration
            .with_label_values(&[metrics.service, &route, &method, response.status().as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// Samples `pool`'s connections into `aurora_db_pool_connections{pool,state}` (`idle`,
/// `in_use`) and callers waiting for one into `aurora_db_pool_waiting{pool}` until
/// `shutdown`.
pub fn sample_pool(pool: DbPool, name: &str, registry: &Registry, shutdown: CancellationToken) {
    let connections = register(
        registry,
        IntGaugeVec::new(
            Opts::new(
                "aurora_db_pool_connections",
                "Database pool connections by state",
            ),
            &["pool", "state"],
        )
        .expect("a valid gauge"),
    );
    let waiting = register(
        registry,
        IntGaugeVec::new(
            Opts::new(
                "aurora_db_pool_waiting",
                "Callers waiting for a database pool connection",
            ),
            &["pool"],
        )
        .expect("a valid gauge"),
    );
    let name = name.to_owned();
    sample_every(shutdown, move || {
        let (pool, name, connections, waiting) = (
            pool.clone(),
            name.clone(),
            connections.clone(),
            waiting.clone(),
        );
        async move {
            let status = pool.status();
            let idle = status.available as i64;
            connections.with_label_values(&[&name, "idle"]).set(idle);
            connections
                .with_label_values(&[&name, "in_use"])
                .set(status.size as i64 - idle);
            waiting
                .with_label_values(&[&name])
                .set(status.waiting as i64);
        }
    });
}

/// Samples a durable consumer's backlog into `aurora_consumer_pending`,
/// `aurora_consumer_ack_pending` and `aurora_consumer_redelivered` (`{stream,consumer}`)
/// until `shutdown`.
pub fn sample_consumer(
    bus: Bus,
    stream: String,
    consumer: &'static str,
    registry: &Registry,
    shutdown: CancellationToken,
) {
    let gauge = |name: &str, help: &str| {
        register(
            registry,
            IntGaugeVec::new(Opts::new(name, help), &["stream", "consumer"])
                .expect("a valid gauge"),
        )
    };
    let pending = gauge(
        "aurora_consumer_pending",
        "Messages of the stream not yet delivered to the consumer",
    );
    let ack_pending = gauge(
        "aurora_consumer_ack_pending",
        "Messages delivered to the consumer and not yet acknowledged",
    );
    let redelivered = gauge(
        "aurora_consumer_redelivered",
        "Messages delivered more than once and not yet acknowledged",
    );
    sample_every(shutdown, move || {
        let (bus, stream) = (bus.clone(), stream.clone());
        let (pending, ack_pending, redelivered) =
            (pending.clone(), ack_pending.clone(), redelivered.clone());
        async move {
            match bus.consumer_backlog(&stream, consumer).await {
                Ok(backlog) => {
                    let labels = [stream.as_str(), consumer];
                    pending
                        .with_label_values(&labels)
                        .set(backlog.pending as i64);
                    ack_pending
                        .with_label_values(&labels)
                        .set(backlog.ack_pending as i64);
                    redelivered
                        .with_label_values(&labels)
                        .set(backlog.redelivered as i64);
                }
                Err(err) => tracing::debug!(error = %err, "cannot read the consumer's backlog"),
            }
        }
    });
}

/// Runs `sample` now and every [`SAMPLE_EVERY`] until `shutdown`, in a task of its own.
fn sample_every<F, Fut>(shutdown: CancellationToken, mut sample: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every.tick() => sample().await,
            }
        }
    });
}
