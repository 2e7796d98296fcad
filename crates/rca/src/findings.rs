//! What an incident's alerts reveal: the knowledge patterns their words match, the causes their
//! descriptions state, and how the metrics weigh each pattern.

use crate::facts::utc;
use crate::knowledge::{KnowledgeBase, Pattern};
use crate::matching::{Field, match_patterns};
use crate::signals::MetricEvidence;
use crate::stated::{StatedCause, stated_causes};
use crate::{AlertContext, IncidentContext};

/// Correlated alerts are mostly symptoms of the first: their words count this much.
const CORRELATED_WEIGHT: f64 = 0.75;
/// Context rather than statement (the service's name, label values): counts this much.
const CONTEXT_WEIGHT: f64 = 0.5;
/// A pattern whose mechanism an alert states gains this much score.
const STATED_BONUS: f64 = 3.0;
/// The score at which a pattern is half believed: strength grows with the score and never
/// reaches certainty.
const HALF_STRENGTH_SCORE: f64 = 2.0;
/// The share of a symptom's score its explaining cause gains.
const EXPLAINED_SHARE: f64 = 0.5;
/// Less than this is a word in passing (one label value), not a pattern.
const MIN_SCORE: f64 = 0.75;
/// At most this many patterns are offered.
const PATTERNS_KEPT: usize = 3;

/// A cause an alert states, with the alert.
#[derive(Debug, Clone)]
pub(crate) struct StatedIn {
    /// The alert's row id.
    pub alert_id: i32,
    /// What it states.
    pub cause: StatedCause,
}

/// A pattern the incident reveals.
#[derive(Debug, Clone)]
pub(crate) struct Finding<'k> {
    pub pattern: &'k Pattern,
    /// Its terms found, strongest first.
    pub terms: Vec<&'k str>,
    /// How strongly the words reveal it (see [`crate::matching`]), with the stated bonus.
    pub score: f64,
    /// The sentence that states its mechanism, if an alert does.
    pub stated: Option<StatedIn>,
    /// How the metrics weigh it (1 when they say nothing), and why.
    pub metrics: (f64, Option<String>),
}

impl Finding<'_> {
    /// What its hypotheses' confidences are multiplied by: one term in passing is weak, several
    /// or a stated mechanism strong, and the metrics raise or lower it.
    pub fn strength(&self) -> f64 {
        self.score / (self.score + HALF_STRENGTH_SCORE) * self.metrics.0
    }

    /// The pattern's best hypothesis' confidence, as the knowledge base gives it.
    fn prior(&self) -> f64 {
        self.pattern
            .hypotheses
            .iter()
            .map(|h| h.confidence)
            .fold(0.0, f64::max)
    }

    /// How likely the pattern is: the words decide; its prior only separates patterns the
    /// words support about equally.
    pub fn likelihood(&self) -> f64 {
        self.strength() * (0.5 + 0.5 * self.prior())
    }

    /// The confidence of one of its hypotheses: the pattern's likelihood, shared among its
    /// hypotheses as the knowledge base weighs them.
    pub fn confidence(&self, hypothesis_confidence: f64) -> f64 {
        self.likelihood() * hypothesis_confidence / self.prior().max(f64::EPSILON)
    }

    /// The evidence every hypothesis of the pattern cites.
    pub fn evidence(&self) -> Vec<String> {
        let mut evidence = vec![format!(
            "pattern \"{}\" ({}) scored {:.1} on the alert text's {}",
            self.pattern.name,
            self.pattern.id,
            self.score,
            crate::analyse::quote(&self.terms)
        )];
        if let Some(stated) = &self.stated {
            evidence.push(format!(
                "alert {} states: \"{}\"",
                stated.alert_id, stated.cause.sentence
            ));
        }
        evidence.extend(self.metrics.1.clone());
        evidence
    }
}

/// Everything found.
#[derive(Debug, Clone)]
pub(crate) struct Found<'k> {
    /// Patterns, most likely first.
    pub patterns: Vec<Finding<'k>>,
    /// Stated causes no pattern describes.
    pub unmatched_stated: Vec<StatedIn>,
}

/// The fields of the incident's alerts, weighted by how much each says.
fn fields(context: &IncidentContext) -> Vec<Field> {
    let alerts = std::iter::once((&context.alert, 1.0))
        .chain(context.correlated.iter().map(|a| (a, CORRELATED_WEIGHT)));
    let mut fields = Vec::new();
    for (alert, weight) in alerts {
        fields.push(Field::new(&alert.title, weight));
        if let Some(description) = &alert.description {
            fields.push(Field::new(description, weight));
        }
        let context_texts = alert
            .service
            .iter()
            .chain(alert.labels.values())
            .filter(|text| **text != alert.title);
        fields.extend(context_texts.map(|text| Field::new(text, weight * CONTEXT_WEIGHT)));
    }
    fields
}

