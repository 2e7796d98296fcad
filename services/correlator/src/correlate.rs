//! The correlation step: does a new firing alert belong to one of the user's open incidents?
//!
//! Candidates come from one indexed query (same user, same environment — unknown matches only
//! unknown — updated within the window, newest first, at most [`CANDIDATE_LIMIT`]), so the
//! cost per alert does not grow with the number of open incidents.

use aurora_db::incidents::Incident;
use aurora_db::{AsyncPgConnection, QueryResult, deployments, incidents, time};
use aurora_domain::{DeploymentResult, NormalizedAlert, UserId};
use chrono::{DateTime, TimeDelta, Utc};

use crate::scoring::{AlertFacts, DeploymentFacts, IncidentFacts, Rules, Verdict, judge};

/// Most candidates scored per alert.
pub const CANDIDATE_LIMIT: i64 = 50;

/// The incident an alert joins, and why.
#[derive(Debug)]
pub struct Match {
    /// The incident.
    pub incident: Incident,
    /// The scores.
    pub verdict: Verdict,
}

/// The best open incident for `alert` at or above the threshold, if any; full incidents
/// (at `max_alerts_per_incident`) are passed over.
pub async fn best_match(
    conn: &mut AsyncPgConnection,
    rules: &Rules,
    user_id: &UserId,
    alert: &NormalizedAlert,
    at: DateTime<Utc>,
) -> QueryResult<Option<Match>> {
    let source = alert.source_type.as_str();
    let window_secs = rules.window_secs(source);
    let since = (at - TimeDelta::seconds(window_secs as i64)).naive_utc();
    let candidates = incidents::open_candidates(
        conn,
        user_id,
        alert.environment.as_deref(),
        since,
        CANDIDATE_LIMIT,
    )
    .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let deployments = match &alert.service {
        Some(service) => {
            let mut services = vec![service.clone()];
            services.extend(rules.graph.dependencies_of(service).iter().cloned());
            let since =
                (at - TimeDelta::seconds(rules.settings.deployment_window_secs as i64)).naive_utc();
            deployments::recent_for_services(conn, user_id, &services, since).await?
        }
        None => Vec::new(),
    };
    let deployment_facts: Vec<DeploymentFacts<'_>> = deployments
        .iter()
        .map(|d| DeploymentFacts {
            service: &d.service,
            build: d.build_number.as_deref(),
            failed: [
                DeploymentResult::Failure.as_str(),
                DeploymentResult::Unstable.as_str(),
            ]
            .contains(&d.result.as_str()),
            at: time::to_utc(d.deployed_at),
        })
        .collect();
    let alert_facts = AlertFacts {
        service: alert.service.as_deref(),
        title: &alert.title,
        at,
    };
    let threshold = rules.threshold(source);
    let best = candidates
        .into_iter()
        .filter(|incident| {
            incident.correlated_alert_count + 1 < rules.settings.max_alerts_per_incident
        })
        .filter_map(|incident| {
            let facts = IncidentFacts {
                services: &incident.affected_services,
                title: incident.alert_title.as_deref().unwrap_or(""),
                alert_count: incident.correlated_alert_count + 1,
                created_at: time::to_utc(incident.created_at.unwrap_or(incident.started_at)),
                updated_at: time::to_utc(incident.updated_at.unwrap_or(incident.started_at)),
            };
            let verdict = judge(rules, &alert_facts, &facts, &deployment_facts, window_secs)?;
            Some(Match { incident, verdict })
        })
        .max_by(|a, b| a.verdict.combined.total_cmp(&b.verdict.combined));
    Ok(best.filter(|m| m.verdict.combined >= threshold))
}
