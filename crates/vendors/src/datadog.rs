//! Datadog webhooks integration. The body is a template the user writes; the default one and
//! the common additions (`$ALERT_TRANSITION`, `$ALERT_PRIORITY`, `$ALERT_SCOPE`, `$TAGS`,
//! `$ALERT_ID`) are read, each optional.
//!
//! The body is JSON, or a form when the webhook is set to "Encode as form"; JSON is tried
//! first, whatever the content type says, and a body that is not JSON is read as a form.
//!
//! Docs: <https://docs.datadoghq.com/integrations/webhooks/>

use aurora_domain::{AlertStatus, Normalized, Severity, SourceType};

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{
    Vendor, VendorError, WebhookRequest, form_body_as_json, invalid, labels, parse_object,
};

const SOURCE: SourceType = SourceType::Datadog;

/// Datadog's webhook.
#[derive(Debug, Clone, Copy, Default)]
pub struct Datadog;

impl Vendor for Datadog {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn accepts_form_bodies(&self) -> bool {
        true
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = match parse_object(SOURCE, request.body) {
            Ok(body) => body,
            // Not JSON: a form, or the JSON error stands.
            Err(not_json) => form_body_as_json(request.body).ok_or(not_json)?,
        };
        let fields = Fields::of(&body).expect("an object, from JSON or a form");
        let monitor = fields.text(&["alert_id", "monitor_id", "monitor"]);
        let raw_title = match (
            fields.text(&["title", "event_title", "alert_title"]),
            &monitor,
        ) {
            (Some(title), _) => title,
            // A template without $EVENT_TITLE but with $ALERT_ID still names the problem.
            (None, Some(monitor)) => format!("Datadog monitor {monitor}"),
            (None, None) => {
                return Err(invalid(
                    SOURCE,
                    "missing field `title` ($EVENT_TITLE) and `alert_id` ($ALERT_ID)",
                ));
            }
        };
        let title = TitleParts::parse(&raw_title);
        if title.test {
            return Ok(Normalized::default());
        }
        let scope = fields
            .text(&["alert_scope", "scope"])
            .or(title.scope.clone());
        let mut tags = labels::tag_pairs(fields.get("tags").or_else(|| fields.get("alert_tags")));
        if let Some(scope) = &scope {
            tags.extend(labels::tag_pairs(Some(&serde_json::Value::String(
                scope.clone(),
            ))));
        }
        let mut draft = Draft::new(match monitor {
            // The monitor and the group it fired for: stable across triggers and recoveries.
            Some(monitor) => vec!["monitor".into(), monitor, scope.clone().unwrap_or_default()],
            // Without $ALERT_ID: the monitor's name within the org, which the default payload
            // repeats in every notification (the event id changes each time).
            None => vec![
                "title".into(),
                fields
                    .object("org")
                    .and_then(|org| org.text(&["id"]))
                    .unwrap_or_default(),
                title.name.clone(),
                scope.clone().unwrap_or_default(),
            ],
        });
        // Not `alert_status`: Datadog's $ALERT_STATUS is a sentence about the value, not a state.
        let transition = fields.text(&["transition", "alert_transition", "alert_state"]);
        let alert_type = fields.text(&["alert_type"]);
        draft.status = status(
            transition.as_deref(),
            alert_type.as_deref(),
            title.transition.as_deref(),
        );
        let priority = fields
            .text(&["alert_priority", "priority"])
            .or(title.priority.clone());
        draft.severity = severity(
            priority.as_deref(),
            alert_type.as_deref(),
            title.transition.as_deref(),
        );
        draft.title = Some(title.name);
        draft.service = labels::service(&tags);
        draft.environment = labels::environment(&tags);
        draft.started_at = fields.time(&["date", "last_updated", "alert_cycle_key_timestamp"]);
        draft.url = fields
            .text(&["link", "url", "alert_url", "event_url"])
            .or_else(|| {
                fields
                    .text(&["body", "event_msg"])
                    .and_then(|body| monitor_link(&body))
            });
        draft.describe([fields
            .text(&["body", "event_msg"])
            .map(|body| without_markdown_fence(&body))]);
        draft.labels = tags;
        for (key, value) in [
            ("priority", priority),
            ("scope", scope),
            ("transition", transition),
            ("event_type", fields.text(&["event_type"])),
        ] {
            if let Some(value) = value {
                draft.labels.entry(key.to_owned()).or_insert(value);
            }
        }
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// What the bracketed prefixes of a Datadog title say: `[P1] [Triggered on {host:a}] name`.
#[derive(Debug, Default, PartialEq)]
struct TitleParts {
    priority: Option<String>,
    transition: Option<String>,
    scope: Option<String>,
    test: bool,
    name: String,
}

/// The transitions Datadog writes at the head of a title, alone (`[Recovered]`) or with the
/// group that changed (`[Recovered on {host:a}]`); lowercase.
const TITLE_TRANSITIONS: &[&str] = &[
    "triggered",
    "re-triggered",
    "retriggered",
    "recovered",
    "warn",
    "re-warn",
    "warning",
    "no data",
    "re-no data",
    "renotify",
    "re-notify",
];

impl TitleParts {
    /// Reads the prefixes Datadog writes, and stops at the first bracket that is not one: in
    /// `[Recovered on {region:eu}] [Synthetics] Login`, `[Synthetics]` belongs to the name.
    fn parse(title: &str) -> Self {
        let mut parts = TitleParts::default();
        let mut rest = title.trim();
        while let Some((token, after)) = bracketed(rest) {
            let token = token.trim();
            let lower = token.to_ascii_lowercase();
            if lower == "test" {
                parts.test = true;
            } else if lower.len() == 2
                && lower.starts_with('p')
                && lower.as_bytes()[1].is_ascii_digit()
            {
                parts.priority = Some(token.to_owned());
            } else if let Some((word, scope)) = transition(token) {
                parts.transition = Some(word.to_owned());
                parts.scope = scope.map(str::to_owned);
            } else {
                break;
            }
            rest = after.trim_start();
        }
        parts.name = rest.to_owned();
        if parts.name.is_empty() {
            parts.name = title.trim().to_owned();
        }
        parts
    }
}

/// The text of a leading `[…]` and what follows it. A `]` inside the `{…}` of a scope does not
/// close it: log monitors group by facets whose values hold brackets (`{error.kind:[E]}`).
fn bracketed(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('[')?;
    let mut depth = 0_usize;
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some((&inner[..at], &inner[at + 1..])),
            _ => {}
        }
    }
    None
}

