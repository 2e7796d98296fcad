//! What every Aurora service does the same way: connect to PostgreSQL and NATS from settings,
//! start telemetry, answer `/healthz`, `/readyz` and `/metrics`, and stop on SIGTERM.

mod access_log;
mod dead_letters;
mod health;
pub mod metrics;
mod shutdown;
mod worker;

use std::time::Duration;

use anyhow::Context;
use aurora_bus::{Bus, Topology};
use aurora_db::DbPool;
use aurora_settings::{LogFormat, Settings};
use secrecy::ExposeSecret;

pub use access_log::{access_log, redact_query};
pub use dead_letters::DbDeadLetters;
pub use health::{Readiness, health_routes};
pub use shutdown::shutdown_token;
pub use worker::run_worker;

/// The connections a service works with, and the registry of its metrics.
#[derive(Clone)]
pub struct Connections {
    /// PostgreSQL.
    pub pool: DbPool,
    /// NATS JetStream with Aurora's names.
    pub bus: Bus,
    /// The service's Prometheus metrics, served at `/metrics`.
    pub metrics: prometheus::Registry,
}

impl Connections {
    /// These connections with a registry of their own.
    pub fn new(pool: DbPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            metrics: prometheus::Registry::new(),
        }
    }

    /// Connects to both, creating the streams if missing. `application` names the service's
    /// database sessions.
    pub async fn open(settings: &Settings, application: &str) -> anyhow::Result<Self> {
        let pool = database_pool(settings, application, settings.database.pool_size)?;
        let topology = Topology::new(Some(&settings.nats.prefix)).context("nats.prefix")?;
        let bus =
            Bus::connect_replicated(&settings.nats.url, topology, settings.nats.stream_replicas)
                .await?;
        Ok(Self::new(pool, bus))
    }

    /// Samples its pool's connections into its registry until `shutdown`.
    pub fn sample_pool(&self, shutdown: tokio_util::sync::CancellationToken) {
        metrics::sample_pool(self.pool.clone(), "main", &self.metrics, shutdown);
    }

    /// What `/readyz` checks: both answer.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(self.pool.clone(), self.bus.clone())
    }
}

/// A pool of at most `max_size` connections with the `database` settings; `application` names
/// its sessions. Services take theirs from [`Connections::open`]; this builds another, for work
/// that must not wait behind the service's own (the RCA worker's lease renewals).
pub fn database_pool(
    settings: &Settings,
    application: &str,
    max_size: usize,
) -> anyhow::Result<DbPool> {
    aurora_db::pool::build(
        settings.database.url.expose_secret(),
        aurora_db::pool::PoolOptions {
            max_size,
            statement_timeout: Duration::from_millis(settings.database.statement_timeout_ms),
            application_name: application.to_owned(),
            timeout: Duration::from_millis(settings.database.pool_timeout_ms),
        },
    )
    .map_err(anyhow::Error::msg)
    .context("database pool")
}

/// Readiness over `connections`, and liveness over a probe connection of its own that fails
/// after `database.liveness_after_secs` without PostgreSQL (for the services whose work needs
/// it: not the ingress).
pub fn liveness(
    settings: &Settings,
    service: &str,
    connections: &Connections,
) -> anyhow::Result<Readiness> {
    let probe = database_pool(settings, &format!("{service}-liveness"), 1)?;
    Ok(connections.readiness().with_database_liveness(
        probe,
        Duration::from_secs(settings.database.liveness_after_secs),
    ))
}

/// Starts logs and traces for a service from its settings.
pub fn init_telemetry(
    service: &'static str,
    settings: &Settings,
) -> anyhow::Result<aurora_telemetry::TelemetryGuard> {
    let format = match settings.telemetry.log_format {
        LogFormat::Text => aurora_telemetry::Format::Text,
        LogFormat::Json => aurora_telemetry::Format::Json,
    };
    Ok(aurora_telemetry::init(
        service,
        format,
        &settings.telemetry.log_filter,
        settings.telemetry.otlp_endpoint.as_deref(),
    )?)
}
