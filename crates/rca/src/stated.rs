//! Causes an alert states itself. Monitoring descriptions often name the mechanism ("… because
//! the pool is exhausted", "… after feature X was enabled", "… exceeded its memory limit"); the
//! analyst quotes such a sentence as evidence. Only these markers count: a description that
//! states no cause yields none.

use std::sync::LazyLock;

use regex::Regex;

/// A cause stated in an alert's description.
#[derive(Debug, Clone, PartialEq)]
pub struct StatedCause {
    /// The whole sentence, for quoting.
    pub sentence: String,
    /// The part that names the cause (after "because", "due to" …), to match against patterns.
    pub clause: String,
}

/// Markers that introduce a cause; the clause is what follows them up to the sentence's end.
/// (`(?-u:\b)`: ASCII word boundaries keep the regex on its fast engine for any text.)
static INTRODUCES_CAUSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:because(?: of)?|due to|caused by|as a result of|resulting from|held by|blocked by|root cause(?: is| was)?:?)\s+(.+)",
    )
    .expect("a valid pattern")
});

/// "after X was enabled", "after the v2 rollout": a change that came before; the clause is the
/// change itself.
static AFTER_CHANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)after\s+(.{3,120}?(?-u:\b)(?:was|were|got|had been)\s+(?:enabled|disabled|deployed|changed|rolled out|updated|upgraded|applied|pushed|rotated|removed|added|migrated|turned on|switched|reconfigured|revoked|expired)(?-u:\b).*)",
    )
    .expect("a valid pattern")
});

/// "exceeded its memory limit", "hit the connection quota": the sentence is the cause. Not
/// "over the … limit", which is how thresholds are worded.
static EXCEEDED_LIMIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:exceed(?:ed|s|ing)?|hit|reached)\s+(?:its|their|the)\s+.{0,60}?(?-u:\b)(?:limit|quota|maximum|cap)(?-u:\b)")
        .expect("a valid pattern")
});

/// Words that make what follows a guess, not a statement ("may be due to …").
const HEDGES: &[&str] = &[
    "may", "might", "could", "possibly", "perhaps", "if", "whether",
];

/// Longest sentence read, in characters: a cause is stated near its marker, and a log line
/// without full stops must not make every search long.
const MAX_SENTENCE_CHARS: usize = 400;

/// True when one of the two words before `at` hedges.
fn hedged(sentence: &str, at: usize) -> bool {
    sentence[..at]
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(2)
        .any(|word| HEDGES.contains(&word.to_lowercase().as_str()))
}

/// The causes `description` states, in order, one per sentence at most.
pub fn stated_causes(description: &str) -> Vec<StatedCause> {
    sentences(description)
        .filter_map(|sentence| {
            let sentence = match sentence.char_indices().nth(MAX_SENTENCE_CHARS) {
                Some((cut, _)) => &sentence[..cut],
                None => sentence,
            };
            let clause = INTRODUCES_CAUSE
                .captures(sentence)
                .or_else(|| AFTER_CHANGE.captures(sentence))
                .filter(|found| !hedged(sentence, found.get(0).expect("a match").start()))
                .map(|found| found[1].to_owned())
                .or_else(|| {
                    EXCEEDED_LIMIT
                        .find(sentence)
                        .filter(|found| !hedged(sentence, found.start()))
                        .map(|_| sentence.to_owned())
                })?;
            let clause = clause
                .trim_end_matches(['.', '!', ';', ' '])
                .trim()
                .to_owned();
            (!clause.is_empty()).then(|| StatedCause {
                sentence: sentence.trim().to_owned(),
                clause,
            })
        })
        .collect()
}

/// Sentences: split at line ends and at `.`, `!` or `?` followed by a space (not inside
/// numbers like `5.2`).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.lines().flat_map(|line| {
        let mut parts = Vec::new();
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, byte) in bytes.iter().enumerate() {
            let ends = matches!(byte, b'.' | b'!' | b'?')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace);
            if ends {
                parts.push(&line[start..=i]);
                start = i + 1;
            }
        }
        parts.push(&line[start..]);
        parts.into_iter().filter(|s| !s.trim().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(text: &str) -> Vec<String> {
        stated_causes(text).into_iter().map(|c| c.clause).collect()
    }

    #[test]
    fn markers_introduce_the_cause() {
        assert_eq!(
            clauses(
                "Checkout p99 is 4.2s. Requests queue because the connection pool is exhausted."
            ),
            ["the connection pool is exhausted"]
        );
        assert_eq!(
            clauses("5xx above 5% due to upstream timeouts"),
            ["upstream timeouts"]
        );
        assert_eq!(
            clauses("Writes blocked; the row lock is held by pid 4242 (idle in transaction)"),
            ["pid 4242 (idle in transaction)"]
        );
        assert_eq!(
            clauses("Errors rose after feature flag new-pricing was enabled for 50% of users."),
            ["feature flag new-pricing was enabled for 50% of users"]
        );
        assert_eq!(
            clauses("Container api exceeded its memory limit of 512Mi and was killed"),
            ["Container api exceeded its memory limit of 512Mi and was killed"]
        );
    }

    #[test]
    fn a_description_that_states_no_cause_yields_none() {
        assert!(clauses("5xx rate above 5% for 10 minutes").is_empty());
        assert!(clauses("CPU over the last 5m is over the 90% limit").is_empty());
        assert!(clauses("Alert triggered by rule HighErrorRate").is_empty());
        assert!(clauses("Latency may be due to a leak or a traffic spike").is_empty());
        assert!(clauses("Check whether it exceeded its memory limit").is_empty());
        assert!(clauses("Replica is 300 s behind. Check the dashboard.").is_empty());
        assert!(clauses("Latency rose after 10:02 UTC").is_empty());
    }

    #[test]
    fn each_sentence_is_quoted_whole() {
        let found =
            stated_causes("Disk 97% full.\nWAL grows because archiving fails. See runbook.");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].sentence, "WAL grows because archiving fails.");
        assert_eq!(found[0].clause, "archiving fails");
    }
}
