//! What an incident's alerts reveal: the knowledge patterns their words match, the causes their
//! descriptions state, and how the metrics weigh each pattern.

use crate::IncidentContext;
use crate::facts::utc;
use crate::knowledge::{KnowledgeBase, Pattern};
use crate::matching::{Field, match_patterns};
use crate::signals::{FROM_ZERO, MetricEvidence, Reading, Support};
use crate::stated::{StatedCause, stated_causes};

/// Correlated alerts are mostly symptoms of the first: their words count this much.
const CORRELATED_WEIGHT: f64 = 0.75;
/// Context rather than statement (the service's name, label values): counts this much.
const CONTEXT_WEIGHT: f64 = 0.5;
/// A pattern whose mechanism an alert states (the clause after "because" names it) gains this.
const STATED_BONUS: f64 = 3.0;
/// A pattern the sentence stating a cause is about, when the clause itself names none ("plan
/// is Seq Scan because the index no longer exists"), gains this; the clause is offered too.
const STATED_SENTENCE_BONUS: f64 = 1.0;
/// The score at which a pattern is half believed: strength grows with the score and never
/// reaches certainty.
const HALF_STRENGTH_SCORE: f64 = 2.0;
/// The share of a symptom's score its explaining cause gains.
const EXPLAINED_SHARE: f64 = 0.5;
/// The most a cause gains from its symptoms, as a multiple of its own score.
const EXPLAINED_CAP: f64 = 2.0;
/// Less than this is a word in passing (one label value), not a pattern.
const MIN_SCORE: f64 = 0.75;
/// At most this many patterns are offered.
const PATTERNS_KEPT: usize = 3;
/// A stated sentence is quoted up to this many characters.
const QUOTED_CHARS: usize = 300;

/// A cause an alert states, with the alert.
#[derive(Debug, Clone)]
pub(crate) struct StatedIn {
    /// The alert's row id.
    pub alert_id: i32,
    /// What it states.
    pub cause: StatedCause,
    /// The pattern its sentence is about when the clause itself names none.
    pub about: Option<String>,
}

impl StatedIn {
    /// The sentence, cut for quoting.
    pub fn quote(&self) -> String {
        let sentence = &self.cause.sentence;
        match sentence.char_indices().nth(QUOTED_CHARS) {
            Some((cut, _)) => format!("{}…", &sentence[..cut]),
            None => sentence.clone(),
        }
    }
}

/// What the metrics say of a pattern, and why.
#[derive(Debug, Clone)]
pub(crate) struct MetricSupport {
    /// How it weighs the pattern.
    pub support: Support,
    /// The sentence behind it, for evidence.
    pub note: Option<String>,
}

/// A pattern the incident reveals.
#[derive(Debug, Clone)]
pub(crate) struct Finding<'k> {
    /// The pattern.
    pub pattern: &'k Pattern,
    /// Its terms found, strongest first.
    pub terms: Vec<&'k str>,
    /// How strongly the words reveal it (see [`crate::matching`]), with what the alerts state
    /// and the symptoms it explains.
    pub score: f64,
    /// The sentence that states its mechanism, if an alert does.
    pub stated: Option<StatedIn>,
    /// What the metrics say of it.
    pub metrics: MetricSupport,
}

impl Finding<'_> {
    /// What its hypotheses' confidences are multiplied by: one term in passing is weak, several
    /// or a stated mechanism strong, and the metrics raise or lower it.
    pub fn strength(&self) -> f64 {
        self.score / (self.score + HALF_STRENGTH_SCORE) * self.metrics.support.weight()
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

    /// "the alert text's "a", "b"" or, when only a stated cause named it, that.
    pub fn found_in(&self) -> String {
        if self.terms.is_empty() {
            "the cause an alert states".to_owned()
        } else {
            format!("the alert text's {}", crate::analyse::quote(&self.terms))
        }
    }

    /// The evidence every hypothesis of the pattern cites.
    pub fn evidence(&self) -> Vec<String> {
        let mut evidence = vec![format!(
            "pattern \"{}\" ({}) scored {:.1} on {}",
            self.pattern.name,
            self.pattern.id,
            self.score,
            self.found_in()
        )];
        if let Some(stated) = &self.stated {
            evidence.push(format!(
                "alert {} states: \"{}\"",
                stated.alert_id,
                stated.quote()
            ));
        }
        evidence.extend(self.metrics.note.clone());
        evidence
    }
}

/// Everything found.
#[derive(Debug, Clone)]
pub(crate) struct Found<'k> {
    /// Patterns, most likely first.
    pub patterns: Vec<Finding<'k>>,
    /// Stated causes no pattern's words name.
    pub unmatched_stated: Vec<StatedIn>,
}

