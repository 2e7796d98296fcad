//! What the analyst knows about an incident, gathered by the worker.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// One alert, as the analyst reads it.
#[derive(Debug, Clone)]
pub struct AlertContext {
    /// Its row id, for citations.
    pub id: i32,
    /// The vendor.
    pub source_type: String,
    /// What fired.
    pub title: String,
    /// On Aurora's scale.
    pub severity: String,
    /// Firing or resolved.
    pub status: String,
    /// The service, if known.
    pub service: Option<String>,
    /// The environment, if known.
    pub environment: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// Link to the vendor.
    pub url: Option<String>,
    /// What the vendor says beyond the title.
    pub description: Option<String>,
    /// The vendor's runbook link.
    pub runbook_url: Option<String>,
}

/// A deployment near the incident.
#[derive(Debug, Clone)]
pub struct DeploymentContext {
    /// The deployed service.
    pub service: String,
    /// The build.
    pub build: Option<String>,
    /// `success`, `failure`, `unstable` or `aborted`.
    pub result: String,
    /// When it finished.
    pub deployed_at: DateTime<Utc>,
    /// Link to the build.
    pub url: Option<String>,
    /// The commit.
    pub commit: Option<String>,
}

/// A past incident of the same user that looks like this one.
#[derive(Debug, Clone)]
pub struct PastIncident {
    /// Its id, for citations.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When it opened.
    pub started_at: DateTime<Utc>,
    /// Its summary, if it had one.
    pub summary: Option<String>,
    /// How it ended (`resolved`, `merged` …).
    pub status: String,
}

/// Everything gathered for one incident.
#[derive(Debug, Clone)]
pub struct IncidentContext {
    /// The alert that opened it.
    pub alert: AlertContext,
    /// The other alerts correlated with it.
    pub correlated: Vec<AlertContext>,
    /// Deployments of its service and of the services it depends on, before the alert.
    pub deployments: Vec<DeploymentContext>,
    /// Similar past incidents, newest first.
    pub similar: Vec<PastIncident>,
    /// Diagnostic commands run for this incident.
    pub commands: Vec<CommandEvidence>,
    /// What Prometheus showed around the alert, when it was queried.
    pub metrics: Option<crate::MetricEvidence>,
}

impl IncidentContext {
    /// The ids of the alerts it holds: the first, then the correlated ones.
    pub fn alert_ids(&self) -> Vec<i32> {
        std::iter::once(self.alert.id)
            .chain(self.correlated.iter().map(|a| a.id))
            .collect()
    }
}

/// A diagnostic command that ran, as evidence.
#[derive(Debug, Clone)]
pub struct CommandEvidence {
    /// The runbook it came from.
    pub runbook: String,
    /// The knowledge pattern its output is evidence for, if the runbook names one.
    pub pattern: Option<String>,
    /// The argument list.
    pub argv: Vec<String>,
    /// Exit code; `None` when killed (time limit, output cap).
    pub exit_code: Option<i32>,
    /// Captured output (capped).
    pub output: String,
}

impl CommandEvidence {
    /// `` `df -h /` (exit 0): <first lines> ``, for evidence lists.
    pub fn cite(&self) -> String {
        let excerpt: Vec<&str> = self
            .output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        let exit = self
            .exit_code
            .map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
        format!(
            "command `{}` ({exit}): {}",
            self.argv.join(" "),
            if excerpt.is_empty() {
                "no output".to_owned()
            } else {
                excerpt.join(" | ")
            }
        )
    }
}
