//! The lease on a claimed analysis: its worker renews it while it works, so an analysis whose
//! worker died is noticed within [`LEASE`] and taken over (see [`crate::expiry`]). An attempt
//! that finds its lease gone (taken over, or the analysis stopped by a merge or its budget)
//! stops at once, and until it notices, the database refuses its writes.

use std::time::Duration;

use aurora_db::analysis::{self, Lease};
use aurora_db::{AsyncPgConnection, DbPool, QueryError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a claim holds without renewal, by PostgreSQL's clock (workers' clocks play no
/// part: see `aurora_db::analysis::claim`). Three renewals fit in it, so a worker that is
/// merely slow to reach the database (a PostgreSQL restart) keeps its claim.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often a working worker renews.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// Connections of the worker's own pool for renewals. A renewal is one short statement every
/// 5 s per running analysis, so two serve every analysis a worker runs at once, and one stays
/// free while the other waits out a slow answer.
pub const POOL_SIZE: usize = 2;

/// Why an attempt stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    /// Another attempt holds the claim now, or the analysis is no longer running: this attempt
    /// must not run or write anything more.
    #[error("the analysis' lease is no longer held by this attempt")]
    LeaseLost,
    /// The database failed; the attempt releases its claim so it runs again.
    #[error(transparent)]
    Database(#[from] QueryError),
}

/// Writes thoughts under `lease`; [`Interrupted::LeaseLost`] when it no longer holds.
pub async fn add_thoughts<K: AsRef<str>, C: AsRef<str>>(
    conn: &mut AsyncPgConnection,
    lease: Lease,
    thoughts: &[(K, C)],
) -> Result<(), Interrupted> {
    if analysis::add_thoughts_held(conn, lease, thoughts).await? {
        Ok(())
    } else {
        Err(Interrupted::LeaseLost)
    }
}

/// Writes one thought under `lease`; [`Interrupted::LeaseLost`] when it no longer holds.
pub async fn add_thought(
    conn: &mut AsyncPgConnection,
    lease: Lease,
    kind: &str,
    content: &str,
) -> Result<(), Interrupted> {
    add_thoughts(conn, lease, &[(kind, content)]).await
}

/// Renews an analysis' lease until dropped, and tells the attempt when the lease is lost.
pub struct Renewal {
    task: JoinHandle<()>,
    lost: CancellationToken,
}

impl Renewal {
    /// Starts renewing `lease` over `pool`, which must not be the pool the analyses use: each
    /// analysis holds a connection for its whole length, and a renewal waiting behind them for
    /// one would let a live lease lapse and the analysis be taken over.
    pub fn start(pool: DbPool, lease: Lease) -> Self {
        let lost = CancellationToken::new();
        let task = tokio::spawn({
            let lost = lost.clone();
            async move {
                let mut ticks = tokio::time::interval(RENEW_EVERY);
                ticks.tick().await; // the claim itself was the first renewal
                loop {
                    ticks.tick().await;
                    let renewed = match pool.get().await {
                        Ok(mut conn) => analysis::renew(&mut conn, lease)
                            .await
                            .map_err(|err| err.to_string()),
                        Err(err) => Err(err.to_string()),
                    };
                    match renewed {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(incident_id = %lease.incident_id, "analysis lease lost (taken over or stopped); stopping this attempt");
                            lost.cancel();
                            return;
                        }
                        // The next tick tries again; the lease outlasts two failed renewals.
                        Err(err) => {
                            tracing::warn!(incident_id = %lease.incident_id, error = %err, "renewing the analysis lease failed")
                        }
                    }
                }
            }
        });
        Self { task, lost }
    }

    /// Cancelled once a renewal found the lease lost.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.task.abort();
    }
}
