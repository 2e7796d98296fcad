//! The RCA worker's run loop: a durable pull consumer on `incidents.created`, shared by all
//! replicas, so each incident goes to one worker at a time.

use std::sync::Arc;
use std::time::Duration;

use aurora_bus::{Delivery, IncidentSubject, Topology, consume};
use aurora_db::DbPool;
use aurora_domain::IncidentCreated;
use aurora_runtime::Connections;
use aurora_settings::Settings;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use aurora_rca::KnowledgeBase;

use crate::commands::CommandRunner;
use crate::expiry::{self, Sweeper};
use crate::llm::LlmAnalyst;
use crate::signals::MetricsProbe;
use crate::{Analyst, Investigator};

/// Investigations one worker runs at once, whether from the stream or taken over by its sweeps
/// (the per-user limit still applies).
const IN_FLIGHT: usize = 4;

/// How long an investigation may run before JetStream offers the event to another worker
/// (which then finds the incident already claimed).
const ACK_WAIT: Duration = Duration::from_secs(60);

/// Investigates new incidents until `shutdown` fires; an in-flight one is finished first.
/// Leases are renewed over `leases`, a pool apart from `connections.pool` (see
/// [`Investigator::new`]).
pub async fn run(
    connections: Connections,
    leases: DbPool,
    analyst: Arc<Analyst>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topology = connections.bus.topology();
    let consumer = connections
        .bus
        .durable_consumer(
            &topology.incidents_stream(),
            Topology::RCA_WORKER,
            topology.incident_subject(IncidentSubject::Created),
            ACK_WAIT,
        )
        .await?;
    let investigator = Investigator::new(
        connections.pool.clone(),
        leases,
        connections.bus.clone(),
        analyst,
    )
    .with_metrics(&connections.metrics);
    aurora_runtime::metrics::sample_consumer(
        connections.bus.clone(),
        topology.incidents_stream(),
        Topology::RCA_WORKER,
        &connections.metrics,
        shutdown.clone(),
    );
    // One budget of analyses for the stream and the sweeps alike: each analysis holds a pooled
    // connection for its length, so together they never hold more than IN_FLIGHT of them.
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let sweeper = Sweeper::new(investigator.clone(), Arc::clone(&slots));
    let slot_freed = sweeper.slot_freed();
    let expiry = tokio::spawn(expiry::run(sweeper, shutdown.clone()));
    let dead_letters = aurora_runtime::DbDeadLetters::new(&connections);
    let consumed = consume(
        consumer,
        &dead_letters,
        shutdown,
        // Incidents are independent; the claim makes each one analysed once. Every outcome but
        // a failure is acked, `Waiting` too: a waiting incident is the sweeps' to claim.
        IN_FLIGHT,
        |delivery: Delivery<IncidentCreated>| {
            let investigator = investigator.clone();
            let slots = Arc::clone(&slots);
            let slot_freed = Arc::clone(&slot_freed);
            let incident_id = delivery.payload.incident_id;
            async move {
                let slot = slots.acquire_owned().await.expect("never closed");
                let outcome = investigator
                    .investigate(incident_id)
                    .instrument(tracing::info_span!("rca.investigate", %incident_id))
                    .await
                    .map(drop);
                drop(slot);
                slot_freed.notify_one();
                outcome
            }
        },
    )
    .await;
    let _ = expiry.await;
    consumed?;
    Ok(())
}

/// The service: health endpoints on `rca_worker.bind` and the run loop, until SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let analyst = Arc::new(Analyst {
        knowledge: KnowledgeBase::with_files(&settings.rca.knowledge_files)?,
        dependencies: settings.correlation.dependencies.clone(),
        commands: CommandRunner::new(settings.rca.runbooks.clone(), settings.rca.commands.clone()),
        max_concurrent_per_user: settings.rca.max_concurrent_per_user,
        claim_idle_after_secs: settings.rca.claim_idle_after_secs,
        analysis_budget_secs: settings.rca.analysis_budget_secs,
        llm: settings.rca.llm.clone().map(LlmAnalyst::new),
        metrics: settings.rca.prometheus.clone().map(MetricsProbe::new),
    });
    let leases =
        aurora_runtime::database_pool(&settings, "rca-worker-leases", crate::lease::POOL_SIZE)?;
    aurora_runtime::run_worker(
        &settings,
        "rca-worker",
        settings.rca_worker.bind,
        |connections, shutdown| run(connections, leases, analyst, shutdown),
    )
    .await
}
