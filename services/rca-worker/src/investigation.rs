//! One investigation: claim the incident once, open its chat session, gather the context,
//! write the analyst's thoughts, suggestions and summary, then mark it analyzed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aurora_bus::{Bus, HandlerError};
use aurora_db::analysis::{Claim, Lease};
use aurora_db::{AsyncConnection, DbPool, PooledConnection, QueryError, analysis, events};
use aurora_domain::{IncidentChange, IncidentChanged, UserId};
use aurora_rca::{CommandEvidence, KnowledgeBase};
use chrono::Utc;
use uuid::Uuid;

use crate::commands::{CommandRunner, Planned};
use crate::context;
use crate::lease::{self, Interrupted};
use crate::llm::{Alerts, LlmAnalyst, LlmError};
use crate::metrics::RcaMetrics;
use crate::outcome::{Outcome, complete, release_after_failure};
use crate::signals::MetricsProbe;

/// What an investigation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvestigationOutcome {
    /// This worker analysed the incident.
    Completed,
    /// The incident had already been claimed (another worker, or before a redelivery).
    AlreadyClaimed,
    /// Its user has the most analyses running at once: the incident stays `idle`, and a sweep
    /// claims it once one of them has ended (see [`crate::expiry`]).
    Waiting,
    /// The analysis was stopped while it ran (its incident was merged into another, or it ran
    /// past its time budget), or another worker took it over (this worker's lease lapsed): this
    /// attempt stopped without writing anything more.
    Stopped,
}

/// What the built-in analyst knows and may do: failure patterns, the service dependency
/// graph, and the configured diagnostic commands.
#[derive(Debug, Clone)]
pub struct Analyst {
    /// Failure patterns.
    pub knowledge: KnowledgeBase,
    /// Service → the services it depends on (`correlation.dependencies`).
    pub dependencies: HashMap<String, Vec<String>>,
    /// Runbook commands; none unless configured.
    pub commands: CommandRunner,
    /// Analyses one user may have running at once.
    pub max_concurrent_per_user: i64,
    /// How long an incident stays `idle` before the sweeps claim it (`rca.claim_idle_after_secs`).
    pub claim_idle_after_secs: u64,
    /// Longest an analysis may run before any worker stops it.
    pub analysis_budget_secs: u64,
    /// The language-model analyst, when one is configured.
    pub llm: Option<LlmAnalyst>,
    /// Evidence from Prometheus, when one is configured.
    pub metrics: Option<MetricsProbe>,
}

impl Analyst {
    /// The built-in patterns, no dependencies, no commands.
    pub fn builtin() -> Self {
        Self {
            knowledge: KnowledgeBase::builtin(),
            dependencies: HashMap::new(),
            commands: CommandRunner::none(),
            max_concurrent_per_user: 3,
            claim_idle_after_secs: 2,
            analysis_budget_secs: 300,
            llm: None,
            metrics: None,
        }
    }
}

/// Investigates incidents.
#[derive(Clone)]
pub struct Investigator {
    pool: DbPool,
    leases: DbPool,
    bus: Bus,
    analyst: Arc<Analyst>,
    metrics: RcaMetrics,
}

fn transient(err: impl ToString) -> HandlerError {
    HandlerError::Transient(err.to_string())
}

impl Investigator {
    /// An investigator whose analyses work over `pool` and renew their leases over `leases`,
    /// a small pool of its own (see [`lease::POOL_SIZE`]), so renewals never wait behind
    /// analyses for a connection.
    pub fn new(pool: DbPool, leases: DbPool, bus: Bus, analyst: Arc<Analyst>) -> Self {
        Self {
            pool,
            leases,
            bus,
            analyst,
            metrics: RcaMetrics::new(),
        }
    }

    /// The same, its analyses and commands counted in `registry`.
    pub fn with_metrics(self, registry: &prometheus::Registry) -> Self {
        self.metrics
            .register(registry, self.analyst.commands.runs_metric());
        self
    }

    /// What it knows and may do.
    pub fn analyst(&self) -> &Analyst {
        &self.analyst
    }

    /// The pool its analyses work over.
    pub(crate) fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Investigates one incident, unless it was already claimed; counted.
    pub async fn investigate(
        &self,
        incident_id: Uuid,
    ) -> Result<InvestigationOutcome, HandlerError> {
        let started = std::time::Instant::now();
        let outcome = self.attempt(incident_id).await;
        let analyst = if self.analyst.llm.is_some() {
            "llm"
        } else {
            "builtin"
        };
        self.metrics.attempted(analyst, &outcome, started.elapsed());
        outcome
    }

