//! Analyses nobody is finishing: whichever worker notices stops those past their time budget,
//! and takes over those whose worker died (their lease lapsed), so no incident stays
//! `running` for ever.

use std::time::Duration;

use aurora_db::{DbPool, analysis};
use tokio_util::sync::CancellationToken;

use crate::{Investigator, lease};

/// How often running analyses are checked; with the 15 s lease, a dead worker's analysis is
/// taken over within 20 s.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Stops analyses claimed more than `budget_secs` ago; answers how many.
pub async fn sweep(pool: &DbPool, budget_secs: u64) -> Result<usize, String> {
    let mut conn = pool.get().await.map_err(|err| err.to_string())?;
    let stopped = analysis::expire_running(&mut conn, Duration::from_secs(budget_secs))
        .await
        .map_err(|err| err.to_string())?;
    Ok(stopped.len())
}

/// Takes over analyses whose lease lapsed, each in its own task; answers how many it found.
/// The claim decides: of several workers sweeping at once, one takes each analysis.
pub async fn take_over_lapsed(pool: &DbPool, investigator: &Investigator) -> Result<usize, String> {
    let mut conn = pool.get().await.map_err(|err| err.to_string())?;
    let lapsed = analysis::lapsed_leases(&mut conn, lease::LEASE, i64::MAX)
        .await
        .map_err(|err| err.to_string())?;
    for incident_id in &lapsed {
        let investigator = investigator.clone();
        let incident_id = *incident_id;
        tokio::spawn(async move {
            if let Err(err) = investigator.investigate(incident_id).await {
                tracing::warn!(%incident_id, error = %err, "taking over the analysis failed; the next sweep retries");
            }
        });
    }
    Ok(lapsed.len())
}

/// Sweeps every [`CHECK_EVERY`] until `shutdown`.
pub async fn run(
    pool: DbPool,
    budget_secs: u64,
    investigator: Investigator,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        match sweep(&pool, budget_secs).await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                budget_secs,
                "stopped analyses past their time budget"
            ),
            Err(err) => tracing::warn!(error = %err, "checking analysis budgets failed; retrying"),
        }
        match take_over_lapsed(&pool, &investigator).await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                "taking over analyses whose worker stopped renewing its claim"
            ),
            Err(err) => tracing::warn!(error = %err, "checking analysis leases failed; retrying"),
        }
    }
}
