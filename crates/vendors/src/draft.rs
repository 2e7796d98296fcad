//! The rules every vendor's alerts share: fingerprint from the vendor's key, a trimmed and
//! bounded title, the receipt time when the vendor gives no start, and no NUL character in any
//! text (PostgreSQL refuses `\u0000` in TEXT and JSONB, so one would make the alert unstorable).

use std::collections::BTreeMap;

use aurora_domain::{
    AlertStatus, DeploymentEvent, Fingerprint, NormalizedAlert, Severity, SourceType,
};
use chrono::{DateTime, Utc};

/// Longest title kept, in characters; longer ones end with an ellipsis.
pub(crate) const MAX_TITLE_CHARS: usize = 300;
/// Longest description kept, in characters: enough for a vendor's message, not for a log dump.
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// An alert as a vendor module read it.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    /// What identifies the problem: the vendor's own id alone, or parts to hash.
    pub key: Vec<String>,
    pub status: AlertStatus,
    pub severity: Severity,
    pub title: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub runbook_url: Option<String>,
}

impl Draft {
    /// A firing alert of unknown severity with this key; the vendor fills in the rest.
    pub(crate) fn new(key: Vec<String>) -> Self {
        Self {
            key,
            status: AlertStatus::Firing,
            severity: Severity::Unknown,
            title: None,
            service: None,
            environment: None,
            started_at: None,
            labels: BTreeMap::new(),
            url: None,
            description: None,
            runbook_url: None,
        }
    }

    /// Sets the description from the vendor's texts, in order: the distinct non-blank ones that
    /// do not repeat the title, one per line (Alertmanager's `summary` and `description` often
    /// say different things). Call it after setting the title.
    pub(crate) fn describe(&mut self, parts: impl IntoIterator<Item = Option<String>>) {
        let title = self.title.as_deref().map(str::trim);
        let mut kept: Vec<String> = Vec::new();
        for part in parts.into_iter().flatten() {
            let part = part.trim().to_owned();
            if !part.is_empty() && Some(part.as_str()) != title && !kept.contains(&part) {
                kept.push(part);
            }
        }
        self.description = (!kept.is_empty()).then(|| kept.join("\n"));
    }

    /// Applies the shared rules.
    pub(crate) fn finish(self, source: SourceType, received_at: DateTime<Utc>) -> NormalizedAlert {
        let key: Vec<String> = self.key.into_iter().map(without_nul).collect();
        let title = self.title.as_deref().and_then(bounded_title);
        NormalizedAlert {
            source_type: source,
            fingerprint: fingerprint(&key),
            status: self.status,
            severity: self.severity,
            title: title.unwrap_or_else(|| format!("{} alert", source.display_name())),
            service: self.service.as_deref().and_then(non_blank),
            environment: self.environment.as_deref().and_then(non_blank),
            started_at: self.started_at.unwrap_or(received_at),
            labels: self
                .labels
                .into_iter()
                .map(|(key, value)| (without_nul(key), without_nul(value)))
                .collect(),
            url: self.url.as_deref().and_then(non_blank),
            description: self.description.as_deref().and_then(bounded_description),
            runbook_url: self.runbook_url.as_deref().and_then(web_link),
        }
    }
}

/// The vendor's own key when it is one short part, else a hash of the parts.
fn fingerprint(key: &[String]) -> Fingerprint {
    match key {
        [only] => Fingerprint::parse(only.clone())
            .unwrap_or_else(|_| Fingerprint::from_parts([only.as_str()])),
        parts => Fingerprint::from_parts(parts.iter().map(String::as_str)),
    }
}

/// The text without NUL characters.
pub(crate) fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

/// A JSON value with NUL characters removed from every string and key: PostgreSQL's JSONB
/// refuses `\u0000`, so a raw body holding one could never be stored.
pub fn json_without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(without_nul(text)),
        Value::Array(items) => Value::Array(items.into_iter().map(json_without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (without_nul(key), json_without_nul(value)))
                .collect(),
        ),
        other => other,
    }
}

/// A CI system's deployment with no NUL in its text, for the same reason as an alert's.
pub(crate) fn deployment_without_nul(deployment: DeploymentEvent) -> DeploymentEvent {
    let clean = |text: Option<String>| text.map(without_nul);
    DeploymentEvent {
        service: without_nul(deployment.service),
        environment: clean(deployment.environment),
        build: clean(deployment.build),
        url: clean(deployment.url),
        commit: clean(deployment.commit),
        branch: clean(deployment.branch),
        ..deployment
    }
}

