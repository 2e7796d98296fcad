//! `/healthz` (the process is alive) and `/readyz` (it can do its work: PostgreSQL and NATS
//! answer).
//!
//! A service whose work needs PostgreSQL is not alive once it could not reach it for
//! `database.liveness_after_secs`: a restart replaces connections a partition left hanging,
//! which waiting does not. The ingress is exempt: it serves known tokens without PostgreSQL,
//! and a restart would only forget them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use aurora_bus::Bus;
use aurora_db::DbPool;
use diesel_async::SimpleAsyncConnection;

/// What readiness (and, for services that need PostgreSQL, liveness) depends on.
#[derive(Clone)]
pub struct Readiness {
    pool: DbPool,
    bus: Bus,
    /// A connection of its own that liveness pings PostgreSQL over (a pool of one), and how
    /// long PostgreSQL may be unreachable before the service reports not live. Not the
    /// service's pool: that one is busy whenever the service is, which is no reason to
    /// restart it.
    liveness: Option<(DbPool, Duration)>,
    /// Since when PostgreSQL has not answered the liveness probe.
    unreachable_since: Arc<Mutex<Option<Instant>>>,
    /// Whether the service can do its work only with PostgreSQL (all but the ingress).
    needs_database: bool,
}

/// A readiness probe answers within this, or the service is not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// Readiness over these connections.
    pub fn new(pool: DbPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            liveness: None,
            unreachable_since: Arc::default(),
            needs_database: true,
        }
    }

    /// Ready with NATS alone: the ingress serves the tokens it knows while PostgreSQL is away,
    /// so it stays in its Service's endpoints rather than leave every sender a 503 at the load
    /// balancer.
    pub fn without_database(mut self) -> Self {
        self.needs_database = false;
        self
    }

    /// Also reports not live once PostgreSQL did not answer `probe` (a pool of one connection
    /// of the liveness probe's own) for `after` (zero: never).
    pub fn with_database_liveness(mut self, probe: DbPool, after: Duration) -> Self {
        self.liveness = (!after.is_zero()).then_some((probe, after));
        self
    }

    /// `Err` names what is not answering.
    pub async fn check(&self) -> Result<(), &'static str> {
        if !self.bus.is_connected() {
            return Err("nats");
        }
        if !self.needs_database || ping(&self.pool).await {
            Ok(())
        } else {
            Err("postgres")
        }
    }

    /// `Err` says how long PostgreSQL has been unreachable, once that is past the limit.
    pub async fn check_alive(&self) -> Result<(), String> {
        let Some((probe, after)) = &self.liveness else {
            return Ok(());
        };
        let answered = ping(probe).await;
        let mut since = self
            .unreachable_since
            .lock()
            .expect("never poisoned: no code panics holding it");
        if answered {
            *since = None;
            return Ok(());
        }
        let unreachable_for = since.get_or_insert_with(Instant::now).elapsed();
        let after = *after;
        if unreachable_for >= after {
            Err(format!(
                "postgres unreachable for {} s (database.liveness_after_secs = {})",
                unreachable_for.as_secs(),
                after.as_secs()
            ))
        } else {
            Ok(())
        }
    }
}

/// Whether PostgreSQL answers `SELECT 1` over `pool` within the probe's time.
async fn ping(pool: &DbPool) -> bool {
    let ping = async {
        let mut conn = pool.get().await.ok()?;
        conn.batch_execute("SELECT 1").await.ok()
    };
    tokio::time::timeout(PROBE_TIMEOUT, ping)
        .await
        .ok()
        .flatten()
        .is_some()
}

/// Adds `/healthz` and `/readyz` to an app that has a [`Readiness`] in its app data.
pub fn health_routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(alive))
        .route("/readyz", web::get().to(ready));
}

async fn alive(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.check_alive().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(reason) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": reason}))
        }
    }
}

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(dependency) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"error": format!("{dependency} is not answering")})),
    }
}
