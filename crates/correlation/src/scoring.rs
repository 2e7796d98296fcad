//! The correlation strategies: each scores how related an alert is to one open incident, in
//! [0, 1], with a sentence a person can check. Pure functions over facts the correlation step
//! loaded; no I/O.

use aurora_settings::{CorrelationSettings, StrategyWeights};
use chrono::{DateTime, Utc};

use crate::dependency_graph::DependencyGraph;
use crate::trigrams::Trigrams;

/// The correlation rules, validated at start-up.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The settings they come from.
    pub settings: CorrelationSettings,
    /// `settings.dependencies`, walkable.
    pub graph: DependencyGraph,
}

impl Rules {
    /// Rules from validated settings.
    pub fn new(settings: CorrelationSettings) -> Self {
        let graph = DependencyGraph::new(&settings.dependencies);
        Self { settings, graph }
    }

    /// The threshold for a source's alerts.
    pub fn threshold(&self, source: &str) -> f64 {
        self.settings
            .sources
            .get(source)
            .and_then(|o| o.threshold)
            .unwrap_or(self.settings.threshold)
    }

    /// The candidate window for a source's alerts, in seconds.
    pub fn window_secs(&self, source: &str) -> u64 {
        self.settings
            .sources
            .get(source)
            .and_then(|o| o.window_secs)
            .unwrap_or(self.settings.window_secs)
    }
}

/// A strategy that relates an alert to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The same service, or one the incident already affects.
    Service,
    /// Services linked in the dependency graph.
    Topology,
    /// Similar titles.
    Similarity,
    /// Close in time.
    Time,
    /// A recent or failed deployment of the service or a dependency.
    Deployment,
}

impl Strategy {
    /// As stored in `incident_alerts.strategy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Service => "service",
            Strategy::Topology => "topology",
            Strategy::Similarity => "similarity",
            Strategy::Time => "time",
            Strategy::Deployment => "deployment",
        }
    }

    fn weight(self, weights: &StrategyWeights) -> f64 {
        match self {
            Strategy::Service => weights.service,
            Strategy::Topology => weights.topology,
            Strategy::Similarity => weights.similarity,
            Strategy::Time => weights.time,
            Strategy::Deployment => weights.deployment,
        }
    }
}

/// The new alert, as correlation sees it.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    /// Its service, if known.
    pub service: Option<&'a str>,
    /// Its title.
    pub title: &'a str,
    /// Its title's trigrams.
    pub trigrams: &'a Trigrams,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

/// An open incident, as correlation sees it.
#[derive(Debug, Clone)]
pub struct IncidentFacts<'a> {
    /// Services it affects.
    pub services: &'a [String],
    /// Its title.
    pub title: &'a str,
    /// Its title's trigrams.
    pub trigrams: &'a Trigrams,
    /// Alerts it holds.
    pub alert_count: i32,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A deployment that might explain the alert.
#[derive(Debug, Clone)]
pub struct DeploymentFacts<'a> {
    /// The deployed service.
    pub service: &'a str,
    /// The build, if numbered.
    pub build: Option<&'a str>,
    /// True for failure or unstable.
    pub failed: bool,
    /// When it finished.
    pub at: DateTime<Utc>,
}

/// One strategy's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Which strategy.
    pub strategy: Strategy,
    /// Its score in [0, 1].
    pub score: f64,
    /// Why, in words.
    pub reason: String,
}

/// All strategies' verdicts on one candidate, combined.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Noisy-OR of each strategy's weighted score: 1 − Π(1 − wᵢ·sᵢ), in [0, 1]. Each weight is
    /// what its strategy alone can contribute; agreeing strategies reinforce one another.
    pub combined: f64,
    /// The strategy that contributed most, recorded on the attachment.
    pub strongest: Evidence,
}