/// A transition, and the scope after ` on ` without its braces: `Warn on {env:prod}`.
fn transition(token: &str) -> Option<(&str, Option<&str>)> {
    // ASCII lowercasing keeps byte offsets, so a match in `lower` cuts `token` at the same place.
    let lower = token.to_ascii_lowercase();
    let (word, scope) = match lower.find(" on ") {
        Some(at) => (token[..at].trim(), Some(token[at + 4..].trim())),
        None => (token, None),
    };
    let scope = scope.map(|scope| {
        scope
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(scope)
            .trim()
    });
    TITLE_TRANSITIONS
        .contains(&word.to_ascii_lowercase().as_str())
        .then_some((word, scope))
}

/// `Recovered` (transition), `success` (alert type) or a `[Recovered]` prefix resolve; any
/// other state fires.
fn status(transition: Option<&str>, alert_type: Option<&str>, prefix: Option<&str>) -> AlertStatus {
    // The first of the three that is a state word decides; free text in one does not hide
    // the others.
    [transition, alert_type, prefix]
        .into_iter()
        .flatten()
        .map(str::to_ascii_lowercase)
        .find_map(|word| match word.as_str() {
            "recovered" | "success" | "ok" | "resolved" => Some(AlertStatus::Resolved),
            _ if word.starts_with("recovered") => Some(AlertStatus::Resolved),
            "triggered" | "re-triggered" | "retriggered" | "warn" | "warning" | "error"
            | "alert" | "no data" | "renotify" | "info" => Some(AlertStatus::Firing),
            _ => None,
        })
        .unwrap_or(AlertStatus::Firing)
}

/// P1..P5 → critical..info; else the alert type (error → high, warning → medium, info and
/// success → info); else a `[Warn]` prefix → medium.
fn severity(priority: Option<&str>, alert_type: Option<&str>, prefix: Option<&str>) -> Severity {
    let from_priority = priority
        .map(labels::severity_from_word)
        .filter(|s| *s != Severity::Unknown);
    from_priority.unwrap_or_else(
        || match alert_type.map(str::to_ascii_lowercase).as_deref() {
            Some("error") => Severity::High,
            Some("warning") => Severity::Medium,
            Some("info" | "success") => Severity::Info,
            _ if prefix.is_some_and(|p| p.eq_ignore_ascii_case("warn")) => Severity::Medium,
            _ => Severity::Unknown,
        },
    )
}

/// The body without the `%%%` fences Datadog wraps Markdown messages in.
fn without_markdown_fence(body: &str) -> String {
    body.replace("%%%", "")
}

/// The first link to a monitor in the message body.
fn monitor_link(body: &str) -> Option<String> {
    body.match_indices("https://")
        .map(|(start, _)| &body[start..])
        .map(|rest| {
            rest.split([')', ']', ' ', '\n', '"'])
                .next()
                .unwrap_or(rest)
        })
        .find(|url| url.contains("/monitors"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_prefixes_are_read_and_removed() {
        let parts = TitleParts::parse("[P1] [Triggered on {host:web-1,env:prod}] High latency");
        assert_eq!(parts.priority.as_deref(), Some("P1"));
        assert_eq!(parts.transition.as_deref(), Some("Triggered"));
        assert_eq!(parts.scope.as_deref(), Some("host:web-1,env:prod"));
        assert_eq!(parts.name, "High latency");
        assert!(TitleParts::parse("[Triggered] [TEST] Host Cluster Alert").test);
        let nested = TitleParts::parse("[Triggered ON {error.kind:[E1],service:web}] Errors");
        assert_eq!(
            (nested.scope.as_deref(), nested.name.as_str()),
            (Some("error.kind:[E1],service:web"), "Errors")
        );
        let own_brackets = TitleParts::parse("[Recovered on {region:eu}] [Synthetics] Login");
        assert_eq!(
            (
                own_brackets.transition.as_deref(),
                own_brackets.name.as_str()
            ),
            (Some("Recovered"), "[Synthetics] Login")
        );
        assert_eq!(TitleParts::parse("[unclosed title").name, "[unclosed title");
    }

    #[test]
    fn status_and_severity_follow_the_documented_order() {
        assert_eq!(status(Some("Recovered"), None, None), AlertStatus::Resolved);
        assert_eq!(status(None, Some("success"), None), AlertStatus::Resolved);
        assert_eq!(
            status(None, None, Some("Re-Triggered")),
            AlertStatus::Firing
        );
        assert_eq!(severity(Some("P2"), Some("warning"), None), Severity::High);
        assert_eq!(severity(None, Some("error"), None), Severity::High);
        assert_eq!(severity(None, None, Some("Warn")), Severity::Medium);
    }
}