    async fn attempt(&self, incident_id: Uuid) -> Result<InvestigationOutcome, HandlerError> {
        let mut conn = self.pool.get().await.map_err(transient)?;
        let claim = analysis::claim(
            &mut conn,
            incident_id,
            self.analyst.max_concurrent_per_user,
            lease::LEASE,
        )
        .await
        .map_err(transient)?;
        let (incident, lease, taken_over) = match claim {
            Claim::Claimed(incident, lease) => (incident, lease, false),
            Claim::TakenOver(incident, lease) => (incident, lease, true),
            Claim::AlreadyClaimed => {
                tracing::info!(%incident_id, "analysis already claimed; skipping");
                return Ok(InvestigationOutcome::AlreadyClaimed);
            }
            // Not a failure, so not an error: the event's redeliveries are for failures, and
            // JetStream counts every delivery, naked or not, towards the dead-letter limit. A
            // burst of slow analyses would spend that budget only waiting and leave incidents
            // `idle` for good. The incident stays `idle` instead, and the sweeps claim it as
            // soon as its user has a free slot.
            Claim::UserBusy => {
                tracing::info!(%incident_id, "the user has the most analyses running at once; the incident waits for a sweep");
                return Ok(InvestigationOutcome::Waiting);
            }
        };
        let started = Instant::now();
        let renewal = lease::Renewal::start(self.leases.clone(), lease);
        let lost = renewal.lost();
        // Each step below commits on its own, so a person watching sees thoughts appear. Every
        // write is made under the lease (the database refuses it once the lease is lost), and
        // the analysis is dropped as soon as a renewal finds the lease lost, which kills a
        // running command and stops the language model's stream.
        let attempt = async {
            if taken_over {
                tracing::warn!(%incident_id, "analysis taken over from a worker that stopped renewing its claim");
                let note = "The worker analysing this incident stopped renewing its claim (it died or lost its connection); analysing it again.";
                lease::add_thought(&mut conn, lease, "error", note).await?;
            }
            let title = format!(
                "Investigation: {}",
                incident.alert_title.as_deref().unwrap_or("incident")
            );
            let session_id = conn
                .transaction(async |conn| {
                    if !analysis::hold(conn, lease).await? {
                        return Ok::<_, QueryError>(None);
                    }
                    events::record(conn, incident.id, "analysis_started", serde_json::json!({}))
                        .await?;
                    analysis::start_chat_session(conn, &incident, &title)
                        .await
                        .map(Some)
                })
                .await?
                .ok_or(Interrupted::LeaseLost)?;
            let (result, summary) = self.analyse(&mut conn, &incident, lease).await?;
            Ok::<_, Interrupted>((session_id, result, summary))
        };
        let analysed = tokio::select! {
            biased;
            analysed = attempt => Some(analysed),
            () = lost.cancelled() => None,
        };
        // Renewals end before the completion, so none can find the analysis complete, take
        // that for a lost lease and cut the completion short. The lease, renewed at most 5 s
        // ago, outlasts the completion, which checks it under lock anyway.
        drop(renewal);
        let Some(analysed) = analysed else {
            // Dropped mid-step: whatever its connection was doing is abandoned with the
            // connection, which is closed rather than handed back to the pool.
            drop(PooledConnection::take(conn));
            tracing::info!(%incident_id, "analysis lease lost while working; this attempt stopped");
            return Ok(InvestigationOutcome::Stopped);
        };
        let completed = match analysed {
            Ok((session_id, result, summary)) => {
                let outcome = Outcome {
                    session_id,
                    analysis: &result,
                    summary: &summary,
                    worker_ms: started.elapsed().as_secs_f64() * 1000.0,
                };
                complete(&mut conn, &incident, lease, outcome)
                    .await
                    .map_err(Interrupted::from)
            }
            Err(interrupted) => Err(interrupted),
        };
        match completed {
            Ok(Some(event_id)) => {
                tracing::info!(%incident_id, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "analysis complete");
                self.publish_analyzed(&mut conn, &incident.user_id, incident_id, event_id)
                    .await;
                Ok(InvestigationOutcome::Completed)
            }
            Ok(None) | Err(Interrupted::LeaseLost) => {
                tracing::info!(%incident_id, "analysis stopped while it ran (merged, past its time budget, or taken over)");
                Ok(InvestigationOutcome::Stopped)
            }
            Err(Interrupted::Database(err)) => {
                release_after_failure(&mut conn, lease, &err).await;
                Err(transient(err))
            }
        }
    }

