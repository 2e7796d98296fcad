//! What an attempt leaves behind: its outcome written whole when it completes, or the claim
//! given up (with the reason) when the database failed under it.

use aurora_db::analysis::{self, Lease};
use aurora_db::{AsyncConnection, PooledConnection, QueryError, events, incidents, time};
use aurora_domain::IncidentStatus;
use uuid::Uuid;

/// What an attempt concluded, to be written when it completes.
pub(crate) struct Outcome<'a> {
    /// The chat session the summary is added to.
    pub session_id: Uuid,
    /// The built-in analysis, for its suggestions and hypotheses.
    pub analysis: &'a aurora_rca::Analysis,
    /// The summary to keep.
    pub summary: &'a str,
    /// How long the worker took, for the completion event.
    pub worker_ms: f64,
}

/// Writes the outcome whole or not at all, and only for the attempt holding the claim:
/// completion first, so a stopped or taken-over attempt writes nothing. Answers the
/// `analysis_completed` event's id, `None` when the attempt no longer holds the analysis.
pub(crate) async fn complete(
    conn: &mut PooledConnection,
    incident: &incidents::Incident,
    lease: Lease,
    outcome: Outcome<'_>,
) -> Result<Option<i64>, QueryError> {
    conn.transaction(async |conn| {
        let Some(completed) = analysis::complete(conn, lease, outcome.summary).await? else {
            return Ok(None);
        };
        let causes: Vec<analysis::RankedCause<'_>> = outcome
            .analysis
            .hypotheses
            .iter()
            .map(|h| (h.cause.as_str(), h.confidence, h.evidence.as_slice()))
            .collect();
        analysis::replace_hypotheses(conn, incident.id, &causes).await?;
        for suggestion in &outcome.analysis.suggestions {
            let risk = suggestion.risk.to_string();
            analysis::add_suggestion(
                conn,
                incident.id,
                &suggestion.title,
                &suggestion.detail,
                &risk,
            )
            .await?;
        }
        analysis::add_chat_message(conn, outcome.session_id, "assistant", outcome.summary).await?;
        if completed.status == IncidentStatus::Investigating.as_str() {
            incidents::transition(conn, &completed, IncidentStatus::Analyzed, time::now()).await?;
        }
        let detail = serde_json::json!({
            "hypotheses": outcome.analysis.hypotheses.len(),
            "worker_ms": outcome.worker_ms,
        });
        Ok(Some(
            events::record(conn, incident.id, "analysis_completed", detail)
                .await?
                .id,
        ))
    })
    .await
}

/// Leaves the reason where people look and gives the claim up, so the analysis is taken over
/// and run again rather than failed for a passing outage. Best effort: the database may be
/// what failed, and then the lease lapses on its own.
pub(crate) async fn release_after_failure(
    conn: &mut PooledConnection,
    lease: Lease,
    err: &QueryError,
) {
    let incident_id = lease.incident_id;
    tracing::error!(%incident_id, error = %err, "analysis interrupted; it will be taken over");
    let reason = format!("The analysis was interrupted ({err}); it will run again.");
    if let Err(second) = analysis::release(conn, lease, &reason).await {
        tracing::warn!(%incident_id, error = %second, "cannot release the claim; its lease will lapse");
    }
}
