//! The built-in analyst: deployments before the alert first, then known failure patterns,
//! each hypothesis with its evidence; "unknown" when nothing explains the alert.

use chrono::{DateTime, TimeDelta, Utc};

use crate::facts::{self, humanize, utc};
use crate::findings;
use crate::knowledge::{KnowledgeBase, Pattern, Risk};
use crate::{DeploymentContext, IncidentContext};

/// What a hypothesis rests on.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// A deployment shortly before the alert.
    Deployment,
    /// A knowledge pattern, by id.
    Pattern(String),
    /// A cause the alert states that no pattern knows.
    Stated,
}

/// A likely cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// The cause, in a sentence.
    pub cause: String,
    /// In [0, 1].
    pub confidence: f64,
    /// The facts behind it, each citing where it comes from.
    pub evidence: Vec<String>,
    /// What it rests on.
    pub basis: Basis,
}

/// A step the on-call engineer can take.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// What to do, in a few words.
    pub title: String,
    /// Why and how.
    pub detail: String,
    /// How risky.
    pub risk: Risk,
}

/// What the analyst concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Thoughts in the order they were reached: (kind, text).
    pub thoughts: Vec<(&'static str, String)>,
    /// Causes, most likely first; empty when unknown.
    pub hypotheses: Vec<Hypothesis>,
    /// Steps, most useful first.
    pub suggestions: Vec<Suggestion>,
    /// The Markdown summary: what happened, likely root cause, evidence, next steps.
    pub summary: String,
}

/// A deployment this long before the alert still counts.
const DEPLOYMENT_HORIZON: TimeDelta = TimeDelta::hours(6);
/// How many hypotheses the summary ranks.
const HYPOTHESES_SHOWN: usize = 4;
/// No analysis is certain.
const MAX_CONFIDENCE: f64 = 0.95;
/// A cause the alert states that no pattern knows: believed, but less than a known pattern
/// the alert's own words support.
const STATED_CONFIDENCE: f64 = 0.3;