    /// The analysis proper: the built-in analyst, or the language-model analyst with the
    /// built-in one as its hints and its fallback. Answers the built-in analysis (for its
    /// suggestions) and the summary to keep.
    async fn analyse(
        &self,
        conn: &mut PooledConnection,
        incident: &aurora_db::incidents::Incident,
        lease: Lease,
    ) -> Result<(aurora_rca::Analysis, String), Interrupted> {
        let mut context = context::gather(conn, incident, &self.analyst.dependencies).await?;
        let planned = self
            .analyst
            .commands
            .plan(&incident.user_id, &context.alert);
        if let Some(probe) = &self.analyst.metrics {
            context.metrics = probe.gather(&incident.user_id, &context.alert).await;
        }
        let builtin = |context: &aurora_rca::IncidentContext| {
            aurora_rca::analyse(context, &self.analyst.knowledge, Utc::now())
        };
        if let Some(llm) = &self.analyst.llm {
            let hints = builtin(&context);
            let facts = serde_json::json!({
                "alert": context::alert_json(&context.alert),
                "raw_payload": context::raw_payload(conn, incident).await?,
                "correlated_alerts": context.correlated.iter().map(context::alert_json).collect::<Vec<_>>(),
                "deployments_before": context.deployments.iter().map(|d| serde_json::json!({
                    "service": d.service, "build": d.build, "result": d.result, "finished_at": d.deployed_at, "commit": d.commit,
                })).collect::<Vec<_>>(),
                "similar_past_incidents": context.similar.iter().map(|p| serde_json::json!({
                    "id": p.id, "title": p.title, "status": p.status, "summary": p.summary,
                })).collect::<Vec<_>>(),
                "metrics": context.metrics.as_ref().map(metrics_json),
                "built_in_hypotheses": hints.hypotheses.iter().map(|h| serde_json::json!({
                    "cause": h.cause, "confidence": h.confidence, "evidence": h.evidence,
                })).collect::<Vec<_>>(),
            });
            let tools: Vec<(String, Vec<String>)> = planned
                .iter()
                .filter_map(|p| match p {
                    Planned::Run { argv, .. } => Some((argv.join(" "), argv.clone())),
                    Planned::Refused { .. } => None,
                })
                .collect();
            let mut alerts = Alerts {
                incident_id: incident.id,
                known: context.alert_ids(),
                joined: Vec::new(),
            };
            let analysed = llm
                .analyse(
                    conn,
                    lease,
                    &facts,
                    &tools,
                    &self.analyst.commands,
                    &mut alerts,
                )
                .await;
            // What the model was given joins the context, whatever became of the model.
            let given = !alerts.joined.is_empty();
            context.correlated.extend(alerts.joined);
            match analysed {
                Ok(outcome) => {
                    let note = format!(
                        "The language-model analyst finished: {} diagnostic command(s), about {} tokens.",
                        outcome.tool_calls, outcome.tokens
                    );
                    lease::add_thought(conn, lease, "conclusion", &note).await?;
                    // The stored hypotheses account for what joined while the model worked,
                    // its last round included.
                    let late = read_joined(conn, lease, incident.id, &mut context).await?;
                    let hints = if given || late {
                        builtin(&context)
                    } else {
                        hints
                    };
                    return Ok((hints, outcome.summary));
                }
                Err(LlmError::Interrupted(interrupted)) => return Err(interrupted),
                Err(err) => {
                    let reason = format!(
                        "The language-model analyst failed ({err}); falling back to the built-in analyst."
                    );
                    lease::add_thought(conn, lease, "error", &reason).await?;
                }
            }
        }
        context.commands = self.run_commands(conn, lease, planned).await?;
        read_joined(conn, lease, incident.id, &mut context).await?;
        let result = builtin(&context);
        lease::add_thoughts(conn, lease, &result.thoughts).await?;
        let summary = result.summary.clone();
        Ok((result, summary))
    }

