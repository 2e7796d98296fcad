//! Alert text as words: split on word boundaries (CamelCase alert names, snake and kebab case
//! included), lowercased, stemmed, without filler words, so that "clock" never matches "lock"
//! and "CheckoutHighErrorRate" reads as "checkout high error rate".

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Words that carry no meaning for matching; dropping them lets "connection pool is
/// exhausted" match the phrase "connection pool exhausted". Negations are kept: "not ready"
/// means something.
const FILLER: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "of", "to", "in", "on",
    "at", "for", "by", "with", "from", "has", "have", "had", "it", "its", "this", "that", "as",
    "and", "or",
];

/// A run of text as stems, with the joined forms of the words that CamelCase splitting cut
/// (`OOMKilled` is the stems `oom`, `kill` and the compound `oomkill` over both), so a term
/// written either way matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words {
    /// The stems, in order.
    pub stems: Vec<String>,
    /// `(first position, number of stems, stem of the joined word)`.
    pub compounds: Vec<(usize, usize, String)>,
}

impl Words {
    /// The words of `text`.
    pub fn of(text: &str) -> Self {
        let mut words = Self::default();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let parts = camel_parts(word);
            let start = words.stems.len();
            let kept: Vec<String> = parts
                .iter()
                .map(|part| part.to_lowercase())
                .filter(|part| !FILLER.contains(&part.as_str()))
                .map(|part| stem(&part))
                .collect();
            words.stems.extend(kept);
            let count = words.stems.len() - start;
            if parts.len() > 1 && count > 0 {
                words
                    .compounds
                    .push((start, count, stem(&word.to_lowercase())));
            }
        }
        words
    }

    /// Where the phrase `stems` occurs: `(first position, number of stems covered)`. A phrase
    /// of one stem also matches a compound word.
    pub fn find(&self, stems: &[String]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        if stems.is_empty() || stems.len() > self.stems.len() {
            return found;
        }
        for start in 0..=self.stems.len() - stems.len() {
            if self.stems[start..start + stems.len()] == *stems {
                found.push((start, stems.len()));
            }
        }
        if let [only] = stems {
            found.extend(
                self.compounds
                    .iter()
                    .filter(|(_, _, compound)| compound == only)
                    .map(|(start, count, _)| (*start, *count)),
            );
        }
        found
    }
}

fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// `HTTPServerErrors` → `HTTP`, `Server`, `Errors`; `KubePodCrashLooping` → `Kube`, `Pod`,
/// `Crash`, `Looping`. Digits stay with the letters before them (`5xx`, `x509`, `http2`).
fn camel_parts(word: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, current) = chars[i];
        let previous = chars[i - 1].1;
        let next_is_lower = chars.get(i + 1).is_some_and(|(_, c)| c.is_lowercase());
        let boundary = current.is_uppercase()
            && (previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower));
        if boundary {
            parts.push(&word[start..at]);
            start = at;
        }
    }
    parts.push(&word[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(text: &str) -> Vec<String> {
        Words::of(text).stems
    }

    #[test]
    fn camel_snake_and_kebab_case_split_into_words() {
        assert_eq!(
            stems("CheckoutHighErrorRate"),
            ["checkout", "high", "error", "rate"]
        );
        assert_eq!(stems("HTTPServerErrors"), ["http", "server", "error"]);
        assert_eq!(
            stems("KubePodCrashLooping"),
            ["kube", "pod", "crash", "loop"]
        );
        assert_eq!(stems("disk_space_usage"), ["disk", "space", "usag"]);
        assert_eq!(stems("kube-dns"), ["kube", "dns"]);
        assert_eq!(stems("5xx rate above 5%"), ["5xx", "rate", "abov", "5"]);
    }

    #[test]
    fn stems_join_word_forms_and_keep_different_words_apart() {
        assert_eq!(stems("evicted evictions"), stems("eviction evict"));
        assert_eq!(stems("timeouts"), stems("timeout"));
        assert_ne!(stems("clock"), stems("lock"));
        assert!(
            Words::of("NodeClockNotSynchronising")
                .find(&stems("lock"))
                .is_empty()
        );
    }

    #[test]
    fn phrases_match_consecutive_words_across_filler() {
        let words = Words::of("The connection pool is exhausted on db-1");
        assert_eq!(words.find(&stems("connection pool exhausted")), [(0, 3)]);
        assert!(words.find(&stems("pool connection")).is_empty());
    }

    #[test]
    fn a_compound_matches_a_term_written_as_one_word() {
        let words = Words::of("Container OOMKilled");
        assert_eq!(words.find(&stems("oomkilled")), [(1, 2)]);
        assert_eq!(words.find(&stems("OOMKilled")), [(1, 2)]);
        assert_eq!(
            Words::of("reason oomkilled").find(&stems("oomkilled")),
            [(1, 1)]
        );
    }
}