/// The fields of the incident's alerts, weighted by how much each says; a text several
/// alerts repeat (a storm of one template) is read once, where it counts most.
fn fields(context: &IncidentContext) -> Vec<Field> {
    let alerts = std::iter::once((&context.alert, 1.0))
        .chain(context.correlated.iter().map(|a| (a, CORRELATED_WEIGHT)));
    let mut texts: Vec<(&str, f64, Vec<usize>)> = Vec::new();
    for (index, (alert, weight)) in alerts.enumerate() {
        let own = std::iter::once(alert.title.as_str())
            .chain(alert.description.as_deref())
            .map(|text| (text, weight));
        let context_texts = alert
            .service
            .iter()
            .chain(alert.labels.values())
            .filter(|text| **text != alert.title)
            .map(|text| (text.as_str(), weight * CONTEXT_WEIGHT));
        for (text, weight) in own.chain(context_texts) {
            match texts
                .iter_mut()
                .find(|(seen, w, _)| *seen == text && *w >= weight)
            {
                Some((_, _, alerts)) => alerts.push(index),
                None => texts.push((text, weight, vec![index])),
            }
        }
    }
    texts
        .into_iter()
        .map(|(text, weight, alerts)| Field::new(text, weight, alerts))
        .collect()
}

/// How a stated cause links to a pattern.
enum Link<'k> {
    /// The clause names it.
    Clause(&'k Pattern),
    /// Only the sentence around the clause is about it.
    Sentence(&'k Pattern),
    /// Nothing known.
    None,
}

/// The causes the alerts' descriptions state (each distinct clause once), with the pattern
/// each names; a pattern the stating alert's own text excludes is not named.
fn stated<'k>(
    context: &IncidentContext,
    knowledge: &'k KnowledgeBase,
    fields: &[Field],
) -> Vec<(StatedIn, Link<'k>)> {
    let alerts = std::iter::once(&context.alert).chain(&context.correlated);
    let mut seen: Vec<String> = Vec::new();
    let mut found = Vec::new();
    for (index, alert) in alerts.enumerate() {
        let Some(description) = alert.description.as_deref() else {
            continue;
        };
        for cause in stated_causes(description) {
            if seen.contains(&cause.clause) {
                continue;
            }
            seen.push(cause.clause.clone());
            let excluded = |pattern: &Pattern| {
                fields
                    .iter()
                    .filter(|f| f.alerts.contains(&index))
                    .any(|f| {
                        pattern
                            .exclude
                            .iter()
                            .any(|term| !term.find_in(&f.words).is_empty())
                    })
            };
            let best = |text: &str| {
                match_patterns(
                    &[Field::new(text, 1.0, vec![index])],
                    knowledge,
                    &alert.source_type,
                )
                .into_iter()
                .map(|m| m.pattern)
                .find(|pattern| !excluded(pattern))
            };
            let link = match best(&cause.clause) {
                Some(pattern) => Link::Clause(pattern),
                None => best(&cause.sentence).map_or(Link::None, Link::Sentence),
            };
            let about = match &link {
                Link::Sentence(pattern) => Some(pattern.name.to_lowercase()),
                _ => None,
            };
            found.push((
                StatedIn {
                    alert_id: alert.id,
                    cause,
                    about,
                },
                link,
            ));
        }
    }
    found
}

/// What the metrics say of `pattern`.
fn metric_support(metrics: Option<&MetricEvidence>, pattern: &Pattern) -> MetricSupport {
    let Some(metrics) = metrics else {
        return MetricSupport {
            support: Support::Silent,
            note: None,
        };
    };
    let support = metrics.support(&pattern.signals);
    let ours = metrics
        .signals
        .iter()
        .filter(|s| pattern.signals.contains(&s.name));
    let cite = |signal: &crate::Signal| format!("{} (`{}`)", signal.name, signal.query);
    let note = match support {
        Support::MovedFirst | Support::MovedLater => {
            let moved: Vec<String> = ours
                .filter(|s| s.reading.movement().is_some())
                .map(cite)
                .collect();
            Some(format!(
                "metrics support it: {} moved{}",
                moved.join(", "),
                if support == Support::MovedFirst {
                    " first"
                } else {
                    ""
                }
            ))
        }
        Support::Still => {
            let still: Vec<String> = ours
                .filter(|s| s.reading == Reading::Still)
                .map(cite)
                .collect();
            Some(format!(
                "metrics weigh against it: {} did not move",
                still.join(", ")
            ))
        }
        Support::Silent => None,
    };
    MetricSupport { support, note }
}

