//! PagerDuty V3 webhook subscriptions: one event per request.
//!
//! Docs: <https://developer.pagerduty.com/docs/webhooks-overview>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, Normalized, Severity, SourceType};

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{
    Headers, SignatureScheme, Vendor, VendorError, WebhookRequest, invalid, labels, parse_object,
};

const SOURCE: SourceType = SourceType::Pagerduty;

/// PagerDuty's V3 webhook.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pagerduty;

impl Vendor for Pagerduty {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme::Pagerduty)
    }

    /// PagerDuty keeps `X-Webhook-Id` across retries of one delivery.
    fn delivery_id(&self, headers: &Headers) -> Option<String> {
        headers
            .get("X-Webhook-Id")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let fields = Fields::of(&body).expect("parse_object answers an object");
        // The subscription object (what PagerDuty's API returns when a subscription is made or
        // tested) is no event: nothing to act on.
        if fields.object("webhook_subscription").is_some() {
            return Ok(Normalized::default());
        }
        let event = fields
            .object("event")
            .ok_or_else(|| invalid(SOURCE, "missing field `event` (a V3 webhook body)"))?;
        let event_type = event
            .text(&["event_type"])
            .ok_or_else(|| invalid(SOURCE, "missing field `event.event_type`"))?;
        let data = event.object("data");
        // Notes and other non-incident resources ride on incident events too: route on data.type.
        let about_incident = data
            .and_then(|d| d.text(&["type"]))
            .is_none_or(|t| t == "incident");
        let status = match event_type.as_str() {
            "incident.triggered" => AlertStatus::Firing,
            "incident.resolved" => AlertStatus::Resolved,
            // pagey.ping, acknowledgements, reassignments, notes …: nothing new to act on.
            _ => return Ok(Normalized::default()),
        };
        if !about_incident {
            return Ok(Normalized::default());
        }
        let data = data.ok_or_else(|| invalid(SOURCE, "missing field `event.data`"))?;
        let incident_id = data
            .text(&["id"])
            .ok_or_else(|| invalid(SOURCE, "missing field `event.data.id`"))?;
        let priority = data
            .object("priority")
            .and_then(|p| p.text(&["summary", "name"]));
        let urgency = data.text(&["urgency"]);
        let service = data.object("service");

        let mut draft = Draft::new(vec![incident_id.clone()]);
        draft.status = status;
        draft.severity = severity(priority.as_deref(), urgency.as_deref());
        draft.title = data.text(&["title", "summary", "description"]);
        draft.service = service.and_then(|s| s.text(&["summary", "name", "id"]));
        draft.started_at = data
            .time(&["created_at"])
            .or_else(|| event.time(&["occurred_at"]));
        draft.url = data.text(&["html_url"]);
        let mut labels = BTreeMap::from([("incident_id".to_owned(), incident_id)]);
        for (key, value) in [
            ("incident_number", data.text(&["number"])),
            ("incident_key", data.text(&["incident_key"])),
            ("urgency", urgency),
            ("priority", priority),
            ("service_id", service.and_then(|s| s.text(&["id"]))),
            ("event_type", Some(event_type)),
        ] {
            if let Some(value) = value {
                labels.insert(key.to_owned(), value);
            }
        }
        draft.labels = labels;
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// Priority P1..P5 → critical..info; else urgency high → high, low → low.
fn severity(priority: Option<&str>, urgency: Option<&str>) -> Severity {
    priority
        .map(labels::severity_from_word)
        .filter(|s| *s != Severity::Unknown)
        .or_else(|| urgency.map(labels::severity_from_word))
        .unwrap_or(Severity::Unknown)
}
