//! Analyses past their time budget: whichever worker notices stops them, so an incident
//! whose worker died mid-analysis does not stay `running` for ever.

use std::time::Duration;

use aurora_db::{DbPool, analysis, time};
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

/// How often running analyses are checked.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Stops analyses claimed more than `budget_secs` ago; answers how many.
pub async fn sweep(pool: &DbPool, budget_secs: u64) -> Result<usize, String> {
    let mut conn = pool.get().await.map_err(|err| err.to_string())?;
    let cut = time::now() - TimeDelta::seconds(budget_secs as i64);
    let stopped = analysis::expire_running(&mut conn, cut, budget_secs)
        .await
        .map_err(|err| err.to_string())?;
    Ok(stopped.len())
}

/// Sweeps every [`CHECK_EVERY`] until `shutdown`.
pub async fn run(pool: DbPool, budget_secs: u64, shutdown: CancellationToken) {
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
    }
}
