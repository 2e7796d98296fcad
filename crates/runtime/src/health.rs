//! `/healthz` (the process runs) and `/readyz` (it can do its work: PostgreSQL and NATS answer).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use aurora_bus::Bus;
use aurora_db::DbPool;
use diesel_async::SimpleAsyncConnection;

/// What readiness depends on.
#[derive(Clone)]
pub struct Readiness {
    pool: DbPool,
    bus: Bus,
}

/// A readiness probe answers within this, or the service is not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// Readiness over these connections.
    pub fn new(pool: DbPool, bus: Bus) -> Self {
        Self { pool, bus }
    }

    /// `Err` names what is not answering.
    pub async fn check(&self) -> Result<(), &'static str> {
        if !self.bus.is_connected() {
            return Err("nats");
        }
        let ping = async {
            let mut conn = self.pool.get().await.map_err(|_| "postgres")?;
            conn.batch_execute("SELECT 1").await.map_err(|_| "postgres")
        };
        tokio::time::timeout(PROBE_TIMEOUT, ping)
            .await
            .map_err(|_| "postgres")?
    }
}

/// Adds `/healthz` and `/readyz` to an app that has a [`Readiness`] in its app data.
pub fn health_routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/healthz",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", web::get().to(ready));
}

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(dependency) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"error": format!("{dependency} is not answering")})),
    }
}
