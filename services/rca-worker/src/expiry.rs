//! Analyses nobody is finishing or starting: whichever worker notices stops those past their
//! time budget, takes over those whose worker died (their lease lapsed), and claims incidents
//! left `idle` once their user has a free slot, so no incident stays `running` or `idle` for
//! ever.
//!
//! Waiting for a slot is the sweeps' business, not the stream's: an `incidents.created` event
//! whose user is at `rca.max_concurrent_per_user` is acked, and the incident stays `idle`
//! until a sweep claims it. Naking it instead would count each wait as a failed delivery (a
//! nak is a delivery to JetStream), and a burst of slow analyses would set events aside as
//! dead letters with their incidents never analysed. The sweep also catches incidents whose
//! event was never handled at all.
//!
//! Besides every 5 s, a worker looks for waiting incidents the moment one of its analyses ends
//! (a slot freed), so a user's burst is worked through at the speed of its analyses rather
//! than one sweep at a time.
//!
//! What the sweeps start runs in the worker's own tasks, bounded by the slots the consumer
//! also takes (a worker runs at most that many analyses, however they reached it), and
//! tracked, so a worker told to stop finishes them as it finishes its messages.

use std::sync::Arc;
use std::time::Duration;

use aurora_db::analysis;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use uuid::Uuid;

use crate::{Investigator, lease};

/// How often running analyses are checked; with the 15 s lease, a dead worker's analysis is
/// taken over within 20 s.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// One worker's sweeps, and the analyses they started.
pub struct Sweeper {
    investigator: Investigator,
    slots: Arc<Semaphore>,
    freed: Arc<Notify>,
    started: JoinSet<()>,
}

impl Sweeper {
    /// Sweeps with `investigator`'s pool and settings; each analysis it starts holds one of
    /// `slots` until it ends.
    pub fn new(investigator: Investigator, slots: Arc<Semaphore>) -> Self {
        Self {
            investigator,
            slots,
            freed: Arc::new(Notify::new()),
            started: JoinSet::new(),
        }
    }

    /// What to notify when an analysis of this worker ends (its slot is free again), so the
    /// incidents waiting for one are looked for at once.
    pub fn slot_freed(&self) -> Arc<Notify> {
        Arc::clone(&self.freed)
    }

    /// A connection of the analyses' pool, for one sweep's query.
    async fn connection(&self) -> Result<aurora_db::PooledConnection, String> {
        self.investigator
            .pool()
            .get()
            .await
            .map_err(|err| err.to_string())
    }

    /// Stops analyses claimed longer ago than the time budget; answers how many.
    pub async fn expire(&self) -> Result<usize, String> {
        let budget = Duration::from_secs(self.investigator.analyst().analysis_budget_secs);
        let mut conn = self.connection().await?;
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
            let mut conn = self.connection().await?;
            analysis::lapsed_leases(&mut conn, lease::LEASE, free as i64)
                .await
                .map_err(|err| err.to_string())?
        };
        Ok(self.start(
            lapsed,
            "taking over the analysis failed; the next sweep retries",
        ))
    }

    /// Claims incidents `idle` for longer than `rca.claim_idle_after_secs` whose user has a
    /// free slot, as many as this worker has free slots, each analysed in its own task;
    /// answers how many it started. Those left wait for the next sweep.
    pub async fn claim_waiting(&mut self) -> Result<usize, String> {
        self.forget_finished();
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let analyst = self.investigator.analyst();
        let waiting = {
            let mut conn = self.connection().await?;
            analysis::waiting(
                &mut conn,
                Duration::from_secs(analyst.claim_idle_after_secs),
                analyst.max_concurrent_per_user,
                lease::LEASE,
                free as i64,
            )
            .await
            .map_err(|err| err.to_string())?
        };
        Ok(self.start(
            waiting,
            "analysing a waiting incident failed; the next sweep retries",
        ))
    }

    /// Investigates each incident in its own task while a slot is free; answers how many.
    fn start(&mut self, incidents: Vec<Uuid>, on_failure: &'static str) -> usize {
        let mut started = 0;
        for incident_id in incidents {
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                break;
            };
            let investigator = self.investigator.clone();
            let freed = self.slot_freed();
            self.started.spawn(async move {
                if let Err(err) = investigator.investigate(incident_id).await {
                    tracing::warn!(%incident_id, error = %err, "{on_failure}");
                }
                drop(slot);
                freed.notify_one();
            });
            started += 1;
        }
        started
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
        tracing::error!(error = %err, "an analysis started by a sweep panicked");
    }
}

/// Sweeps every 5 s, and looks for waiting incidents whenever a slot frees, until
/// `shutdown`; then waits for the analyses it started.
pub async fn run(mut sweeper: Sweeper, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(CHECK_EVERY);
    let freed = sweeper.slot_freed();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {}
            () = freed.notified() => {
                if let Err(err) = sweeper.claim_waiting().await {
                    tracing::warn!(error = %err, "checking waiting incidents failed; retrying");
                }
                continue;
            }
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
        match sweeper.claim_waiting().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "claiming incidents that waited for a free slot"),
            Err(err) => tracing::warn!(error = %err, "checking waiting incidents failed; retrying"),
        }
    }
    sweeper.finish().await;
}
