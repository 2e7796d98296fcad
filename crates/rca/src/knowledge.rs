//! The knowledge base: failure patterns with their hypotheses, checks and remediation.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::words::Words;

/// The patterns shipped with Aurora.
const BUILTIN: &str = include_str!("../knowledge.toml");

/// How risky a remediation step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Safe to try.
    Low,
    /// Changes production behaviour; think first.
    Medium,
    /// Can lose data or availability.
    High,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        })
    }
}

/// A cause a pattern suggests, with how likely it is when the pattern matches.
#[derive(Debug, Clone, Deserialize)]
pub struct PatternHypothesis {
    /// The cause, in a sentence.
    pub cause: String,
    /// In [0, 1].
    pub confidence: f64,
}

/// A remediation step.
#[derive(Debug, Clone, Deserialize)]
pub struct Remediation {
    /// What to do.
    pub step: String,
    /// How risky it is.
    pub risk: Risk,
}

/// A word or phrase that reveals a pattern, with how much it counts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TermSpec {
    /// Counts once per word of the phrase.
    Plain(String),
    /// Counts `weight` times per word of the phrase.
    Weighted {
        /// The word or phrase.
        term: String,
        /// How much it counts, relative to a plain term.
        weight: f64,
    },
}

/// A term ready to match: as written, and as stems.
#[derive(Debug, Clone)]
pub struct Term {
    /// As the knowledge file wrote it, for evidence.
    pub text: String,
    /// Its stems, split at CamelCase boundaries, matched as consecutive words.
    pub stems: Vec<String>,
    /// Its stems with each word as written (`CrashLoopBackOff` as one), matched the same way.
    pub written: Vec<String>,
    /// How much each of its words counts.
    pub weight: f64,
}

impl Term {
    /// Where it occurs in `words`: `(first position, number of stems covered)`.
    pub fn find_in(&self, words: &Words) -> Vec<(usize, usize)> {
        words.find(&self.stems, &self.written)
    }

    fn compile(spec: &TermSpec) -> Self {
        let (text, weight) = match spec {
            TermSpec::Plain(text) => (text.clone(), 1.0),
            TermSpec::Weighted { term, weight } => (term.clone(), *weight),
        };
        let Words { stems, written, .. } = Words::of(&text);
        Self {
            stems,
            written,
            text,
            weight,
        }
    }
}

/// A known way things fail, as a knowledge file writes it.
#[derive(Debug, Clone, Deserialize)]
struct PatternSpec {
    id: String,
    name: String,
    terms: Vec<TermSpec>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    signals: Vec<String>,
    #[serde(default)]
    explains: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
    hypotheses: Vec<PatternHypothesis>,
    #[serde(default)]
    remediation: Vec<Remediation>,
}

/// A known way things fail.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Stable id; a user's pattern with the same id replaces the built-in one.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Words or phrases that reveal it in an alert's title, description, service or labels.
    pub terms: Vec<Term>,
    /// Words or phrases that rule it out.
    pub exclude: Vec<Term>,
    /// Only alerts from these sources, when set.
    pub sources: Vec<String>,
    /// The standard metric signals that, moving first, support it (`memory`, `errors` …).
    pub signals: Vec<String>,
    /// Patterns (by id) that are often its symptoms: when they match too, they count towards
    /// it (a partition explains the replica's lag, not the other way round).
    pub explains: Vec<String>,
    /// What to look at.
    pub checks: Vec<String>,
    /// The causes it suggests.
    pub hypotheses: Vec<PatternHypothesis>,
    /// What to do.
    pub remediation: Vec<Remediation>,
}

impl Pattern {
    fn compile(spec: PatternSpec) -> Result<Self, String> {
        let terms: Vec<Term> = spec.terms.iter().map(Term::compile).collect();
        let exclude: Vec<Term> = spec
            .exclude
            .iter()
            .map(|text| Term::compile(&TermSpec::Plain(text.clone())))
            .collect();
        let problem = if terms.is_empty() || spec.hypotheses.is_empty() {
            Some("needs terms and hypotheses".to_owned())
        } else if let Some(term) = terms.iter().chain(&exclude).find(|t| t.stems.is_empty()) {
            Some(format!("term `{}` has no word to match", term.text))
        } else if let Some(term) = terms.iter().find(|t| !(t.weight > 0.0 && t.weight <= 10.0)) {
            Some(format!("term `{}` needs a weight in (0, 10]", term.text))
        } else if spec
            .hypotheses
            .iter()
            .any(|h| !(0.0..=1.0).contains(&h.confidence))
        {
            Some("needs hypotheses with confidences in [0, 1]".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!("pattern `{}` {problem}", spec.id));
        }
        Ok(Self {
            id: spec.id,
            name: spec.name,
            terms,
            exclude,
            sources: spec.sources,
            signals: spec.signals,
            explains: spec.explains,
            checks: spec.checks,
            hypotheses: spec.hypotheses,
            remediation: spec.remediation,
        })
    }
}

/// A knowledge file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("knowledge file {file}: {detail}")]
pub struct KnowledgeError {
    file: String,
    detail: String,
}

#[derive(Debug, Deserialize)]
struct KnowledgeFile {
    pattern: Vec<PatternSpec>,
}

/// Failure patterns, built-in and the users' own.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    patterns: Vec<Pattern>,
    /// `(pattern, term)` by the first stem of the term (split and as written), so that a text
    /// is checked only for the terms that can start in it.
    by_first_stem: HashMap<String, Vec<(usize, usize)>>,
}

