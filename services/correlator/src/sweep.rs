//! What the correlator's periodic sweeps share: run one every so often until shutdown, say
//! what it did, and retry a failed one at the next tick.

use std::time::Duration;

use aurora_bus::HandlerError;
use tokio_util::sync::CancellationToken;

/// Runs `sweep` every `interval` until `shutdown`. `done` names what a count of its work is
/// (logged when not zero); a failure is logged and the sweep runs again at the next tick.
pub(crate) async fn every<F, Fut>(
    interval: Duration,
    shutdown: CancellationToken,
    done: &'static str,
    mut sweep: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, HandlerError>>,
{
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match sweep().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "{done}"),
            Err(err) => {
                tracing::warn!(error = %err, "{done}: sweep failed; retrying next interval")
            }
        }
    }
}
