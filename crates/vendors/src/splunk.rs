//! Splunk's webhook alert action: the search, its first result row, a link. Splunk has no
//! resolve, so every notification fires; a repeat of the same search and host is counted
//! against the open alert.
//!
//! Docs: <https://docs.splunk.com/Documentation/Splunk/latest/Alert/Webhooks>

use aurora_domain::{Normalized, SourceType};

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{Vendor, VendorError, WebhookRequest, invalid, labels, parse_object};

const SOURCE: SourceType = SourceType::Splunk;

/// Result fields that may name the host, in order of preference.
const HOST_KEYS: &[&str] = &["host", "dest", "dvc", "ComputerName", "hostname"];

/// Splunk's webhook alert action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Splunk;

impl Vendor for Splunk {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let fields = Fields::of(&body).expect("parse_object answers an object");
        let has_result = fields
            .object("result")
            .is_some_and(|r| r.scalars().next().is_some());
        if fields.text(&["sid", "search_name"]).is_none() && !has_result {
            return Err(invalid(
                SOURCE,
                "missing fields `sid`, `search_name` and `result` (all absent or blank)",
            ));
        }
        let sid = fields.text(&["sid"]);
        let search = fields.text(&["search_name"]);
        let result = fields.object("result");
        let host = result.and_then(|r| r.text(HOST_KEYS));
        // The search job id changes every run; the saved search and host name the problem.
        let problem = search.clone().or_else(|| sid.clone()).unwrap_or_default();
        let mut draft = Draft::new(vec![
            "search".into(),
            fields.text(&["app"]).unwrap_or_default(),
            problem,
            host.clone().unwrap_or_default(),
        ]);
        draft.title = match (&search, &host) {
            (Some(search), Some(host)) => Some(format!("{search} on {host}")),
            (Some(search), None) => Some(search.clone()),
            (None, _) => Some(format!(
                "Splunk alert from ad-hoc search {}",
                sid.as_deref().unwrap_or("(no id)")
            )),
        };
        draft.url = fields.text(&["results_link"]);
        if let Some(result) = result {
            draft.labels = result
                .scalars()
                .filter(|(key, _)| !key.starts_with("_pre"))
                .collect();
            draft.severity = result
                .text(&["severity", "urgency", "priority"])
                .map_or(draft.severity, |word| labels::severity_from_word(&word));
            draft.service = labels::service(&draft.labels);
            draft.environment = labels::environment(&draft.labels);
            draft.started_at = result.time(&["_time"]);
            draft.describe([result_message(result)]);
        }
        draft.started_at = draft
            .started_at
            .or_else(|| sid.as_deref().and_then(time_from_sid));
        for (key, value) in [
            ("sid", sid),
            ("search_name", search),
            ("app", fields.text(&["app"])),
            ("owner", fields.text(&["owner"])),
        ] {
            if let Some(value) = value {
                draft.labels.insert(format!("splunk_{key}"), value);
            }
        }
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// What a search result says in words: its message field when it has one, else its fields as
/// `key=value` pairs (Splunk's internal `_` fields left out), which is how a search states the
/// problem (`status=503 count=1200 uri=/checkout`).
fn result_message(result: Fields<'_>) -> Option<String> {
    result
        .text(&["message", "description", "msg", "error", "_raw"])
        .or_else(|| {
            let pairs: Vec<String> = result
                .scalars()
                .filter(|(key, _)| !key.starts_with('_'))
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            (!pairs.is_empty()).then(|| pairs.join(" "))
        })
}

/// Scheduled search ids embed the run time: `scheduler__admin__search__RMD5…_at_1717164000_1234`.
fn time_from_sid(sid: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let epoch = sid.split("_at_").nth(1)?.split('_').next()?;
    crate::fields::as_time(&serde_json::Value::String(epoch.to_owned()))
}
