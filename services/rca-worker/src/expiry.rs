//! Analyses nobody is finishing: whichever worker notices stops those past their time budget,
//! and takes over those whose worker died (their lease lapsed), so no incident stays
//! `running` for ever.
//!
//! Takeovers run in the worker's own tasks, bounded by the slots the consumer also takes
//! (a worker runs at most that many analyses, however they reached it), and tracked, so a
//! worker told to stop finishes the takeovers it began as it finishes its messages.

use std::sync::Arc;
use std::time::Duration;

use aurora_db::analysis;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Investigator, lease};

/// How often running analyses are checked; with the 15 s lease, a dead worker's analysis is
/// taken over within 20 s.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// One worker's sweeps, and the analyses they started.
pub struct Sweeper {
    investigator: Investigator,
    slots: Arc<Semaphore>,
    started: JoinSet<()>,
}

impl Sweeper {
    /// Sweeps with `investigator`'s pool and settings; each analysis it starts holds one of
    /// `slots` until it ends.
    pub fn new(investigator: Investigator, slots: Arc<Semaphore>) -> Self {
        Self {
            investigator,
            slots,
            started: JoinSet::new(),
        }
    }

    /// Stops analyses claimed longer ago than the time budget; answers how many.
    pub async fn expire(&self) -> Result<usize, String> {
        let budget = Duration::from_secs(self.investigator.analyst().analysis_budget_secs);
        let mut conn = self
            .investigator
            .pool()
            .get()
            .await
            .map_err(|err| err.to_string())?;
        let stopped = analysis::expire_running(&mut conn, budget)
            .await
            .map_err(|err| err.to_string())?;
        Ok(stopped.len())
    }

    /// Takes over analyses whose lease lapsed, as many as there are free slots, each in its
    /// own task; answers how many it started. The claim decides: of several workers sweeping
    /// at once, one takes each analysis. Those left wait for the next sweep.
    pub async fn take_over_lapsed(&mut self) -> Result<usize, String> {
        self.forget_finished();
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let lapsed = {
            let mut conn = self
                .investigator
                .pool()
                .get()
                .await
                .map_err(|err| err.to_string())?;
            analysis::lapsed_leases(&mut conn, lease::LEASE, free as i64)
                .await
                .map_err(|err| err.to_string())?
        };
        let mut started = 0;
        for incident_id in lapsed {
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                break;
            };
            let investigator = self.investigator.clone();
            self.started.spawn(async move {
                let _slot = slot;
                if let Err(err) = investigator.investigate(incident_id).await {
                    tracing::warn!(%incident_id, error = %err, "taking over the analysis failed; the next sweep retries");
                }
            });
            started += 1;
        }
        Ok(started)
    }

    /// Waits until every analysis this sweeper started has ended.
    pub async fn finish(&mut self) {
        while let Some(ended) = self.started.join_next().await {
            log_panic(ended);
        }
    }

    fn forget_finished(&mut self) {
        while let Some(ended) = self.started.try_join_next() {
            log_panic(ended);
        }
    }
}

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(err) = ended {
        tracing::error!(error = %err, "an analysis taken over panicked");
    }
}

/// Sweeps every 5 s until `shutdown`, then waits for the analyses it started.
pub async fn run(mut sweeper: Sweeper, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        match sweeper.expire().await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(count, "stopped analyses past their time budget"),
            Err(err) => tracing::warn!(error = %err, "checking analysis budgets failed; retrying"),
        }
        match sweeper.take_over_lapsed().await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(
                count,
                "taking over analyses whose worker stopped renewing its claim"
            ),
            Err(err) => tracing::warn!(error = %err, "checking analysis leases failed; retrying"),
        }
    }
    sweeper.finish().await;
}
