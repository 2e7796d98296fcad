//! The RCA worker's run loop: a durable pull consumer on `incidents.created`, shared by all
//! replicas, so each incident goes to one worker at a time.

use std::sync::Arc;
use std::time::Duration;

use aurora_bus::{Delivery, IncidentSubject, Topology, consume};
use aurora_db::DbPool;
use aurora_domain::IncidentCreated;
use aurora_runtime::Connections;
use aurora_settings::Settings;
use tokio_util::sync::CancellationToken;

use aurora_rca::KnowledgeBase;

use crate::commands::CommandRunner;
use crate::llm::LlmAnalyst;
use crate::{Analyst, Investigator};

/// Investigations one worker runs at once (the per-user limit still applies).
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
    let budget_secs = analyst.analysis_budget_secs;
    let investigator = Investigator::new(
        connections.pool.clone(),
        leases,
        connections.bus.clone(),
        analyst,
    );
    let expiry = tokio::spawn(crate::expiry::run(
        connections.pool.clone(),
        budget_secs,
        investigator.clone(),
        shutdown.clone(),
    ));
    let dead_letters = aurora_runtime::DbDeadLetters::new(connections.pool.clone());
    let consumed = consume(
        consumer,
        &dead_letters,
        shutdown,
        // Incidents are independent; the claim makes each one analysed once.
        IN_FLIGHT,
        |delivery: Delivery<IncidentCreated>| {
            let investigator = investigator.clone();
            async move {
                investigator
                    .investigate(delivery.payload.incident_id)
                    .await
                    .map(drop)
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
        analysis_budget_secs: settings.rca.analysis_budget_secs,
        llm: settings.rca.llm.clone().map(LlmAnalyst::new),
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
