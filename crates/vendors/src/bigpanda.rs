//! BigPanda's notifications webhook: one incident, with the alerts BigPanda grouped into it.
//! Aurora takes the incident as one alert keyed by its id, so its resolve matches.
//!
//! Docs: <https://docs.bigpanda.io/docs/webhook-incident-object>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, Normalized, Severity, SourceType};

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{Vendor, VendorError, WebhookRequest, invalid, labels, parse_object};

const SOURCE: SourceType = SourceType::Bigpanda;

/// BigPanda's notifications webhook.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bigpanda;

impl Vendor for Bigpanda {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let outer = Fields::of(&body).expect("parse_object answers an object");
        let incident = outer.object("incident").unwrap_or(outer);
        let id = incident
            .text(&["id", "incident_id"])
            .ok_or_else(|| invalid(SOURCE, "missing field `id` (the incident id)"))?;
        let alerts: Vec<Fields<'_>> = incident
            .get("alerts")
            .and_then(|a| a.as_array())
            .map(|items| items.iter().filter_map(Fields::of).collect())
            .unwrap_or_default();
        let first = alerts.first().copied();
        let tags = incident_tags(incident);
        let status = incident.text(&["status"]).unwrap_or_default();
        let active = incident.boolean(&["active"]).unwrap_or(true);

        let mut draft = Draft::new(vec![id.clone()]);
        draft.status = if !active || status.eq_ignore_ascii_case("ok") {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        };
        draft.severity = severity(
            incident
                .text(&["severity"])
                .or_else(|| incident.text(&["status"]))
                .as_deref(),
        );
        draft.title = first
            .and_then(|alert| {
                alert
                    .text(&["description", "title"])
                    .or_else(|| primary_and_secondary(alert))
            })
            .or_else(|| incident.text(&["title", "description"]));
        draft.service = labels::service(&tags).or_else(|| first.and_then(primary_value));
        draft.environment = labels::environment(&tags);
        draft.started_at = incident.time(&["start", "started_at", "created_at"]);
        draft.url = incident.text(&["incident_url", "url", "link"]);
        // The incident's own text, then what each of its alerts says (the first is the title).
        draft.describe(
            std::iter::once(incident.text(&["description"]))
                .chain(alerts.iter().map(|alert| alert.text(&["description"]))),
        );
        draft.runbook_url = first.and_then(|alert| alert.text(&["runbook_url", "runbook"]));
        let mut labels: BTreeMap<String, String> = tags;
        labels.insert("incident_id".into(), id);
        labels.insert("alert_count".into(), alerts.len().to_string());
        for key in ["status", "flapping"] {
            if let Some(value) = incident.text(&[key]) {
                labels.insert(key.into(), value);
            }
        }
        if let Some(system) = first.and_then(|alert| alert.text(&["source_system"])) {
            labels.insert("source_system".into(), system);
        }
        draft.labels = labels;
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// BigPanda's levels: critical → critical, warning → medium; anything else (`unknown`, `ok`,
/// other words) → unknown.
fn severity(level: Option<&str>) -> Severity {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => Severity::Critical,
        Some("warning") => Severity::Medium,
        _ => Severity::Unknown,
    }
}

/// `incident_tags`, as `[{"tag_id", "tag_value"}]` or as a plain map.
fn incident_tags(incident: Fields<'_>) -> BTreeMap<String, String> {
    match incident.get("incident_tags") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(Fields::of)
            .filter_map(|tag| {
                Some((
                    tag.text(&["tag_id", "name", "key"])?,
                    tag.text(&["tag_value", "value"])?,
                ))
            })
            .collect(),
        Some(value) => Fields::of(value)
            .map(|map| map.scalars().collect())
            .unwrap_or_default(),
        None => BTreeMap::new(),
    }
}

/// The value of the field an alert's `primary_property` names (e.g. its host).
fn primary_value(alert: Fields<'_>) -> Option<String> {
    alert.text(&[alert.text(&["primary_property"])?.as_str()])
}

/// "prod-db-1: CPU load" from the primary and secondary properties.
fn primary_and_secondary(alert: Fields<'_>) -> Option<String> {
    let primary = primary_value(alert)?;
    let secondary = alert
        .text(&["secondary_property"])
        .and_then(|key| alert.text(&[key.as_str()]));
    Some(match secondary {
        Some(secondary) => format!("{primary}: {secondary}"),
        None => primary,
    })
}