/// Analyses an incident.
pub fn analyse(
    context: &IncidentContext,
    knowledge: &KnowledgeBase,
    now: DateTime<Utc>,
) -> Analysis {
    let alert = &context.alert;
    let mut thoughts: Vec<(&'static str, String)> = facts::describe(alert, now)
        .into_iter()
        .map(|t| ("observation", t))
        .collect();
    thoughts.push((
        "action",
        format!(
            "Looked at {} correlated alert(s), {} deployment(s) of the service and its dependencies in the 6 hours before, and {} similar past incident(s).",
            context.correlated.len(),
            context.deployments.len(),
            context.similar.len()
        ),
    ));
    if !context.correlated.is_empty() {
        let titles: Vec<String> = context
            .correlated
            .iter()
            .map(|a| format!("\"{}\"", a.title))
            .collect();
        thoughts.push((
            "observation",
            format!(
                "{} more alert(s) correlated with it: {}.",
                titles.len(),
                titles.join(", ")
            ),
        ));
    }

    let mut hypotheses = Vec::new();
    let mut suggestions = Vec::new();
    if let Some((hypothesis, rollback)) = deployment_hypothesis(context) {
        thoughts.push((
            "hypothesis",
            format!(
                "{} (confidence {:.0}%).",
                hypothesis.cause,
                hypothesis.confidence * 100.0
            ),
        ));
        hypotheses.push(hypothesis);
        suggestions.push(rollback);
    } else if context.deployments.is_empty() {
        thoughts.push((
            "observation",
            "No deployment of the service or its dependencies in the 6 hours before the alert."
                .into(),
        ));
    }

    let found = findings::find(context, knowledge);
    if let Some(metrics) = &context.metrics {
        thoughts.extend(
            findings::metric_thoughts(metrics)
                .into_iter()
                .map(|t| ("observation", t)),
        );
    }
    for finding in &found.patterns {
        let pattern = finding.pattern;
        thoughts.push((
            "hypothesis",
            format!(
                "This looks like {} ({}): scored {:.1} on {}{}.",
                pattern.name.to_lowercase(),
                pattern.id,
                finding.score,
                finding.found_in(),
                finding
                    .stated
                    .as_ref()
                    .map(|s| format!(
                        ", and alert {} states the cause: \"{}\"",
                        s.alert_id,
                        s.quote()
                    ))
                    .unwrap_or_default()
            ),
        ));
        let mut evidence = finding.evidence();
        evidence.extend(
            context
                .commands
                .iter()
                .filter(|c| c.pattern.as_deref() == Some(pattern.id.as_str()))
                .map(|c| c.cite()),
        );
        for candidate in &pattern.hypotheses {
            hypotheses.push(Hypothesis {
                cause: candidate.cause.clone(),
                confidence: finding.confidence(candidate.confidence).min(MAX_CONFIDENCE),
                evidence: evidence.clone(),
                basis: Basis::Pattern(pattern.id.clone()),
            });
        }
        suggestions.extend(pattern.remediation.iter().map(|step| Suggestion {
            title: step.step.clone(),
            detail: format!(
                "Remediation for {}. Check first: {}.",
                pattern.name.to_lowercase(),
                pattern.checks.join("; ")
            ),
            risk: step.risk,
        }));
    }
    for stated in &found.unmatched_stated {
        let known = match &stated.about {
            Some(pattern) => format!("in words no pattern knows, in a sentence about {pattern}"),
            None => "no known pattern describes".to_owned(),
        };
        thoughts.push((
            "hypothesis",
            format!(
                "Alert {} states a cause {known}: \"{}\".",
                stated.alert_id,
                stated.quote()
            ),
        ));
        hypotheses.push(Hypothesis {
            cause: format!("As the alert states: {}", stated.cause.clause),
            confidence: STATED_CONFIDENCE,
            evidence: vec![format!(
                "alert {} states: \"{}\"",
                stated.alert_id,
                stated.quote()
            )],
            basis: Basis::Stated,
        });
    }
    for past in &context.similar {
        let outcome = past.summary.as_deref().and_then(|s| {
            s.lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        });
        thoughts.push((
            "observation",
            format!(
                "A similar incident, \"{}\" ({}), opened {} and ended {}{}.",
                past.title,
                past.id,
                utc(past.started_at),
                past.status,
                outcome
                    .map(|o| format!(": {}", o.trim()))
                    .unwrap_or_default()
            ),
        ));
    }
    hypotheses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    hypotheses.dedup_by(|later, earlier| later.cause == earlier.cause);
    hypotheses.truncate(HYPOTHESES_SHOWN);
    thoughts.push(("conclusion", match hypotheses.first() {
        Some(best) => format!("Most likely cause: {} ({:.0}%).", best.cause, best.confidence * 100.0),
        None => "Root cause unknown: no known failure pattern matches and no deployment preceded the alert.".into(),
    }));
    let patterns: Vec<&Pattern> = found.patterns.iter().map(|f| f.pattern).collect();
    let summary = crate::summary::render(context, &hypotheses, &suggestions, &patterns);
    Analysis {
        thoughts,
        hypotheses,
        suggestions,
        summary,
    }
}

/// Terms in quotes, comma-separated.
pub(crate) fn quote(terms: &[&str]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The deployment most likely to have caused the alert: of its service first, then of a
/// dependency; failed ones and ones closer to the alert weigh more.
fn deployment_hypothesis(context: &IncidentContext) -> Option<(Hypothesis, Suggestion)> {
    let alert = &context.alert;
    let service = alert.service.as_deref();
    let (deployment, confidence) = context
        .deployments
        .iter()
        .filter(|d| d.deployed_at <= alert.started_at + TimeDelta::minutes(5))
        .filter(|d| alert.started_at - d.deployed_at <= DEPLOYMENT_HORIZON)
        .map(|d| {
            (
                d,
                deployment_confidence(d, alert.started_at, Some(d.service.as_str()) == service),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let before =
        humanize(alert.started_at - deployment.deployed_at).unwrap_or_else(|| "just".into());
    let build = deployment.build.as_deref().unwrap_or("(unnumbered)");
    let relation = if Some(deployment.service.as_str()) == service {
        ""
    } else {
        ", a dependency of the alerting service,"
    };
    let cause = format!(
        "The deployment of {}{relation} build {build} ({}) {before} before the alert started",
        deployment.service, deployment.result
    );
    let mut evidence = vec![format!(
        "deployment {} build {build} finished {} with result {}{}",
        deployment.service,
        utc(deployment.deployed_at),
        deployment.result,
        deployment
            .commit
            .as_deref()
            .map(|c| format!(", commit {c}"))
            .unwrap_or_default()
    )];
    evidence.push(format!(
        "alert \"{}\" started {} (alert.started_at)",
        alert.title,
        utc(alert.started_at)
    ));
    let rollback = Suggestion {
        title: format!("Roll back {} build {build}", deployment.service),
        detail: format!(
            "Redeploy the build of {} that ran before {build}{}, then watch whether the alert resolves.",
            deployment.service,
            deployment
                .url
                .as_deref()
                .map(|u| format!(" (build: {u})"))
                .unwrap_or_default()
        ),
        risk: Risk::Medium,
    };
    Some((
        Hypothesis {
            cause,
            confidence,
            evidence,
            basis: Basis::Deployment,
        },
        rollback,
    ))
}

/// Failed builds and close timing weigh most; a dependency's deployment less.
fn deployment_confidence(
    deployment: &DeploymentContext,
    alert_start: DateTime<Utc>,
    same_service: bool,
) -> f64 {
    let failed = matches!(deployment.result.as_str(), "failure" | "unstable");
    let base = if failed { 0.9 } else { 0.75 };
    let gap = alert_start - deployment.deployed_at;
    let timing = if gap <= TimeDelta::minutes(30) {
        1.0
    } else if gap <= TimeDelta::hours(2) {
        0.8
    } else {
        // Hours before, a deployment that went well is more often a coincidence.
        0.45
    };
    base * timing * if same_service { 1.0 } else { 0.75 }
}