fn parse(file: &str, text: &str) -> Result<Vec<Pattern>, KnowledgeError> {
    let fail = |detail: String| KnowledgeError {
        file: file.to_owned(),
        detail,
    };
    let parsed: KnowledgeFile = toml::from_str(text).map_err(|err| fail(err.to_string()))?;
    parsed
        .pattern
        .into_iter()
        .map(|spec| Pattern::compile(spec).map_err(&fail))
        .collect()
}

impl KnowledgeBase {
    /// The built-in patterns.
    pub fn builtin() -> Self {
        let base = Self::of(
            parse("knowledge.toml", BUILTIN).expect("the built-in knowledge base is valid"),
        );
        base.check_references("knowledge.toml")
            .expect("the built-in knowledge base refers to its own patterns");
        base
    }

    /// Only the patterns of one knowledge file's text.
    #[cfg(test)]
    pub(crate) fn from_text(text: &str) -> Result<Self, KnowledgeError> {
        Ok(Self::of(parse("(text)", text)?))
    }

    /// The built-in patterns extended (or overridden by id) with users' files.
    pub fn with_files(files: &[impl AsRef<Path>]) -> Result<Self, KnowledgeError> {
        let mut patterns = Self::builtin().patterns;
        for file in files {
            let name = file.as_ref().display().to_string();
            let text = std::fs::read_to_string(file).map_err(|err| KnowledgeError {
                file: name.clone(),
                detail: err.to_string(),
            })?;
            for pattern in parse(&name, &text)? {
                patterns.retain(|known| known.id != pattern.id);
                patterns.push(pattern);
            }
        }
        let base = Self::of(patterns);
        base.check_references("the knowledge files")?;
        Ok(base)
    }

    /// Every `explains` names a pattern: a typo would silently do nothing.
    fn check_references(&self, file: &str) -> Result<(), KnowledgeError> {
        for pattern in &self.patterns {
            if let Some(missing) = pattern
                .explains
                .iter()
                .find(|id| **id == pattern.id || !self.patterns.iter().any(|p| &p.id == *id))
            {
                return Err(KnowledgeError {
                    file: file.to_owned(),
                    detail: format!(
                        "pattern `{}` explains `{missing}`, which is itself or no pattern's id",
                        pattern.id
                    ),
                });
            }
        }
        Ok(())
    }

    /// Every pattern.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The `(pattern, term)` pairs whose term starts with `stem`.
    pub(crate) fn terms_starting(&self, stem: &str) -> &[(usize, usize)] {
        self.by_first_stem.get(stem).map_or(&[], Vec::as_slice)
    }

    /// A base of these patterns, indexed.
    fn of(patterns: Vec<Pattern>) -> Self {
        let mut by_first_stem: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (p, pattern) in patterns.iter().enumerate() {
            for (t, term) in pattern.terms.iter().enumerate() {
                for first in [term.stems.first(), term.written.first()]
                    .into_iter()
                    .flatten()
                {
                    let entry = by_first_stem.entry(first.clone()).or_default();
                    if !entry.contains(&(p, t)) {
                        entry.push((p, t));
                    }
                }
            }
        }
        Self {
            patterns,
            by_first_stem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_base_covers_the_common_failures() {
        let base = KnowledgeBase::builtin();
        let ids: Vec<&str> = base.patterns().iter().map(|p| p.id.as_str()).collect();
        for id in [
            "cpu-saturation",
            "memory-pressure",
            "disk-exhaustion",
            "error-rate",
            "latency",
            "crash-loop",
            "unreachable",
            "certificate-expiry",
            "database-connections",
            "queue-backlog",
            "failed-deployment",
        ] {
            assert!(ids.contains(&id), "{id}");
        }
    }

    #[test]
    fn a_users_file_adds_and_overrides_patterns() {
        let dir = std::env::temp_dir().join(format!("aurora-kb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ours.toml");
        std::fs::write(
            &file,
            r#"
[[pattern]]
id = "latency"
name = "Our latency"
terms = ["slowness"]
hypotheses = [{ cause = "The nightly batch job", confidence = 0.9 }]

[[pattern]]
id = "feature-flag"
name = "Feature flag"
terms = ["flag"]
hypotheses = [{ cause = "A flag flipped", confidence = 0.5 }]
"#,
        )
        .unwrap();
        let base = KnowledgeBase::with_files(&[&file]).unwrap();
        assert_eq!(
            base.patterns().iter().filter(|p| p.id == "latency").count(),
            1
        );
        assert!(base.patterns().iter().any(|p| p.name == "Our latency"));
        assert!(base.patterns().iter().any(|p| p.id == "feature-flag"));
        std::fs::write(
            &file,
            "[[pattern]]\nid = \"x\"\nname = \"x\"\nterms = []\nhypotheses = []\n",
        )
        .unwrap();
        let err = KnowledgeBase::with_files(&[&file]).unwrap_err().to_string();
        assert!(err.contains("pattern `x`"), "{err}");
        std::fs::write(
            &file,
            "[[pattern]]\nid = \"y\"\nname = \"y\"\nterms = [\"--\"]\nhypotheses = [{ cause = \"c\", confidence = 0.5 }]\n",
        )
        .unwrap();
        let err = KnowledgeBase::with_files(&[&file]).unwrap_err().to_string();
        assert!(err.contains("term `--` has no word"), "{err}");
        std::fs::write(
            &file,
            "[[pattern]]\nid = \"z\"\nname = \"z\"\nexplains = [\"latncy\"]\nterms = [\"z\"]\nhypotheses = [{ cause = \"c\", confidence = 0.5 }]\n",
        )
        .unwrap();
        let err = KnowledgeBase::with_files(&[&file]).unwrap_err().to_string();
        assert!(err.contains("explains `latncy`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
