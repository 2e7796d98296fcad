//! Alert text as words: split on word boundaries (CamelCase alert names, snake and kebab case
//! included), lowercased, stemmed, without filler words, so that "clock" never matches "lock"
//! and "CheckoutHighErrorRate" reads as "checkout high error rate".

use std::cell::RefCell;
use std::collections::HashMap;
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

/// A run of text as stems, read two ways: split at CamelCase boundaries (`OOMKilled` is
/// `oom`, `kill`), and as written (`oomkill` over the same two positions). A term is looked up
/// both ways, so `oomkilled`, `OOMKilled` and "JavaScript heap" (as `javascript heap`) match
/// whichever way the alert writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words {
    /// The split stems, in order.
    pub stems: Vec<String>,
    /// Each word as written, stemmed (`CrashLoopBackOff` as one).
    pub written: Vec<String>,
    /// Where each word as written lies in `stems`: `(first position, number of stems)`.
    pub spans: Vec<(usize, usize)>,
}

impl Words {
    /// The words of `text`.
    pub fn of(text: &str) -> Self {
        let mut words = Self::default();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let start = words.stems.len();
            let kept: Vec<String> = camel_parts(word)
                .iter()
                .map(|part| without_plural_acronym(part).to_lowercase())
                .filter(|part| !FILLER.contains(&part.as_str()))
                .map(|part| stem(&part))
                .collect();
            words.stems.extend(kept);
            let count = words.stems.len() - start;
            if count > 0 {
                let whole = without_plural_acronym(word).to_lowercase();
                words.written.push(stem(&whole));
                words.spans.push((start, count));
            }
        }
        words
    }

    /// Where the phrase `split` (or the same phrase as written, `written`) occurs:
    /// `(first position, number of stems covered)`, each place once.
    pub fn find(&self, split: &[String], written: &[String]) -> Vec<(usize, usize)> {
        let mut found = occurrences(&self.stems, split);
        for (first, length) in occurrences(&self.written, written) {
            let (start, _) = self.spans[first];
            let (last_start, last_count) = self.spans[first + length - 1];
            let span = (start, last_start + last_count - start);
            if !found.contains(&span) {
                found.push(span);
            }
        }
        found
    }
}

/// Where `phrase` occurs in `sequence`: `(first index, length)`.
fn occurrences(sequence: &[String], phrase: &[String]) -> Vec<(usize, usize)> {
    if phrase.is_empty() || phrase.len() > sequence.len() {
        return Vec::new();
    }
    (0..=sequence.len() - phrase.len())
        .filter(|&start| sequence[start..start + phrase.len()] == *phrase)
        .map(|start| (start, phrase.len()))
        .collect()
}

/// `CPUs` → `CPU`, `5XXs` → `5XX`: an acronym's plural `s` is not a word of its own.
fn without_plural_acronym(word: &str) -> &str {
    match word.strip_suffix('s') {
        Some(stem)
            if stem.chars().count() >= 2
                && stem.chars().all(|c| c.is_uppercase() || c.is_ascii_digit())
                && stem.chars().any(char::is_uppercase) =>
        {
            stem
        }
        _ => word,
    }
}

/// Stems already computed on this thread, at most [`STEMS_KEPT`]: a storm's alerts repeat
/// the same words thousands of times, and stemming is most of the cost of reading them.
const STEMS_KEPT: usize = 50_000;

thread_local! {
    static STEMS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Longer words are stemmed every time: alert text is the sender's, and a cache of long words
/// would grow with whatever it sends.
const CACHED_WORD_BYTES: usize = 32;

fn stem(word: &str) -> String {
    if word.len() > CACHED_WORD_BYTES {
        return STEMMER.stem(word).into_owned();
    }
    STEMS.with_borrow_mut(|stems| {
        if let Some(stem) = stems.get(word) {
            return stem.clone();
        }
        if stems.len() >= STEMS_KEPT {
            stems.clear();
        }
        let stem = STEMMER.stem(word).into_owned();
        stems.insert(word.to_owned(), stem.clone());
        stem
    })
}

/// `HTTPServerErrors` → `HTTP`, `Server`, `Errors`; `KubePodCrashLooping` → `Kube`, `Pod`,
/// `Crash`, `Looping`; `NodeCPUs` → `Node`, `CPU`. Digits stay with the letters around them
/// (`5XX`, `x509`, `K8S`, `http2`), unless a capitalised word follows (`10Min` → `10`, `Min`).
fn camel_parts(word: &str) -> Vec<&str> {
    let word = without_plural_acronym(word);
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, current) = chars[i];
        let previous = chars[i - 1].1;
        let next = chars.get(i + 1).map(|(_, c)| *c);
        let next_is_lower = next.is_some_and(char::is_lowercase);
        // `CPUs`: an acronym's plural, not the start of a word `Us`.
        let plural_s = next == Some('s') && chars.get(i + 2).is_none_or(|(_, c)| !c.is_lowercase());
        let boundary = current.is_uppercase()
            && (previous.is_lowercase()
                || (previous.is_ascii_digit() && next_is_lower)
                || (previous.is_uppercase() && next_is_lower && !plural_s));
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

    fn find(text: &str, term: &str) -> Vec<(usize, usize)> {
        let term = Words::of(term);
        Words::of(text).find(&term.stems, &term.written)
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
    fn digits_and_acronym_plurals_stay_with_their_word() {
        assert_eq!(stems("HTTP 5XX errors"), ["http", "5xx", "error"]);
        assert_eq!(stems("K8S"), ["k8s"]);
        assert_eq!(stems("10MinCpuUsage"), ["10", "min", "cpu", "usag"]);
        assert_eq!(stems("Node CPUs saturated"), stems("node cpu saturated"));
        assert_eq!(stems("5XXs"), ["5xx"]);
        assert_eq!(find("HTTP 5XX errors", "http 5xx"), [(0, 2)]);
    }

    #[test]
    fn stems_join_word_forms_and_keep_different_words_apart() {
        assert_eq!(stems("evicted evictions"), stems("eviction evict"));
        assert_eq!(stems("timeouts"), stems("timeout"));
        assert_ne!(stems("clock"), stems("lock"));
        assert!(find("NodeClockNotSynchronising", "lock").is_empty());
    }

    #[test]
    fn phrases_match_consecutive_words_across_filler() {
        assert_eq!(
            find(
                "The connection pool is exhausted on db-1",
                "connection pool exhausted"
            ),
            [(0, 3)]
        );
        assert!(find("The connection pool is exhausted", "pool connection").is_empty());
    }

    #[test]
    fn a_word_matches_whether_written_as_one_word_or_in_camel_case() {
        assert_eq!(find("Container OOMKilled", "oomkilled"), [(1, 2)]);
        assert_eq!(find("Container OOMKilled", "OOMKilled"), [(1, 2)]);
        assert_eq!(find("reason oomkilled", "OOMKilled"), [(1, 1)]);
        assert_eq!(
            find("reason:crashloopbackoff", "CrashLoopBackOff"),
            [(1, 1)]
        );
        assert_eq!(
            find(
                "JavaScript heap out of memory",
                "javascript heap out of memory"
            ),
            [(0, 5)]
        );
        assert_eq!(find("OAuth token expired", "oauth token"), [(0, 3)]);
    }
}
