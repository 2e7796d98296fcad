//! Names of streams, subjects and consumers: the bus contract listed in `proto/README.md`.

use aurora_domain::SourceType;

/// The subjects of the `INCIDENTS` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentSubject {
    /// A new incident was committed.
    Created,
    /// An alert was attached to an open incident.
    Correlated,
    /// An incident changed.
    Updated,
    /// An incident resolved.
    Resolved,
    /// An incident was merged into another.
    Merged,
    /// An analysis finished.
    Analyzed,
}

impl IncidentSubject {
    /// The subject a change is published on.
    pub fn for_change(change: aurora_domain::IncidentChange) -> Self {
        use aurora_domain::IncidentChange;
        match change {
            IncidentChange::Correlated => IncidentSubject::Correlated,
            IncidentChange::Updated => IncidentSubject::Updated,
            IncidentChange::Resolved => IncidentSubject::Resolved,
            IncidentChange::Merged => IncidentSubject::Merged,
            IncidentChange::Analyzed => IncidentSubject::Analyzed,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            IncidentSubject::Created => "created",
            IncidentSubject::Correlated => "correlated",
            IncidentSubject::Updated => "updated",
            IncidentSubject::Resolved => "resolved",
            IncidentSubject::Merged => "merged",
            IncidentSubject::Analyzed => "analyzed",
        }
    }
}

/// A prefix that would make an invalid subject or stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bus prefix `{0}` must be 1 to 32 ASCII letters, digits or `_`")]
pub struct TopologyError(String);

/// The names of Aurora's streams, subjects and durable consumers.
///
/// Production uses no prefix (`ALERTS`, `alerts.grafana`). A prefix gives an isolated set of
/// names on a shared server (`t1a2b_ALERTS`, `t1a2b.alerts.grafana`), which is how every test
/// gets streams of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    prefix: Option<String>,
}

impl Topology {
    /// The durable consumer of the correlator on `ALERTS`.
    pub const CORRELATOR: &'static str = "correlator";
    /// The durable consumer of the RCA workers on `incidents.created`.
    pub const RCA_WORKER: &'static str = "rca-worker";
    /// The durable consumer of the notifiers on every incident subject.
    pub const NOTIFIER: &'static str = "notifier";

    /// Names with an optional prefix; an empty prefix is none.
    pub fn new(prefix: Option<&str>) -> Result<Self, TopologyError> {
        match prefix.filter(|p| !p.is_empty()) {
            None => Ok(Self { prefix: None }),
            Some(p)
                if p.len() <= 32 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                Ok(Self {
                    prefix: Some(p.to_owned()),
                })
            }
            Some(p) => Err(TopologyError(p.to_owned())),
        }
    }

    fn stream(&self, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}_{name}"),
            None => name.to_owned(),
        }
    }

    fn subject(&self, subject: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{subject}"),
            None => subject.to_owned(),
        }
    }

    /// Stream of accepted webhook deliveries.
    pub fn alerts_stream(&self) -> String {
        self.stream("ALERTS")
    }

    /// Where deliveries from one source are published.
    pub fn alert_subject(&self, source: SourceType) -> String {
        self.subject(&format!("alerts.{}", source.as_str()))
    }

    /// Every alert subject: the `ALERTS` stream's filter.
    pub fn all_alert_subjects(&self) -> String {
        self.subject("alerts.*")
    }

    /// Stream of incident events.
    pub fn incidents_stream(&self) -> String {
        self.stream("INCIDENTS")
    }

    /// Where one kind of incident event is published.
    pub fn incident_subject(&self, subject: IncidentSubject) -> String {
        self.subject(&format!("incidents.{}", subject.suffix()))
    }

    /// Every incident subject: the `INCIDENTS` stream's filter.
    pub fn all_incident_subjects(&self) -> String {
        self.subject("incidents.*")
    }

    /// Where revocations and secret rotations are announced to every ingress (core NATS, no
    /// stream: a change is only news to the processes running now).
    pub fn integration_changes_subject(&self) -> String {
        self.subject("integrations.changed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_have_no_prefix() {
        let names = Topology::new(None).unwrap();
        assert_eq!(names.alerts_stream(), "ALERTS");
        assert_eq!(names.alert_subject(SourceType::Grafana), "alerts.grafana");
        assert_eq!(
            names.incident_subject(IncidentSubject::Created),
            "incidents.created"
        );
        assert_eq!(Topology::new(Some("")).unwrap(), names);
    }

    #[test]
    fn a_prefix_isolates_every_name() {
        let names = Topology::new(Some("t42")).unwrap();
        assert_eq!(names.incidents_stream(), "t42_INCIDENTS");
        assert_eq!(names.all_alert_subjects(), "t42.alerts.*");
    }

    #[test]
    fn a_prefix_that_would_break_a_subject_is_refused() {
        assert!(Topology::new(Some("a.b")).is_err());
        assert!(Topology::new(Some("a*")).is_err());
    }
}
