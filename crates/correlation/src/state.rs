//! What a decision reads: one user's deliveries in receipt order, and what PostgreSQL holds
//! about the alerts, incidents and deployments they touch.

use std::collections::HashSet;

use aurora_domain::{AlertBatch, AlertStatus, AuroraStatus, IncidentStatus, Severity, SourceType};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where a delivery stands in the order Aurora accepted deliveries: JetStream's stream
/// sequence, within the life of the stream (`epoch`: its creation time), so that the first
/// messages of a recreated stream still come after everything the old one held.
///
/// An alert keeps the receipt of the last delivery applied to it; an older delivery that is
/// processed later (redelivered after a crash, or handled by another replica) is stale and
/// cannot undo what a newer one did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Receipt {
    /// When the stream was created, in microseconds since the Unix epoch.
    pub epoch: i64,
    /// The delivery's sequence in that stream.
    pub sequence: i64,
}

/// One delivery as it came off the stream.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// Its place in the order of acceptance.
    pub receipt: Receipt,
    /// The delivery.
    pub batch: &'a AlertBatch,
}

/// The alert row that currently stands for a (source, fingerprint) key: the open one if there
/// is one, else the one resolved last.
#[derive(Debug, Clone)]
pub struct StoredAlert {
    /// Row id.
    pub id: i32,
    /// The vendor.
    pub source_type: SourceType,
    /// The vendor's key.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// How bad it is: what it counts for in its incident's severity while it fires.
    pub severity: Severity,
    /// Its incident.
    pub incident_id: Option<Uuid>,
    /// When its resolve arrived.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the latest notification arrived.
    pub last_seen_at: DateTime<Utc>,
    /// The receipt of the last delivery applied to it.
    pub receipt: Receipt,
    /// The silence that kept it quiet, if one did.
    pub suppressed_by: Option<Uuid>,
}

/// How many of an incident's alerts fire at each severity, in [`Severity::ALL`]'s order. The
/// incident's severity is the highest among them, so it rises when a worse alert joins and
/// falls back only once that alert resolves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FiringBySeverity(pub [i32; 6]);

const _: () = assert!(Severity::ALL.len() == 6, "one count per severity");

impl FiringBySeverity {
    /// The counts as stored (`incidents.firing_by_severity`); missing entries count none.
    pub fn from_stored(counts: &[i32]) -> Self {
        let mut firing = Self::default();
        for (slot, count) in firing.0.iter_mut().zip(counts) {
            *slot = *count;
        }
        firing
    }

    fn slot(severity: Severity) -> usize {
        Severity::ALL
            .iter()
            .position(|s| *s == severity)
            .expect("every severity is in ALL")
    }

    /// An alert of `severity` fires.
    pub fn add(&mut self, severity: Severity) {
        self.0[Self::slot(severity)] += 1;
    }

    /// An alert of `severity` stopped firing.
    pub fn remove(&mut self, severity: Severity) {
        let count = &mut self.0[Self::slot(severity)];
        *count = (*count - 1).max(0);
    }