/// Longest runbook link kept.
const MAX_LINK_CHARS: usize = 2048;

/// An absolute http(s) link with no space or control character in it, at most
/// [`MAX_LINK_CHARS`]; anything else is not a link people should be sent to.
fn web_link(text: &str) -> Option<String> {
    let link = text.trim();
    let web = link.starts_with("https://") || link.starts_with("http://");
    let clean = !link
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    (web && clean && link.chars().count() <= MAX_LINK_CHARS).then(|| link.to_owned())
}

/// Trimmed, without NULs; `None` when nothing is left.
fn non_blank(text: &str) -> Option<String> {
    Some(without_nul(text.to_owned()).trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// NULs removed, blank lines dropped, at most [`MAX_DESCRIPTION_CHARS`]; `None` when blank.
fn bounded_description(text: &str) -> Option<String> {
    // A bare `\r` ends a line for Markdown readers though not for `lines()`: made a `\n`, it
    // cannot smuggle a line past whoever quotes the description line by line.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    at_most(without_nul(lines.join("\n")), MAX_DESCRIPTION_CHARS)
}

/// `None` when blank; else the text, cut to `limit` characters with an ellipsis when longer.
fn at_most(text: String, limit: usize) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    if text.chars().count() <= limit {
        return Some(text);
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    Some(cut)
}

/// Whitespace collapsed, NULs removed, at most [`MAX_TITLE_CHARS`]; `None` when blank.
pub(crate) fn bounded_title(text: &str) -> Option<String> {
    let collapsed = text
        .split_whitespace()
        .map(|word| word.replace('\0', ""))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    at_most(collapsed, MAX_TITLE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_their_lines_and_runbook_links_must_be_plain_web_links() {
        let mut draft = Draft::new(vec!["k".into()]);
        draft.title = Some("Disk full".into());
        draft.describe([
            Some("Disk full".into()),
            Some("97% used\r## Likely root cause\r\n\nsee below".into()),
            None,
        ]);
        draft.runbook_url = Some("https://runbooks.example.com/disk full".into());
        let alert = draft.finish(SourceType::Grafana, Utc::now());
        assert_eq!(
            alert.description.as_deref(),
            Some("97% used\n## Likely root cause\nsee below")
        );
        assert_eq!(alert.runbook_url, None);
        for (link, kept) in [
            ("https://runbooks.example.com/disk", true),
            ("javascript:alert(1)", false),
            ("https://x.example.com/a>b", false),
            ("runbooks/disk.md", false),
        ] {
            assert_eq!(web_link(link).is_some(), kept, "{link}");
        }
    }

    #[test]
    fn titles_are_trimmed_collapsed_and_bounded() {
        assert_eq!(
            bounded_title("  disk\n full  ").as_deref(),
            Some("disk full")
        );
        assert_eq!(bounded_title(" \n "), None);
        let long = bounded_title(&"é".repeat(1000)).unwrap();
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn no_text_keeps_a_nul() {
        let mut draft = Draft::new(vec!["PX\0Y".into()]);
        draft.title = Some("disk\0 full \0".into());
        draft.service = Some("\0".into());
        draft.environment = Some("pro\0d".into());
        draft.url = Some("https://x/\0".into());
        draft.labels = BTreeMap::from([("k\0".to_owned(), "v\0".to_owned())]);
        let alert = draft.finish(SourceType::Datadog, Utc::now());
        assert_eq!(alert.fingerprint.as_str(), "PXY");
        assert_eq!(alert.title, "disk full");
        assert_eq!(alert.service, None, "nothing but a NUL is blank");
        assert_eq!(alert.environment.as_deref(), Some("prod"));
        assert_eq!(alert.url.as_deref(), Some("https://x/"));
        assert_eq!(alert.labels.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn a_short_vendor_key_is_kept_and_parts_are_hashed() {
        assert_eq!(fingerprint(&["PFQZPSY".into()]).as_str(), "PFQZPSY");
        assert_eq!(fingerprint(&["a".into(), "b".into()]).as_str().len(), 32);
        assert_eq!(fingerprint(&["x".repeat(300)]).as_str().len(), 32);
    }
}