    /// Runs the commands of the runbooks that match the alert, one after another, each stored
    /// in `command_runs` and announced in a thought; answers them as evidence. Each command
    /// starts only after its announcement was written under the lease, so an attempt that lost
    /// its lease starts none.
    async fn run_commands(
        &self,
        conn: &mut PooledConnection,
        lease: Lease,
        planned: Vec<Planned>,
    ) -> Result<Vec<CommandEvidence>, Interrupted> {
        let mut evidence = Vec::new();
        for planned in planned {
            let (runbook, pattern, argv) = match planned {
                Planned::Run {
                    runbook,
                    pattern,
                    argv,
                } => (runbook, pattern, argv),
                Planned::Refused {
                    runbook,
                    template,
                    reason,
                } => {
                    let thought = format!(
                        "Did not run `{}` (runbook {runbook}): {reason}.",
                        template.join(" ")
                    );
                    lease::add_thought(conn, lease, "action", &thought).await?;
                    continue;
                }
            };
            lease::add_thought(
                conn,
                lease,
                "action",
                &format!("Running `{}` (runbook {runbook}).", argv.join(" ")),
            )
            .await?;
            let ran = self
                .analyst
                .commands
                .run_recorded(conn, lease, &argv)
                .await?;
            let duration_ms = ran.duration_ms();
            let found = CommandEvidence {
                runbook,
                pattern,
                argv: ran.argv,
                exit_code: ran.exit_code,
                output: ran.output,
            };
            lease::add_thought(
                conn,
                lease,
                "observation",
                &format!("{} in {duration_ms} ms.", found.cite()),
            )
            .await?;
            evidence.push(found);
        }
        Ok(evidence)
    }

    /// `incidents.analyzed`, then its event marked published. Best effort: the analysis and
    /// its event are committed, and what is not marked the correlator's outbox relay
    /// publishes.
    /// It marks on the investigation's own connection: taking a second one while holding the
    /// first could wait for ever once every connection is held by an investigation.
    async fn publish_analyzed(
        &self,
        conn: &mut PooledConnection,
        user_id: &str,
        incident_id: Uuid,
        event_id: i64,
    ) {
        let Ok(user_id) = UserId::parse(user_id) else {
            return;
        };
        let message = IncidentChanged {
            change: IncidentChange::Analyzed,
            incident_id,
            user_id,
            event_id,
            occurred_at: Utc::now(),
        };
        if let Err(err) = self.bus.publish_incident_change(&message).await {
            tracing::error!(%incident_id, error = %err, "cannot publish incidents.analyzed; the outbox relay will");
            return;
        }
        if let Err(err) = events::mark_published(conn, &[event_id]).await {
            tracing::warn!(%incident_id, error = %err, "incidents.analyzed not marked published; the relay sends it again and JetStream drops the copy");
        }
    }
}

/// Adds the alerts that joined the incident since `context` was gathered (while commands ran,
/// metrics were read or the model worked), with a thought, so the analysis ranks with them;
/// true when any did.
async fn read_joined(
    conn: &mut PooledConnection,
    lease: Lease,
    incident_id: Uuid,
    context: &mut aurora_rca::IncidentContext,
) -> Result<bool, Interrupted> {
    let joined = context::joined(conn, incident_id, &context.alert_ids()).await?;
    if joined.is_empty() {
        return Ok(false);
    }
    lease::add_thought(conn, lease, "observation", &context::joined_note(&joined)).await?;
    context.correlated.extend(joined);
    Ok(true)
}

fn metrics_json(metrics: &aurora_rca::MetricEvidence) -> serde_json::Value {
    use aurora_rca::Reading;
    let reading = |reading: &Reading| match reading {
        Reading::Moved(m) => serde_json::json!({"moved_at": m.at, "relative_change": m.change}),
        Reading::Still => serde_json::json!("did not move"),
        Reading::NoData => serde_json::json!("no samples"),
        Reading::Failed(err) => serde_json::json!({ "query_failed": err }),
    };
    serde_json::json!({
        "prometheus": metrics.prometheus,
        "alert_expression": metrics.expression,
        "alert_expression_showed": reading(&metrics.expression_reading),
        "signals_earliest_mover_first": metrics.signals.iter().map(|s| serde_json::json!({
            "name": s.name, "query": s.query, "showed": reading(&s.reading),
        })).collect::<Vec<_>>(),
    })
}