/// Scores an alert against one incident.
pub fn judge(
    rules: &Rules,
    alert: &AlertFacts<'_>,
    incident: &IncidentFacts<'_>,
    deployments: &[DeploymentFacts<'_>],
    window_secs: u64,
) -> Option<Verdict> {
    let weights = &rules.settings.weights;
    let evidence: Vec<Evidence> = [
        service(alert, incident),
        topology(rules, alert, incident),
        similarity(alert, incident),
        time(alert, incident, window_secs),
        deployment(rules, alert, incident, deployments),
    ]
    .into_iter()
    .flatten()
    .collect();
    let combined = 1.0
        - evidence
            .iter()
            .map(|e| 1.0 - e.strategy.weight(weights) * e.score)
            .product::<f64>();
    let strongest = evidence.into_iter().max_by(|a, b| {
        (a.strategy.weight(weights) * a.score).total_cmp(&(b.strategy.weight(weights) * b.score))
    })?;
    Some(Verdict {
        combined,
        strongest,
    })
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_minutes().max(0)
}

fn service(alert: &AlertFacts<'_>, incident: &IncidentFacts<'_>) -> Option<Evidence> {
    let service = alert.service?;
    incident
        .services
        .iter()
        .any(|s| s == service)
        .then(|| Evidence {
            strategy: Strategy::Service,
            score: 1.0,
            reason: format!(
                "same service {service} as {} alert{} in the last {} min",
                incident.alert_count,
                if incident.alert_count == 1 { "" } else { "s" },
                minutes(incident.created_at, alert.at)
            ),
        })
}

fn topology(
    rules: &Rules,
    alert: &AlertFacts<'_>,
    incident: &IncidentFacts<'_>,
) -> Option<Evidence> {
    let service = alert.service?;
    let (hops, near) = incident
        .services
        .iter()
        .filter(|s| s.as_str() != service)
        .filter_map(|s| Some((rules.graph.hops(service, s, rules.settings.max_hops)?, s)))
        .min_by_key(|(hops, _)| *hops)?;
    Some(Evidence {
        strategy: Strategy::Topology,
        score: rules.settings.hop_decay.powi(hops as i32 - 1),
        reason: format!(
            "{service} is {hops} hop{} from {near} in the dependency graph",
            if hops == 1 { "" } else { "s" }
        ),
    })
}

fn similarity(alert: &AlertFacts<'_>, incident: &IncidentFacts<'_>) -> Option<Evidence> {
    let score = alert.trigrams.similarity(incident.trigrams);
    (score > 0.0).then(|| Evidence {
        strategy: Strategy::Similarity,
        score,
        reason: format!(
            "title {:.0}% similar to \"{}\"",
            score * 100.0,
            incident.title
        ),
    })
}

fn time(
    alert: &AlertFacts<'_>,
    incident: &IncidentFacts<'_>,
    window_secs: u64,
) -> Option<Evidence> {
    let gap = (alert.at - incident.updated_at)
        .num_seconds()
        .unsigned_abs();
    let score = 1.0 - gap as f64 / window_secs as f64;
    (score > 0.0).then(|| Evidence {
        strategy: Strategy::Time,
        score,
        reason: format!("{} min after the incident's last change", gap / 60),
    })
}

fn deployment(
    rules: &Rules,
    alert: &AlertFacts<'_>,
    incident: &IncidentFacts<'_>,
    deployments: &[DeploymentFacts<'_>],
) -> Option<Evidence> {
    let service = alert.service?;
    let related = |deployed: &str| {
        incident.services.iter().any(|s| s == deployed)
            || (deployed == service
                || rules
                    .graph
                    .dependencies_of(service)
                    .iter()
                    .any(|d| d == deployed))
                && incident.services.iter().any(|s| {
                    rules
                        .graph
                        .hops(deployed, s, rules.settings.max_hops)
                        .is_some()
                })
    };
    let (score, deployed) = deployments
        .iter()
        .filter(|d| related(d.service))
        .map(|d| (if d.failed { 1.0_f64 } else { 0.6 }, d))
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(Evidence {
        strategy: Strategy::Deployment,
        score,
        reason: format!(
            "{} build {} {} {} min before this alert",
            deployed.service,
            deployed.build.unwrap_or("(unnumbered)"),
            if deployed.failed {
                "failed"
            } else {
                "was deployed"
            },
            minutes(deployed.at, alert.at)
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rules() -> Rules {
        let mut settings = aurora_settings::Settings::load_from(None, Some(HashMap::new()))
            .unwrap()
            .correlation;
        settings.dependencies =
            HashMap::from([("checkout-api".to_owned(), vec!["payments-api".to_owned()])]);
        Rules::new(settings)
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_230_400 + minute * 60, 0).unwrap()
    }

    fn incident<'a>(services: &'a [String], title: &'a str) -> IncidentFacts<'a> {
        IncidentFacts {
            services,
            title,
            trigrams: Box::leak(Box::new(Trigrams::of(title))),
            alert_count: 2,
            created_at: at(0),
            updated_at: at(2),
        }
    }

    #[test]
    fn the_same_service_a_few_minutes_later_passes_the_threshold() {
        let services = vec!["checkout-api".to_owned()];
        let alert = AlertFacts {
            service: Some("checkout-api"),
            title: "High latency",
            trigrams: &Trigrams::of("High latency"),
            at: at(4),
        };
        let verdict = judge(
            &rules(),
            &alert,
            &incident(&services, "5xx errors"),
            &[],
            900,
        )
        .unwrap();
        assert!(verdict.combined >= 0.6, "{verdict:?}");
        assert_eq!(verdict.strongest.strategy, Strategy::Service);
        assert_eq!(
            verdict.strongest.reason,
            "same service checkout-api as 2 alerts in the last 4 min"
        );
    }

    #[test]
    fn a_dependency_correlates_by_topology_and_an_unrelated_service_does_not() {
        let services = vec!["payments-api".to_owned()];
        let alert = AlertFacts {
            service: Some("checkout-api"),
            title: "Timeouts calling payments",
            trigrams: &Trigrams::of("Timeouts calling payments"),
            at: at(3),
        };
        let verdict = judge(
            &rules(),
            &alert,
            &incident(&services, "Card processor errors"),
            &[],
            900,
        )
        .unwrap();
        assert_eq!(verdict.strongest.strategy, Strategy::Topology);
        assert!(verdict.combined >= 0.6, "{verdict:?}");
        let unrelated = AlertFacts {
            service: Some("search"),
            title: "Index lag",
            trigrams: &Trigrams::of("Index lag"),
            at: at(3),
        };
        let verdict = judge(
            &rules(),
            &unrelated,
            &incident(&services, "Card processor errors"),
            &[],
            900,
        )
        .unwrap();
        assert!(verdict.combined < 0.6, "{verdict:?}");
    }

    #[test]
    fn a_failed_deployment_of_a_dependency_is_evidence() {
        let services = vec!["checkout-api".to_owned()];
        let alert = AlertFacts {
            service: Some("checkout-api"),
            title: "x",
            trigrams: &Trigrams::of("x"),
            at: at(5),
        };
        let deployments = [DeploymentFacts {
            service: "payments-api",
            build: Some("42"),
            failed: true,
            at: at(1),
        }];
        let verdict = judge(
            &rules(),
            &alert,
            &incident(&services, "y"),
            &deployments,
            900,
        )
        .unwrap();
        assert!(
            verdict.combined
                > judge(&rules(), &alert, &incident(&services, "y"), &[], 900)
                    .unwrap()
                    .combined
        );
        let evidence =
            deployment(&rules(), &alert, &incident(&services, "y"), &deployments).unwrap();
        assert_eq!(
            evidence.reason,
            "payments-api build 42 failed 4 min before this alert"
        );
    }

    #[test]
    fn similar_titles_score_high_and_different_ones_low() {
        let services: Vec<String> = vec![];
        let alert = AlertFacts {
            service: None,
            title: "Disk / is 95% full on db-1",
            trigrams: &Trigrams::of("Disk / is 95% full on db-1"),
            at: at(1),
        };
        let close = similarity(&alert, &incident(&services, "Disk / is 97% full on db-2")).unwrap();
        let far = similarity(&alert, &incident(&services, "Checkout latency SLO burn"))
            .map_or(0.0, |e| e.score);
        assert!(close.score > 0.6 && far < 0.2, "{} {far}", close.score);
    }
}
