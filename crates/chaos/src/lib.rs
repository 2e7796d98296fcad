//! What `make chaos` is built from, and what `make bench` (`crates/bench`) reuses rather than
//! copies: Aurora's services as separate processes, the `aurora` CLI, a private PostgreSQL
//! cluster and NATS server, vendor webhook bodies, and waiting on a condition with a deadline.

pub mod infra;
pub mod payload;
pub mod stack;

use std::time::{Duration, Instant};

use anyhow::bail;

/// Polls `condition` every 100 ms until it holds; an error after `limit` names `what`.
pub async fn wait_until(
    limit: Duration,
    what: &str,
    condition: impl AsyncFnMut() -> bool,
) -> anyhow::Result<()> {
    wait_until_every(Duration::from_millis(100), limit, what, condition).await
}

/// Polls `condition` every `every` until it holds; an error after `limit` names `what`. For
/// conditions that cost the system under test something to ask.
pub async fn wait_until_every(
    every: Duration,
    limit: Duration,
    what: &str,
    mut condition: impl AsyncFnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("gave up waiting {} s for {what}", limit.as_secs());
        }
        tokio::time::sleep(every).await;
    }
}
