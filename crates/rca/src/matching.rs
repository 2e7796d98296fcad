//! Which knowledge patterns an incident's alerts reveal, and how strongly: terms found on word
//! boundaries, phrases counting by their length, each term by its weight and by where it was
//! found; a pattern's exclusions rule it out, and where a longer phrase of one pattern covers a
//! shorter term of another ("replication lag" over "lag"), only the longer one counts.

use std::collections::HashSet;

use crate::knowledge::{KnowledgeBase, Pattern, Term};
use crate::words::Words;

/// A piece of alert text and how much what is found in it counts.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its words.
    pub words: Words,
    /// 1 for what the alert says of itself (title, description); less for context (labels,
    /// the service's name, correlated alerts).
    pub weight: f64,
    /// The alerts whose text it is (several when they repeat it): a pattern's exclusion
    /// applies to the excluding alert's fields only.
    pub alerts: Vec<usize>,
    /// Every stem in it, split and as written, to skip terms that cannot occur.
    vocabulary: HashSet<String>,
}

impl Field {
    /// A field of the `text` of `alerts`, counting `weight`.
    pub fn new(text: &str, weight: f64, alerts: Vec<usize>) -> Self {
        let words = Words::of(text);
        let vocabulary = words.stems.iter().chain(&words.written).cloned().collect();
        Self {
            words,
            weight,
            alerts,
            vocabulary,
        }
    }

    /// Where `term` occurs in it.
    fn find(&self, term: &Term) -> Vec<(usize, usize)> {
        let possible = [&term.stems, &term.written]
            .iter()
            .any(|stems| stems.iter().all(|stem| self.vocabulary.contains(stem)));
        if possible {
            term.find_in(&self.words)
        } else {
            Vec::new()
        }
    }
}

/// A pattern the text reveals.
#[derive(Debug, Clone)]
pub struct PatternMatch<'k> {
    /// The pattern.
    pub pattern: &'k Pattern,
    /// Its terms found, as written in the knowledge file, strongest first.
    pub terms: Vec<&'k str>,
    /// The sum over its terms found of weight × words × the field's weight.
    pub score: f64,
}

/// One place a term was found.
struct Occurrence {
    pattern: usize,
    term: usize,
    field: usize,
    start: usize,
    covered: usize,
    words: usize,
    score: f64,
}

impl Occurrence {
    /// How much of the text it stands for: its words, or the words it covers when it is one
    /// word written for several (`crashloopbackoff` over `crash loop back off`).
    fn span(&self) -> usize {
        self.words.max(self.covered)
    }

    /// True when `other`, of another pattern, is a longer phrase over the same words.
    fn shadowed_by(&self, other: &Occurrence) -> bool {
        other.pattern != self.pattern
            && other.field == self.field
            && other.span() > self.span()
            && other.start <= self.start
            && other.start + other.covered >= self.start + self.covered
    }
}