    /// Adds another incident's counts (a merge).
    pub fn absorb(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The highest severity with an alert firing; `None` when none fires.
    pub fn highest(&self) -> Option<Severity> {
        Severity::ALL
            .iter()
            .zip(self.0)
            .find(|(_, count)| *count > 0)
            .map(|(severity, _)| *severity)
    }
}

/// An incident the decision may change: one a stored alert belongs to, or an open candidate
/// for correlation.
#[derive(Debug, Clone)]
pub struct StoredIncident {
    /// Its id.
    pub id: Uuid,
    /// Its status.
    pub status: IncidentStatus,
    /// Its analysis' status (an alert joining a running or finished analysis gets a
    /// follow-up thought).
    pub aurora_status: Option<AuroraStatus>,
    /// Its environment; alerts correlate only within one (unknown only with unknown).
    pub environment: Option<String>,
    /// Its title.
    pub title: String,
    /// The services its alerts come from, in order of arrival.
    pub affected_services: Vec<String>,
    /// Alerts attached besides the one that opened it.
    pub correlated_alert_count: i32,
    /// Its alerts still firing.
    pub firing_alerts: i32,
    /// Its severity: the highest of its firing alerts' (or the last one, when none fires).
    pub severity: Severity,
    /// Its firing alerts by severity.
    pub firing_by_severity: FiringBySeverity,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A recent build of a service.
#[derive(Debug, Clone)]
pub struct StoredDeployment {
    /// The deployed service.
    pub service: String,
    /// The build, if numbered.
    pub build: Option<String>,
    /// True for a failed or unstable build.
    pub failed: bool,
    /// When it finished.
    pub deployed_at: DateTime<Utc>,
}

/// Everything one decision reads, loaded for one user's deliveries.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Delivery ids already processed: their redelivery changes nothing.
    pub done_deliveries: HashSet<String>,
    /// The current row of each (source, fingerprint) key the deliveries name, where one
    /// exists.
    pub alerts: Vec<StoredAlert>,
    /// The incidents of those alerts and the open candidates: the [`crate::CANDIDATE_LIMIT`]
    /// most recently updated of each of the deliveries' environments, and of those opened by
    /// each of their services and the services linked to those.
    pub incidents: Vec<StoredIncident>,
    /// Deployments of the deliveries' services and their dependencies within the deployment
    /// window, newest first, up to [`crate::decide::DEPLOYMENT_LIMIT`] per service.
    pub deployments: Vec<StoredDeployment>,
    /// The user's silences that have not ended, and those (ended too) that kept any of the
    /// loaded alerts quiet.
    pub silences: Vec<crate::Silence>,
    /// The user's heartbeats: their notifications are beats, not alerts.
    pub heartbeats: Vec<crate::Heartbeat>,
}

/// What to load for a decision on some arrivals: the keys, environments and services they
/// name, and how far back candidates and deployments reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Needs<'a> {
    /// Their delivery ids.
    pub delivery_ids: Vec<&'a str>,
    /// Their (source, fingerprint) keys, each once.
    pub keys: Vec<(SourceType, &'a str)>,
    /// The known environments of their alerts, each once.
    pub environments: Vec<&'a str>,
    /// True when one of their alerts has no environment.
    pub unknown_environment: bool,
    /// Their services and the services those depend on, each once: whose deployments count.
    pub services: Vec<&'a str>,
    /// Their services and the services linked to those in the dependency graph, each once:
    /// whose open incidents are candidates.
    pub related_services: Vec<&'a str>,
    /// Incidents updated before this are no candidates for any of them.
    pub candidates_since: DateTime<Utc>,
    /// Deployments before this are evidence for none of them.
    pub deployments_since: DateTime<Utc>,
}

impl<'a> Needs<'a> {
    /// Nothing: no rows, no candidates, no deployments.
    fn nothing() -> Self {
        Needs {
            delivery_ids: Vec::new(),
            keys: Vec::new(),
            environments: Vec::new(),
            unknown_environment: false,
            services: Vec::new(),
            related_services: Vec::new(),
            candidates_since: DateTime::<Utc>::MAX_UTC,
            deployments_since: DateTime::<Utc>::MAX_UTC,
        }
    }

    /// What resolving the stored alerts of `keys` reads: those rows and their incidents.
    pub fn of_keys(keys: Vec<(SourceType, &'a str)>) -> Self {
        Needs {
            keys,
            ..Self::nothing()
        }
    }

    /// What deciding `arrivals` under `rules` reads.
    pub fn of(rules: &'a crate::Rules, arrivals: &[Arrival<'a>]) -> Self {
        let mut needs = Self::nothing();
        let mut keys = HashSet::new();
        let mut environments = HashSet::new();
        let mut services = HashSet::new();
        let mut related = HashSet::new();
        let deployment_window =
            chrono::TimeDelta::seconds(rules.settings.deployment_window_secs as i64);
        for arrival in arrivals {
            let batch = arrival.batch;
            needs.delivery_ids.push(&batch.delivery_id);
            needs.deployments_since = needs
                .deployments_since
                .min(batch.received_at - deployment_window);
            for alert in &batch.alerts {
                let key = (alert.source_type, alert.fingerprint.as_str());
                if keys.insert(key) {
                    needs.keys.push(key);
                }
                let window = chrono::TimeDelta::seconds(
                    rules.window_secs(alert.source_type.as_str()) as i64,
                );
                needs.candidates_since = needs.candidates_since.min(batch.received_at - window);
                match alert.environment.as_deref() {
                    Some(environment) => {
                        if environments.insert(environment) {
                            needs.environments.push(environment);
                        }
                    }
                    None => needs.unknown_environment = true,
                }
                for name in crate::decide::related_services(rules, alert) {
                    if related.insert(name) {
                        needs.related_services.push(name);
                    }
                }
                if let Some(service) = alert.service.as_deref() {
                    let dependencies = rules.graph.dependencies_of(service);
                    for name in
                        std::iter::once(service).chain(dependencies.iter().map(String::as_str))
                    {
                        if services.insert(name) {
                            needs.services.push(name);
                        }
                    }
                }
            }
        }
        needs
    }
}
