//! The knowledge base: failure patterns with their hypotheses, checks and remediation.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

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

/// A known way things fail.
#[derive(Debug, Clone, Deserialize)]
pub struct Pattern {
    /// Stable id; a user's pattern with the same id replaces the built-in one.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Words or phrases that reveal it in a title, service or label value.
    pub terms: Vec<String>,
    /// Only alerts from these sources, when set.
    #[serde(default)]
    pub sources: Vec<String>,
    /// What to look at.
    #[serde(default)]
    pub checks: Vec<String>,
    /// The causes it suggests.
    pub hypotheses: Vec<PatternHypothesis>,
    /// What to do.
    #[serde(default)]
    pub remediation: Vec<Remediation>,
}

impl Pattern {
    /// The terms found in `text` (already lowercased).
    pub fn matched_terms(&self, text: &str) -> Vec<&str> {
        self.terms
            .iter()
            .map(String::as_str)
            .filter(|term| text.contains(&term.to_lowercase()))
            .collect()
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
    pattern: Vec<Pattern>,
}

/// Failure patterns, built-in and the users' own.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    patterns: Vec<Pattern>,
}

fn parse(file: &str, text: &str) -> Result<Vec<Pattern>, KnowledgeError> {
    let parsed: KnowledgeFile = toml::from_str(text).map_err(|err| KnowledgeError {
        file: file.to_owned(),
        detail: err.to_string(),
    })?;
    for pattern in &parsed.pattern {
        let bad = pattern.terms.is_empty()
            || pattern.hypotheses.is_empty()
            || pattern
                .hypotheses
                .iter()
                .any(|h| !(0.0..=1.0).contains(&h.confidence));
        if bad {
            return Err(KnowledgeError {
                file: file.to_owned(),
                detail: format!(
                    "pattern `{}` needs terms and hypotheses with confidences in [0, 1]",
                    pattern.id
                ),
            });
        }
    }
    Ok(parsed.pattern)
}

impl KnowledgeBase {
    /// The built-in patterns.
    pub fn builtin() -> Self {
        Self {
            patterns: parse("knowledge.toml", BUILTIN)
                .expect("the built-in knowledge base is valid"),
        }
    }

    /// The built-in patterns extended (or overridden by id) with users' files.
    pub fn with_files(files: &[impl AsRef<Path>]) -> Result<Self, KnowledgeError> {
        let mut base = Self::builtin();
        for file in files {
            let name = file.as_ref().display().to_string();
            let text = std::fs::read_to_string(file).map_err(|err| KnowledgeError {
                file: name.clone(),
                detail: err.to_string(),
            })?;
            for pattern in parse(&name, &text)? {
                base.patterns.retain(|known| known.id != pattern.id);
                base.patterns.push(pattern);
            }
        }
        Ok(base)
    }

    /// Every pattern.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
