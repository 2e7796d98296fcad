//! One investigation: claim the incident once, open its chat session, write thoughts as they
//! come, then the summary and `complete`.

use aurora_bus::HandlerError;
use aurora_db::{DbPool, PooledConnection, QueryError, alerts, analysis, events};
use chrono::Utc;
use uuid::Uuid;

use crate::alert_facts;

/// What an investigation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvestigationOutcome {
    /// This worker analysed the incident.
    Completed,
    /// The incident had already been claimed (another worker, or before a redelivery).
    AlreadyClaimed,
    /// The analysis was stopped while it ran (its incident was merged into another).
    Stopped,
}

/// Investigates incidents.
#[derive(Clone)]
pub struct Investigator {
    pool: DbPool,
}

fn transient(err: impl ToString) -> HandlerError {
    HandlerError::Transient(err.to_string())
}

impl Investigator {
    /// An investigator over this pool.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    /// Investigates one incident, unless it was already claimed.
    pub async fn investigate(
        &self,
        incident_id: Uuid,
    ) -> Result<InvestigationOutcome, HandlerError> {
        let mut conn = self.pool.get().await.map_err(transient)?;
        let Some(incident) = analysis::claim(&mut conn, incident_id)
            .await
            .map_err(transient)?
        else {
            tracing::info!(%incident_id, "analysis already claimed; skipping");
            return Ok(InvestigationOutcome::AlreadyClaimed);
        };
        // Each write below commits on its own, so a person watching sees thoughts appear.
        let result: Result<bool, QueryError> = async {
            events::record(
                &mut conn,
                incident.id,
                "analysis_started",
                serde_json::json!({}),
            )
            .await?;
            let alert = alerts::get(&mut conn, incident.source_alert_id).await?;
            let title = format!("Investigation: {}", alert.title);
            let session_id = analysis::start_chat_session(&mut conn, &incident, &title).await?;
            let facts = alert_facts::describe(&alert, Utc::now());
            for thought in &facts.thoughts {
                analysis::add_thought(&mut conn, incident.id, "observation", thought).await?;
            }
            analysis::add_chat_message(&mut conn, session_id, "assistant", &facts.summary).await?;
            if analysis::complete(&mut conn, incident.id, &facts.summary)
                .await?
                .is_none()
            {
                return Ok(false);
            }
            events::record(
                &mut conn,
                incident.id,
                "analysis_completed",
                serde_json::json!({}),
            )
            .await?;
            Ok(true)
        }
        .await;
        match result {
            Ok(true) => {
                tracing::info!(%incident_id, "analysis complete");
                Ok(InvestigationOutcome::Completed)
            }
            Ok(false) => {
                tracing::info!(%incident_id, "analysis stopped while it ran (incident merged)");
                Ok(InvestigationOutcome::Stopped)
            }
            Err(err) => {
                record_failure(&mut conn, incident_id, &err).await;
                Err(transient(err))
            }
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
