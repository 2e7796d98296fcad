//! One investigation: claim the incident once, open its chat session, gather the context,
//! write the analyst's thoughts, suggestions and summary, then mark it analyzed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aurora_bus::{Bus, HandlerError};
use aurora_db::analysis::Claim;
use aurora_db::incidents;
use aurora_db::{DbPool, PooledConnection, QueryError, analysis, events, time};
use aurora_domain::{IncidentChange, IncidentChanged, IncidentStatus, UserId};
use aurora_rca::{AlertContext, CommandEvidence, KnowledgeBase};
use chrono::Utc;
use uuid::Uuid;

use crate::commands::{CommandRunner, Planned};
use crate::context;

/// What an investigation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvestigationOutcome {
    /// This worker analysed the incident.
    Completed,
    /// The incident had already been claimed (another worker, or before a redelivery).
    AlreadyClaimed,
    /// The analysis was stopped while it ran (its incident was merged into another, or it ran
    /// past its time budget).
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
    /// Longest an analysis may run before any worker stops it.
    pub analysis_budget_secs: u64,
}

impl Analyst {
    /// The built-in patterns, no dependencies, no commands.
    pub fn builtin() -> Self {
        Self {
            knowledge: KnowledgeBase::builtin(),
            dependencies: HashMap::new(),
            commands: CommandRunner::none(),
            max_concurrent_per_user: 3,
            analysis_budget_secs: 300,
        }
    }
}

/// Investigates incidents.
#[derive(Clone)]
pub struct Investigator {
    pool: DbPool,
    bus: Bus,
    analyst: Arc<Analyst>,
}

fn transient(err: impl ToString) -> HandlerError {
    HandlerError::Transient(err.to_string())
}

impl Investigator {
    /// An investigator over these connections.
    pub fn new(pool: DbPool, bus: Bus, analyst: Arc<Analyst>) -> Self {
        Self { pool, bus, analyst }
    }

    /// Investigates one incident, unless it was already claimed.
    pub async fn investigate(
        &self,
        incident_id: Uuid,
    ) -> Result<InvestigationOutcome, HandlerError> {
        let mut conn = self.pool.get().await.map_err(transient)?;
        let incident =
            match analysis::claim(&mut conn, incident_id, self.analyst.max_concurrent_per_user)
                .await
                .map_err(transient)?
            {
                Claim::Claimed(incident) => incident,
                Claim::AlreadyClaimed => {
                    tracing::info!(%incident_id, "analysis already claimed; skipping");
                    return Ok(InvestigationOutcome::AlreadyClaimed);
                }
                // Redelivered after a delay, when one of the user's analyses has finished.
                Claim::UserBusy => {
                    return Err(transient(
                        "the user has the most analyses running at once; retrying later",
                    ));
                }
            };
        let started = Instant::now();
        // Each write below commits on its own, so a person watching sees thoughts appear.
        let result: Result<Option<i64>, QueryError> = async {
            events::record(
                &mut conn,
                incident.id,
                "analysis_started",
                serde_json::json!({}),
            )
            .await?;
            let title = format!(
                "Investigation: {}",
                incident.alert_title.as_deref().unwrap_or("incident")
            );
            let session_id = analysis::start_chat_session(&mut conn, &incident, &title).await?;
            let mut context =
                context::gather(&mut conn, &incident, &self.analyst.dependencies).await?;
            context.commands = self
                .run_commands(&mut conn, incident.id, &context.alert)
                .await?;
            let result = aurora_rca::analyse(&context, &self.analyst.knowledge, Utc::now());
            for (kind, thought) in &result.thoughts {
                analysis::add_thought(&mut conn, incident.id, kind, thought).await?;
            }
            for suggestion in &result.suggestions {
                let risk = suggestion.risk.to_string();
                analysis::add_suggestion(
                    &mut conn,
                    incident.id,
                    &suggestion.title,
                    &suggestion.detail,
                    &risk,
                )
                .await?;
            }
            analysis::add_chat_message(&mut conn, session_id, "assistant", &result.summary).await?;
            let Some(completed) =
                analysis::complete(&mut conn, incident.id, &result.summary).await?
            else {
                return Ok(None);
            };
            if completed.status == IncidentStatus::Investigating.as_str() {
                incidents::transition(&mut conn, &completed, IncidentStatus::Analyzed, time::now())
                    .await?;
            }
            let detail = serde_json::json!({
                "hypotheses": result.hypotheses.len(),
                "worker_ms": started.elapsed().as_secs_f64() * 1000.0,
            });
            Ok(Some(
                events::record(&mut conn, incident.id, "analysis_completed", detail)
                    .await?
                    .id,
            ))
        }
        .await;
        match result {
            Ok(Some(event_id)) => {
                tracing::info!(%incident_id, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "analysis complete");
                self.publish_analyzed(&incident.user_id, incident_id, event_id)
                    .await;
                Ok(InvestigationOutcome::Completed)
            }
            Ok(None) => {
                tracing::info!(%incident_id, "analysis stopped while it ran (merged, or past its time budget)");
                Ok(InvestigationOutcome::Stopped)
            }
            Err(err) => {
                record_failure(&mut conn, incident_id, &err).await;
                Err(transient(err))
            }
        }
    }

    /// Runs the commands of the runbooks that match the alert, one after another, each stored
    /// in `command_runs` and announced in a thought; answers them as evidence.
    async fn run_commands(
        &self,
        conn: &mut PooledConnection,
        incident_id: Uuid,
        alert: &AlertContext,
    ) -> Result<Vec<CommandEvidence>, QueryError> {
        let mut evidence = Vec::new();
        for planned in self.analyst.commands.plan(alert) {
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
                    analysis::add_thought(conn, incident_id, "action", &thought).await?;
                    continue;
                }
            };
            analysis::add_thought(
                conn,
                incident_id,
                "action",
                &format!("Running `{}` (runbook {runbook}).", argv.join(" ")),
            )
            .await?;
            let ran = self.analyst.commands.run(&argv).await;
            let duration_ms = i32::try_from(ran.duration.as_millis()).unwrap_or(i32::MAX);
            analysis::record_command_run(
                conn,
                incident_id,
                &ran.argv,
                ran.exit_code,
                &ran.output,
                duration_ms,
                ran.started_at.naive_utc(),
            )
            .await?;
            let found = CommandEvidence {
                runbook,
                pattern,
                argv: ran.argv,
                exit_code: ran.exit_code,
                output: ran.output,
            };
            analysis::add_thought(
                conn,
                incident_id,
                "observation",
                &format!("{} in {duration_ms} ms.", found.cite()),
            )
            .await?;
            evidence.push(found);
        }
        Ok(evidence)
    }

    /// `incidents.analyzed`. Best effort: the analysis is committed, and its claim means a
    /// redelivery would not run it again to republish.
    async fn publish_analyzed(&self, user_id: &str, incident_id: Uuid, event_id: i64) {
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
            tracing::error!(%incident_id, error = %err, "cannot publish incidents.analyzed");
        }
    }
}

/// Leaves the reason where people look. Best effort: the database may be what failed.
async fn record_failure(conn: &mut PooledConnection, incident_id: Uuid, err: &QueryError) {
    tracing::error!(%incident_id, error = %err, "analysis failed");
    let reason = format!("The analysis stopped: {err}");
    if let Err(second) = analysis::fail(conn, incident_id, &reason).await {
        tracing::error!(%incident_id, error = %second, "cannot record the failed analysis");
    }
}