/// Patterns and stated causes of the incident, most likely first.
pub(crate) fn find<'k>(context: &IncidentContext, knowledge: &'k KnowledgeBase) -> Found<'k> {
    let fields = fields(context);
    let mut findings: Vec<Finding<'k>> =
        match_patterns(&fields, knowledge, &context.alert.source_type)
            .into_iter()
            .map(|m| Finding {
                pattern: m.pattern,
                terms: m.terms,
                score: m.score,
                stated: None,
                metrics: metric_support(None, m.pattern),
            })
            .collect();
    let mut unmatched_stated = Vec::new();
    for (stated, link) in stated(context, knowledge, &fields) {
        let (pattern, bonus) = match link {
            Link::Clause(pattern) => (pattern, STATED_BONUS),
            Link::Sentence(pattern) => {
                unmatched_stated.push(stated.clone());
                (pattern, STATED_SENTENCE_BONUS)
            }
            Link::None => {
                unmatched_stated.push(stated);
                continue;
            }
        };
        match findings.iter_mut().find(|f| f.pattern.id == pattern.id) {
            Some(finding) if finding.stated.is_none() => {
                finding.score += bonus;
                finding.stated = Some(stated);
            }
            Some(_) => {}
            // Its words were shadowed in the whole text, but the stated clause names it.
            None => findings.push(Finding {
                pattern,
                terms: Vec::new(),
                score: bonus,
                stated: Some(stated),
                metrics: metric_support(None, pattern),
            }),
        }
    }
    // A cause the text supports on its own gains a share of the symptoms it explains, as they
    // were found, at most twice its own score: the symptoms amplify its evidence, never
    // replace it.
    let found_scores: Vec<(String, f64)> = findings
        .iter()
        .map(|f| (f.pattern.id.clone(), f.score))
        .collect();
    for finding in findings.iter_mut().filter(|f| f.score >= MIN_SCORE) {
        let explained: f64 = found_scores
            .iter()
            .filter(|(id, _)| finding.pattern.explains.contains(id))
            .map(|(_, score)| score * EXPLAINED_SHARE)
            .sum();
        finding.score += explained.min(finding.score * EXPLAINED_CAP);
    }
    findings.retain(|f| f.score >= MIN_SCORE);
    for finding in &mut findings {
        finding.metrics = metric_support(context.metrics.as_ref(), finding.pattern);
    }
    findings.sort_by(|a, b| b.likelihood().total_cmp(&a.likelihood()));
    findings.truncate(PATTERNS_KEPT);
    Found {
        patterns: findings,
        unmatched_stated,
    }
}

/// "by 150%", or "from zero".
fn change(change: f64) -> String {
    if change >= FROM_ZERO {
        "from zero".to_owned()
    } else {
        format!("by {:.0}%", change * 100.0)
    }
}

/// Thoughts on what the metrics showed.
pub(crate) fn metric_thoughts(metrics: &MetricEvidence) -> Vec<String> {
    let expression = match &metrics.expression_reading {
        Reading::Moved(moved) => format!("changed at {} ({})", utc(moved.at), change(moved.change)),
        Reading::Still => "did not change within the window".to_owned(),
        Reading::NoData => "had no samples".to_owned(),
        Reading::Failed(err) => format!("could not be read ({err})"),
    };
    let mut thoughts = vec![format!(
        "Queried {} for the alert's expression `{}`: it {expression}.",
        metrics.prometheus, metrics.expression
    )];
    let moved: Vec<String> = metrics
        .signals
        .iter()
        .filter_map(|s| {
            s.reading.movement().map(|m| {
                format!(
                    "{} at {} ({}, `{}`)",
                    s.name,
                    utc(m.at),
                    change(m.change),
                    s.query
                )
            })
        })
        .collect();
    let rest = |wanted: fn(&Reading) -> bool| -> Vec<&str> {
        metrics
            .signals
            .iter()
            .filter(|s| wanted(&s.reading))
            .map(|s| s.name.as_str())
            .collect()
    };
    let mut sentence = if moved.is_empty() {
        "No standard signal moved".to_owned()
    } else {
        format!(
            "Standard signals that moved, earliest first: {}",
            moved.join("; ")
        )
    };
    for (label, names) in [
        ("unchanged", rest(|r| *r == Reading::Still)),
        ("no samples", rest(|r| *r == Reading::NoData)),
        ("query failed", rest(|r| matches!(r, Reading::Failed(_)))),
    ] {
        if !names.is_empty() {
            sentence.push_str(&format!("; {label}: {}", names.join(", ")));
        }
    }
    sentence.push('.');
    thoughts.push(sentence);
    thoughts
}