/// The patterns `fields` reveal (of those that apply to `source`), highest score first.
pub fn match_patterns<'k>(
    fields: &[Field],
    knowledge: &'k KnowledgeBase,
    source: &str,
) -> Vec<PatternMatch<'k>> {
    let patterns = knowledge.patterns();
    let applies = |pattern: &Pattern| {
        pattern.sources.is_empty() || pattern.sources.iter().any(|s| s == source)
    };
    // An exclusion rules its pattern out for the alert whose text holds it, not for the other
    // alerts of the incident.
    let excluded: HashSet<(usize, usize)> = patterns
        .iter()
        .enumerate()
        .filter(|(_, pattern)| !pattern.exclude.is_empty())
        .flat_map(|(p, pattern)| {
            fields
                .iter()
                .filter(|f| pattern.exclude.iter().any(|term| !f.find(term).is_empty()))
                .flat_map(move |f| f.alerts.iter().map(move |alert| (p, *alert)))
        })
        .collect();
    // Per field, so that the shadowing below compares occurrences of one field only; only the
    // terms that can start in the field are looked for.
    let mut found: Vec<Vec<Occurrence>> = (0..fields.len()).map(|_| Vec::new()).collect();
    for (f, field) in fields.iter().enumerate() {
        let mut candidates: Vec<(usize, usize)> = field
            .vocabulary
            .iter()
            .flat_map(|stem| knowledge.terms_starting(stem))
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for (p, t) in candidates {
            let pattern = &patterns[p];
            let counts = field.alerts.iter().any(|a| !excluded.contains(&(p, *a)));
            if !applies(pattern) || !counts {
                continue;
            }
            let term = &pattern.terms[t];
            for (start, covered) in field.find(term) {
                found[f].push(Occurrence {
                    pattern: p,
                    term: t,
                    field: f,
                    start,
                    covered,
                    words: term.stems.len(),
                    score: term.weight * term.stems.len() as f64 * field.weight,
                });
            }
        }
    }
    let kept: Vec<&Occurrence> = found
        .iter()
        .flat_map(|in_field| {
            in_field
                .iter()
                .filter(|o| !in_field.iter().any(|other| o.shadowed_by(other)))
        })
        .collect();
    let mut matches: Vec<PatternMatch<'k>> = Vec::new();
    for (p, pattern) in patterns.iter().enumerate() {
        // Each term counts once, where it counts most.
        let mut best: Vec<(usize, f64)> = Vec::new();
        for o in kept.iter().filter(|o| o.pattern == p) {
            match best.iter_mut().find(|(term, _)| *term == o.term) {
                Some((_, score)) => *score = score.max(o.score),
                None => best.push((o.term, o.score)),
            }
        }
        if best.is_empty() {
            continue;
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        matches.push(PatternMatch {
            pattern,
            terms: best
                .iter()
                .map(|(term, _)| pattern.terms[*term].text.as_str())
                .collect(),
            score: best.iter().map(|(_, score)| score).sum(),
        });
    }
    matches.sort_by(|a, b| b.score.total_cmp(&a.score));
    matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KnowledgeBase {
        KnowledgeBase::from_text(
            r#"
[[pattern]]
id = "queue"
name = "Queue backlog"
terms = ["lag", "backlog", "consumer"]
hypotheses = [{ cause = "A stuck consumer", confidence = 0.5 }]

[[pattern]]
id = "replication"
name = "Replication lag"
terms = ["replication lag", { term = "seconds behind master", weight = 2.0 }]
hypotheses = [{ cause = "The replica cannot keep up", confidence = 0.6 }]

[[pattern]]
id = "locks"
name = "Locks"
terms = ["lock", "deadlock"]
exclude = ["lock screen"]
hypotheses = [{ cause = "Lock contention", confidence = 0.6 }]

[[pattern]]
id = "clock"
name = "Clock"
terms = ["clock", "ntp"]
sources = ["netdata"]
hypotheses = [{ cause = "Clock skew", confidence = 0.6 }]
"#,
        )
        .unwrap()
    }

    fn ids(text: &str, source: &str) -> Vec<(String, f64)> {
        let base = base();
        match_patterns(&[Field::new(text, 1.0, vec![0])], &base, source)
            .into_iter()
            .map(|m| (m.pattern.id.clone(), m.score))
            .collect()
    }

    #[test]
    fn a_longer_phrase_of_another_pattern_shadows_a_shorter_term() {
        assert_eq!(
            ids("MySQL replication lag 300s", "grafana"),
            [("replication".into(), 2.0)]
        );
        assert_eq!(
            ids("Kafka consumer lag", "grafana"),
            [("queue".into(), 2.0)]
        );
        assert_eq!(
            ids("Replica is 300 seconds behind master", "grafana"),
            [("replication".into(), 6.0)]
        );
    }

    #[test]
    fn words_inside_other_words_do_not_match() {
        assert!(ids("NodeClockNotSynchronising", "grafana").is_empty());
        assert_eq!(ids("NodeClockSkewDetected", "netdata")[0].0, "clock");
        assert_eq!(ids("Deadlocks detected", "grafana")[0].0, "locks");
    }

    #[test]
    fn an_excluded_term_rules_the_pattern_out_for_its_alert_only() {
        assert!(ids("lock screen bypass attempt", "grafana").is_empty());
        let base = base();
        let fields = [
            Field::new("lock screen bypass attempt", 1.0, vec![0]),
            Field::new("row lock held for 30 s", 0.75, vec![1]),
        ];
        let found = match_patterns(&fields, &base, "grafana");
        assert_eq!(found[0].pattern.id, "locks");
        assert_eq!(found[0].score, 0.75);
    }

    #[test]
    fn fields_weigh_what_is_found_in_them() {
        let base = base();
        let fields = [
            Field::new("backlog", 1.0, vec![0]),
            Field::new("consumer", 0.5, vec![0]),
        ];
        let found = match_patterns(&fields, &base, "grafana");
        assert_eq!(found[0].terms, ["backlog", "consumer"]);
        assert_eq!(found[0].score, 1.5);
    }
}
