//! Correlation: does a new firing alert belong to one of the user's open incidents?
//!
//! Candidates are the open incidents in the alert's environment (unknown matches only
//! unknown) updated within the source's window, as the state loaded them and as this decision
//! changed or opened them: the [`CANDIDATE_LIMIT`] most recently updated that affect the
//! alert's service or one linked to it in the dependency graph, and the [`CANDIDATE_LIMIT`] most
//! recently updated of the others (for title similarity). (The state loads, besides the most
//! recent of the environment, the most recent opened by each of those services.) So an
//! incident of the same service is never passed over because many others are open. Both come
//! from indexes (by service, and by environment newest first) rather than a scan, so the cost
//! per alert does not grow with the number of open incidents.

use chrono::DateTime;
use chrono::Utc;
use uuid::Uuid;

use super::DEPLOYMENT_LIMIT;
use super::Decision;
use super::incidents::IncidentSlot;
use crate::scoring::{AlertFacts, DeploymentFacts, IncidentFacts, Verdict, judge};
use crate::trigrams::Trigrams;
use aurora_domain::NormalizedAlert;

/// Most candidates scored per alert.
pub const CANDIDATE_LIMIT: usize = 50;

/// The incident an alert joins, and why.
pub(super) struct Match {
    pub incident_id: Uuid,
    pub verdict: Verdict,
}

impl Decision<'_> {
    /// The best open incident for `alert` (received at `at`) at or above the threshold, if
    /// any; full incidents (at `max_alerts_per_incident`) are passed over.
    pub(super) fn best_match(
        &mut self,
        alert: &NormalizedAlert,
        at: DateTime<Utc>,
    ) -> Option<Match> {
        self.incidents.reindex();
        let since = at - self.window(alert.source_type);
        let related = related_services(self.rules, alert);
        let candidate = |incident: &&IncidentSlot| {
            incident.is_open()
                && incident.environment == alert.environment
                && incident.row.updated_at >= since
        };
        let mut near: Vec<&IncidentSlot> = self
            .incidents
            .affecting(&related)
            .into_iter()
            .filter(candidate)
            .collect();
        near.sort_by_key(|incident| std::cmp::Reverse(incident.row.updated_at));
        near.truncate(CANDIDATE_LIMIT);
        let others = self
            .incidents
            .newest_in(&alert.environment)
            .take_while(|incident| incident.row.updated_at >= since)
            .filter(candidate)
            .filter(|incident| {
                !incident
                    .row
                    .affected_services
                    .iter()
                    .any(|service| related.contains(&service.as_str()))
            })
            .take(CANDIDATE_LIMIT);
        let candidates: Vec<&IncidentSlot> = near.into_iter().chain(others).collect();
        if candidates.is_empty() {
            return None;
        }
        let deployments = self.deployments_for(alert, at);
        let trigrams = Trigrams::of(&alert.title);
        let alert_facts = AlertFacts {
            service: alert.service.as_deref(),
            title: &alert.title,
            trigrams: &trigrams,
            at,
        };
        let source = alert.source_type.as_str();
        let window_secs = self.rules.window_secs(source);
        let max_alerts = self.rules.settings.max_alerts_per_incident;
        candidates
            .into_iter()
            .filter(|incident| incident.row.correlated_alert_count + 1 < max_alerts)
            .filter_map(|incident| {
                let facts = IncidentFacts {
                    services: &incident.row.affected_services,
                    title: &incident.title,
                    trigrams: &incident.trigrams,
                    alert_count: incident.row.correlated_alert_count + 1,
                    created_at: incident.created_at,
                    updated_at: incident.row.updated_at,
                };
                let verdict = judge(self.rules, &alert_facts, &facts, &deployments, window_secs)?;
                Some(Match {
                    incident_id: incident.id,
                    verdict,
                })
            })
            .max_by(|a, b| a.verdict.combined.total_cmp(&b.verdict.combined))
            .filter(|found| found.verdict.combined >= self.rules.threshold(source))
    }

    /// The newest deployments of the alert's service and its dependencies within the
    /// deployment window before `at`.
    fn deployments_for(
        &self,
        alert: &NormalizedAlert,
        at: DateTime<Utc>,
    ) -> Vec<DeploymentFacts<'_>> {
        let Some(service) = alert.service.as_deref() else {
            return Vec::new();
        };
        let dependencies = self.rules.graph.dependencies_of(service);
        let since =
            at - chrono::TimeDelta::seconds(self.rules.settings.deployment_window_secs as i64);
        let mut facts: Vec<DeploymentFacts<'_>> = self
            .deployments
            .iter()
            .filter(|d| d.deployed_at >= since)
            .filter(|d| d.service == service || dependencies.contains(&d.service))
            .map(|d| DeploymentFacts {
                service: &d.service,
                build: d.build.as_deref(),
                failed: d.failed,
                at: d.deployed_at,
            })
            .collect();
        facts.sort_by_key(|deployment| std::cmp::Reverse(deployment.at));
        facts.truncate(DEPLOYMENT_LIMIT);
        facts
    }
}

/// The alert's service and the services linked to it within the topology's reach.
pub(crate) fn related_services<'r>(
    rules: &'r crate::Rules,
    alert: &'r NormalizedAlert,
) -> Vec<&'r str> {
    let Some(service) = alert.service.as_deref() else {
        return Vec::new();
    };
    let mut related = rules.graph.within(service, rules.settings.max_hops);
    related.push(service);
    related
}
