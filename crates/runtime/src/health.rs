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
    /// How long PostgreSQL may be unreachable before the service reports not live.
    liveness_after: Option<Duration>,
    /// Since when PostgreSQL has not answered a probe.
    unreachable_since: Arc<Mutex<Option<Instant>>>,
}

/// A readiness probe answers within this, or the service is not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// Readiness over these connections.
    pub fn new(pool: DbPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            liveness_after: None,
            unreachable_since: Arc::default(),
        }
    }

    /// Also reports not live once PostgreSQL was unreachable for `after` (zero: never).
    pub fn with_database_liveness(mut self, after: Duration) -> Self {
        self.liveness_after = (!after.is_zero()).then_some(after);
        self
    }

    /// `Err` names what is not answering.
    pub async fn check(&self) -> Result<(), &'static str> {
        if !self.bus.is_connected() {
            return Err("nats");
        }
        self.check_postgres().await
    }

    /// Pings PostgreSQL, remembering since when it has not answered.
    async fn check_postgres(&self) -> Result<(), &'static str> {
        let ping = async {
            let mut conn = self.pool.get().await.ok()?;
            conn.batch_execute("SELECT 1").await.ok()
        };
        let answered = tokio::time::timeout(PROBE_TIMEOUT, ping)
            .await
            .ok()
            .flatten()
            .is_some();
        let mut since = self
            .unreachable_since
            .lock()
            .expect("never poisoned: no code panics holding it");
        if answered {
            *since = None;
            Ok(())
        } else {
            since.get_or_insert_with(Instant::now);
            Err("postgres")
        }
    }

    /// `Err` says how long PostgreSQL has been unreachable, once that is past the limit.
    pub async fn check_alive(&self) -> Result<(), String> {
        let Some(after) = self.liveness_after else {
            return Ok(());
        };
        if self.check_postgres().await.is_ok() {
            return Ok(());
        }
        let unreachable_for = self
            .unreachable_since
            .lock()
            .expect("never poisoned: no code panics holding it")
            .map_or(Duration::ZERO, |since| since.elapsed());
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
