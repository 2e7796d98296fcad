//! Netdata Cloud's webhook: alert notifications (current and older field names) and node
//! reachability notifications.
//!
//! Docs: <https://learn.netdata.cloud/docs/alerts-&-notifications/notifications/centralized-cloud-notifications/webhook>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, Normalized, Severity, SourceType};
use serde_json::Value;

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{Challenge, Vendor, VendorError, WebhookRequest, invalid, labels, parse_object};

const SOURCE: SourceType = SourceType::Netdata;

/// Netdata Cloud's webhook.
#[derive(Debug, Clone, Copy, Default)]
pub struct Netdata;

impl Vendor for Netdata {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    /// Older Netdata Cloud versions check a new webhook with a `crc_token` challenge.
    fn challenge(&self) -> Option<Challenge> {
        Some(Challenge::NetdataCrc)
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let fields = Fields::of(&body).expect("parse_object answers an object");
        let draft = if let Some(name) = fields.text(&["alert", "alarm", "name"]) {
            alert(fields, name)
        } else if let Some(host) = fields.text(&["host", "node"]) {
            reachability(fields, host)
        } else if fields.text(&["message"]).is_some() {
            // Netdata Cloud's test or sample notification: a message, no alert, no node.
            return Ok(Normalized::default());
        } else {
            return Err(invalid(
                SOURCE,
                "missing field `alert` (or `alarm`), and no `host` of a reachability notification",
            ));
        };
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// An alert transition: `clear` resolves, `warning` and `critical` fire.
fn alert(fields: Fields<'_>, name: String) -> Draft {
    let space = fields.text(&["space"]).unwrap_or_default();
    let chart = fields.text(&["chart"]).unwrap_or_default();
    let url = fields.text(&["alert_url", "alarm_url", "url"]);
    // The node is not a field of its own; Netdata puts it in the alert link.
    let node = fields
        .text(&["node", "hostname"])
        .or_else(|| url.as_deref().and_then(node_from_url));
    let severity_word = fields.text(&["severity", "status"]).unwrap_or_default();
    let mut draft = Draft::new(vec![
        "alert".into(),
        space.clone(),
        node.clone().unwrap_or_default(),
        chart.clone(),
        name.clone(),
    ]);
    draft.status = if severity_word.eq_ignore_ascii_case("clear") {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    draft.severity = labels::severity_from_word(&severity_word);
    draft.title = fields
        .text(&["message", "info"])
        .or_else(|| Some(format!("{name} on {chart}")));
    draft.started_at = fields.time(&["date", "when"]);
    draft.url = url;
    draft.describe([fields.text(&["info"])]);
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in [
        ("alert", Some(name)),
        ("space", Some(space).filter(|s| !s.is_empty())),
        ("node", node),
        ("chart", Some(chart).filter(|c| !c.is_empty())),
    ] {
        if let Some(value) = value {
            labels.insert(key.into(), value);
        }
    }
    for key in ["context", "family", "class", "duration"] {
        if let Some(value) = fields.text(&[key]) {
            labels.insert(key.into(), value);
        }
    }
    if let Some(rooms) = room_names(fields.get("rooms")) {
        labels.insert("rooms".into(), rooms);
    }
    draft.labels = labels;
    draft
}

/// A node became unreachable (fires) or reachable again (resolves).
fn reachability(fields: Fields<'_>, host: String) -> Draft {
    let status = fields.object("status");
    let reachable = status
        .and_then(|s| s.boolean(&["reachable"]))
        .or_else(|| {
            status
                .and_then(|s| s.text(&["text"]))
                .map(|t| t.eq_ignore_ascii_case("reachable"))
        })
        .unwrap_or(false);
    let mut draft = Draft::new(vec!["reachability".into(), host.clone()]);
    draft.status = if reachable {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    draft.severity = match fields.text(&["severity"]) {
        Some(word) => labels::severity_from_word(&word),
        None if reachable => Severity::Info,
        None => Severity::Critical,
    };
    draft.title = fields.text(&["message"]).or_else(|| {
        Some(format!(
            "{host} is {}",
            if reachable {
                "reachable"
            } else {
                "unreachable"
            }
        ))
    });
    draft.url = fields.text(&["url"]);
    draft.describe([status.and_then(|s| s.text(&["text"]))]);
    draft.labels = BTreeMap::from([("host".to_owned(), host)]);
    draft
}

/// `node=` in an alert link's query.
fn node_from_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("node="))
        .map(str::to_owned)
        .filter(|n| !n.is_empty())
}

/// Room names from `Rooms`/`rooms`, documented as a name → URL map and seen as a list.
fn room_names(rooms: Option<&Value>) -> Option<String> {
    let names: Vec<String> = match rooms? {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(name) => Some(name.clone()),
                Value::Object(map) => map
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| map.keys().next().cloned()),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    (!names.is_empty()).then(|| names.join(", "))
}
