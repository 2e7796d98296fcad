//! The lease on a claimed analysis: its worker renews it while it works, so an analysis whose
//! worker died is noticed within [`LEASE`] and taken over (see [`crate::expiry`]).

use std::time::Duration;

use aurora_db::{DbPool, analysis};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a claim holds without renewal, by PostgreSQL's clock (workers' clocks play no
/// part: see `aurora_db::analysis::claim`). Three renewals fit in it, so a worker that is
/// merely slow to reach the database (a PostgreSQL restart) keeps its claim.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often a working worker renews.
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Renews an analysis' lease until dropped (or until the analysis is no longer running).
pub struct Renewal(JoinHandle<()>);

impl Renewal {
    /// Starts renewing `lease` on `incident_id`'s analysis.
    pub fn start(pool: DbPool, incident_id: Uuid, lease: Uuid) -> Self {
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(RENEW_EVERY);
            ticks.tick().await; // the claim itself was the first renewal
            loop {
                ticks.tick().await;
                let renewed = match pool.get().await {
                    Ok(mut conn) => analysis::renew(&mut conn, incident_id, lease)
                        .await
                        .map_err(|err| err.to_string()),
                    Err(err) => Err(err.to_string()),
                };
                match renewed {
                    Ok(true) => {}
                    Ok(false) => return,
                    // The next tick tries again; the lease outlasts two failed renewals.
                    Err(err) => {
                        tracing::warn!(%incident_id, error = %err, "renewing the analysis lease failed")
                    }
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}
