//! The closed sets of values that alerts and incidents take.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A value outside a closed set, with the set's name so the message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {expected}")]
pub struct ParseEnumError {
    kind: &'static str,
    value: String,
    expected: String,
}

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display` and the list of values,
/// so the spelling of every value lives in exactly one place.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database and sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        kind: $kind,
                        value: value.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The monitoring tool an alert came from; also the route and the bus subject suffix.
    SourceType, "source" {
        /// Grafana unified or legacy alerting.
        Grafana => "grafana",
        /// Prometheus Alertmanager's webhook receiver.
        Alertmanager => "alertmanager",
        /// Datadog webhooks integration.
        Datadog => "datadog",
        /// Netdata Cloud webhook.
        Netdata => "netdata",
        /// PagerDuty V3 webhook subscriptions.
        Pagerduty => "pagerduty",
        /// Splunk webhook alert action.
        Splunk => "splunk",
        /// Jenkins notification plugin or pipeline deployment events.
        Jenkins => "jenkins",
        /// CloudBees CI, Jenkins-compatible.
        Cloudbees => "cloudbees",
        /// Dynatrace problem notifications.
        Dynatrace => "dynatrace",
        /// BigPanda notifications webhook.
        Bigpanda => "bigpanda",
    }
}

impl SourceType {
    /// The name people read in titles and messages ("Grafana", "PagerDuty").
    pub const fn display_name(self) -> &'static str {
        match self {
            SourceType::Grafana => "Grafana",
            SourceType::Alertmanager => "Prometheus Alertmanager",
            SourceType::Datadog => "Datadog",
            SourceType::Netdata => "Netdata",
            SourceType::Pagerduty => "PagerDuty",
            SourceType::Splunk => "Splunk",
            SourceType::Jenkins => "Jenkins",
            SourceType::Cloudbees => "CloudBees CI",
            SourceType::Dynatrace => "Dynatrace",
            SourceType::Bigpanda => "BigPanda",
        }
    }
}

string_enum! {
    /// How bad an alert is, on one scale for every vendor.
    Severity, "severity" {
        /// Service down or data at risk.
        Critical => "critical",
        /// Serious degradation.
        High => "high",
        /// Degradation worth a look soon.
        Medium => "medium",
        /// Minor.
        Low => "low",
        /// Informational.
        Info => "info",
        /// The vendor did not say.
        Unknown => "unknown",
    }
}

string_enum! {
    /// Whether the alert's condition holds.
    AlertStatus, "alert status" {
        /// The condition holds.
        Firing => "firing",
        /// The condition no longer holds.
        Resolved => "resolved",
    }
}

string_enum! {
    /// How a build ended.
    DeploymentResult, "deployment result" {
        /// Built and deployed.
        Success => "success",
        /// Failed.
        Failure => "failure",
        /// Built with test failures.
        Unstable => "unstable",
        /// Stopped before the end, or not built.
        Aborted => "aborted",
    }
}

impl DeploymentResult {
    /// True for builds that broke something (failed, or built with test failures): the
    /// strongest deployment evidence for correlation.
    pub const fn is_failure(self) -> bool {
        matches!(self, DeploymentResult::Failure | DeploymentResult::Unstable)
    }
}

string_enum! {
    /// The incident's status as people see it.
    IncidentStatus, "incident status" {
        /// Open, analysis pending or running.
        Investigating => "investigating",
        /// Open, analysis complete.
        Analyzed => "analyzed",
        /// Closed.
        Resolved => "resolved",
        /// Folded into another incident.
        Merged => "merged",
    }
}

impl IncidentStatus {
    /// True while the incident takes new alerts and can resolve.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            IncidentStatus::Investigating | IncidentStatus::Analyzed
        )
    }

    /// The one place that says which status changes are allowed: an open incident moves
    /// between investigating and analyzed, resolves, or is merged; a resolved one can be
    /// reopened (a flap, or a person); a merged one is final.
    pub const fn can_become(self, next: IncidentStatus) -> bool {
        use IncidentStatus::{Analyzed, Investigating, Merged, Resolved};
        matches!(
            (self, next),
            (Investigating, Analyzed | Resolved | Merged)
                | (Analyzed, Investigating | Resolved | Merged)
                | (Resolved, Investigating)
        )
    }
}

string_enum! {
    /// The state of Aurora's root-cause analysis of an incident.
    AuroraStatus, "analysis status" {
        /// Not started.
        Idle => "idle",
        /// Claimed by a worker.
        Running => "running",
        /// Finished with a summary.
        Complete => "complete",
        /// Stopped; the reason is in the thoughts.
        Error => "error",
    }
}

string_enum! {
    /// Which tab of the incident page is open.
    ActiveTab, "tab" {
        /// The analysis' thoughts.
        Thoughts => "thoughts",
        /// The chat with the analyst.
        Chat => "chat",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_string() {
        for source in SourceType::ALL {
            assert_eq!(source.as_str().parse::<SourceType>(), Ok(*source));
        }
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(*severity));
        }
    }

    #[test]
    fn an_unknown_value_is_named_in_the_error() {
        let err = "nagios".parse::<SourceType>().unwrap_err().to_string();
        assert!(err.contains("`nagios`"), "{err}");
        assert!(err.contains("grafana"), "{err}");
    }

    #[test]
    fn merged_is_final_and_resolved_only_reopens() {
        use IncidentStatus::*;
        assert!(Investigating.can_become(Resolved));
        assert!(Resolved.can_become(Investigating));
        assert!(!Resolved.can_become(Analyzed));
        assert!(!Resolved.can_become(Merged));
        assert!(
            IncidentStatus::ALL
                .iter()
                .all(|next| !Merged.can_become(*next))
        );
        assert!(!Investigating.can_become(Investigating));
    }

    #[test]
    fn serde_uses_the_same_spelling_as_as_str() {
        let json = serde_json::to_string(&SourceType::Pagerduty).unwrap();
        assert_eq!(json, "\"pagerduty\"");
    }
}