/// The causes the alerts' descriptions state, each with the pattern its clause matches.
fn stated<'k>(
    context: &IncidentContext,
    knowledge: &'k KnowledgeBase,
) -> Vec<(StatedIn, Option<&'k Pattern>)> {
    let alerts = std::iter::once(&context.alert).chain(&context.correlated);
    alerts
        .flat_map(|alert: &AlertContext| {
            let causes = alert
                .description
                .as_deref()
                .map(stated_causes)
                .unwrap_or_default();
            causes.into_iter().map(move |cause| {
                // The pattern the cause names, else the one its sentence is about ("plan is
                // Seq Scan because the index no longer exists" states why the scan happens).
                let best = |text: &str| {
                    match_patterns(&[Field::new(text, 1.0)], knowledge, &alert.source_type)
                        .into_iter()
                        .next()
                        .map(|m| m.pattern)
                };
                let pattern = best(&cause.clause).or_else(|| best(&cause.sentence));
                (
                    StatedIn {
                        alert_id: alert.id,
                        cause,
                    },
                    pattern,
                )
            })
        })
        .collect()
}

/// What the metrics say of `pattern`: a weight and the sentence behind it.
fn metric_weight(metrics: Option<&MetricEvidence>, pattern: &Pattern) -> (f64, Option<String>) {
    let Some(metrics) = metrics else {
        return (1.0, None);
    };
    let weight = metrics.weight_for(&pattern.signals);
    let ours: Vec<&crate::Signal> = metrics
        .signals
        .iter()
        .filter(|s| pattern.signals.contains(&s.name))
        .collect();
    let cite = |signal: &crate::Signal| format!("{} (`{}`)", signal.name, signal.query);
    let note = if weight > 1.0 {
        let moved: Vec<String> = ours
            .iter()
            .filter(|s| s.movement.is_some())
            .map(|s| cite(s))
            .collect();
        Some(format!(
            "metrics support it: {} moved{}",
            moved.join(", "),
            if weight >= 1.3 { " first" } else { "" }
        ))
    } else if weight < 1.0 {
        let still: Vec<String> = ours.iter().map(|s| cite(s)).collect();
        Some(format!(
            "metrics weigh against it: {} did not move",
            still.join(", ")
        ))
    } else {
        None
    };
    (weight, note)
}

/// Patterns and stated causes of the incident, most likely first.
pub(crate) fn find<'k>(context: &IncidentContext, knowledge: &'k KnowledgeBase) -> Found<'k> {
    let mut findings: Vec<Finding<'k>> =
        match_patterns(&fields(context), knowledge, &context.alert.source_type)
            .into_iter()
            .map(|m| Finding {
                pattern: m.pattern,
                terms: m.terms,
                score: m.score,
                stated: None,
                metrics: (1.0, None),
            })
            .collect();
    let mut unmatched_stated = Vec::new();
    for (stated, pattern) in stated(context, knowledge) {
        let Some(pattern) = pattern else {
            unmatched_stated.push(stated);
            continue;
        };
        match findings.iter_mut().find(|f| f.pattern.id == pattern.id) {
            Some(finding) if finding.stated.is_none() => {
                finding.score += STATED_BONUS;
                finding.stated = Some(stated);
            }
            Some(_) => {}
            // Its words were shadowed in the whole text, but the stated clause names it.
            None => findings.push(Finding {
                pattern,
                terms: Vec::new(),
                score: STATED_BONUS,
                stated: Some(stated),
                metrics: (1.0, None),
            }),
        }
    }
    // A cause gains a share of the scores of the symptoms it explains, as they were found.
    let found_scores: Vec<(String, f64)> = findings
        .iter()
        .map(|f| (f.pattern.id.clone(), f.score))
        .collect();
    for finding in &mut findings {
        let explained: f64 = found_scores
            .iter()
            .filter(|(id, _)| finding.pattern.explains.contains(id))
            .map(|(_, score)| score * EXPLAINED_SHARE)
            .sum();
        finding.score += explained;
    }
    findings.retain(|f| f.score >= MIN_SCORE);
    for finding in &mut findings {
        finding.metrics = metric_weight(context.metrics.as_ref(), finding.pattern);
    }
    findings.sort_by(|a, b| b.likelihood().total_cmp(&a.likelihood()));
    findings.truncate(PATTERNS_KEPT);
    Found {
        patterns: findings,
        unmatched_stated,
    }
}

/// Thoughts on what the metrics showed.
pub(crate) fn metric_thoughts(metrics: &MetricEvidence) -> Vec<String> {
    let mut thoughts = vec![match &metrics.expression_moved {
        Some(moved) => format!(
            "Queried {} for the alert's expression `{}`: it changed at {} (by {:.0}%).",
            metrics.prometheus,
            metrics.expression,
            utc(moved.at),
            moved.change * 100.0
        ),
        None => format!(
            "Queried {} for the alert's expression `{}`: no change within the window.",
            metrics.prometheus, metrics.expression
        ),
    }];
    let moved: Vec<String> = metrics
        .signals
        .iter()
        .filter_map(|s| {
            s.movement.map(|m| {
                format!(
                    "{} at {} (by {:.0}%, `{}`)",
                    s.name,
                    utc(m.at),
                    m.change * 100.0,
                    s.query
                )
            })
        })
        .collect();
    let still: Vec<&str> = metrics
        .signals
        .iter()
        .filter(|s| s.movement.is_none())
        .map(|s| s.name.as_str())
        .collect();
    thoughts.push(format!(
        "Standard signals, first to move first: {}{}.",
        if moved.is_empty() {
            "none moved".to_owned()
        } else {
            moved.join("; ")
        },
        if still.is_empty() || moved.is_empty() {
            String::new()
        } else {
            format!("; unchanged: {}", still.join(", "))
        }
    ));
    thoughts
}
