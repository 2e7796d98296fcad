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
        let drafts = if let Some(messages) = fields.get("messages").and_then(|m| m.as_array()) {
            let mut drafts = Vec::new();
            for (index, message) in messages.iter().enumerate() {
                let message = Fields::of(message).ok_or_else(|| {
                    invalid(SOURCE, format!("messages[{index}]: expected an object"))
                })?;
                drafts.extend(v2_message(message).map_err(
                    |VendorError::InvalidPayload { vendor, detail }| VendorError::InvalidPayload {
                        vendor,
                        detail: format!("messages[{index}]: {detail}"),
                    },
                )?);
            }
            drafts
        } else {
            let event = fields
                .object("event")
                .ok_or_else(|| invalid(SOURCE, "missing field `event` (a V3 webhook body)"))?;
            v3_event(event)?.into_iter().collect::<Vec<_>>()
        };
        let alerts = drafts
            .into_iter()
            .map(|draft| draft.finish(SOURCE, request.received_at))
            .collect();
        Ok(Normalized {
            alerts,
            deployment: None,
        })
    }
}

/// A V3 event: `incident.triggered` fires, `incident.resolved` resolves; pings, other
/// incident events and notes are nothing new.
fn v3_event(event: Fields<'_>) -> Result<Option<Draft>, VendorError> {
    let event_type = event
        .text(&["event_type"])
        .ok_or_else(|| invalid(SOURCE, "missing field `event.event_type`"))?;
    let Some(status) = incident_status(&event_type, "incident.triggered", "incident.resolved")
    else {
        return Ok(None);
    };
    let data = event
        .object("data")
        .ok_or_else(|| invalid(SOURCE, "missing field `event.data`"))?;
    // Notes ride on incident events too: route on data.type, not resource_type.
    if data.text(&["type"]).is_some_and(|kind| kind != "incident") {
        return Ok(None);
    }
    let mut draft = incident_draft(data, status)?;
    draft.started_at = draft.started_at.or_else(|| event.time(&["occurred_at"]));
    draft.labels.insert("event_type".into(), event_type);
    Ok(Some(draft))
}

/// A message of the deprecated V1/V2 webhooks, which older subscriptions still send: the
/// incident under `incident` (V2) or `data.incident` (V1).
fn v2_message(message: Fields<'_>) -> Result<Option<Draft>, VendorError> {
    let Some(event) = message.text(&["event", "type"]) else {
        return Err(invalid(SOURCE, "missing field `event`"));
    };
    let Some(status) = incident_status(&event, "incident.trigger", "incident.resolve") else {
        return Ok(None);
    };
    let incident = message
        .object("incident")
        .or_else(|| {
            message
                .object("data")
                .and_then(|data| data.object("incident"))
        })
        .ok_or_else(|| invalid(SOURCE, "missing field `incident`"))?;
    let mut draft = incident_draft(incident, status)?;
    draft.started_at = draft.started_at.or_else(|| message.time(&["created_on"]));
    draft.labels.insert("event_type".into(), event);
    Ok(Some(draft))
}

fn incident_status(event: &str, trigger: &str, resolve: &str) -> Option<AlertStatus> {
    if event == trigger {
        Some(AlertStatus::Firing)
    } else if event == resolve {
        Some(AlertStatus::Resolved)
    } else {
        None
    }
}

/// The alert an incident object describes (V3 `data`, V2 `incident`, V1 `data.incident`).
fn incident_draft(incident: Fields<'_>, status: AlertStatus) -> Result<Draft, VendorError> {
    let incident_id = incident
        .text(&["id"])
        .ok_or_else(|| invalid(SOURCE, "missing field `event.data.id` (the incident id)"))?;
    let priority = incident
        .object("priority")
        .and_then(|p| p.text(&["summary", "name"]));
    let urgency = incident.text(&["urgency"]);
    let service = incident.object("service");
    let mut draft = Draft::new(vec![incident_id.clone()]);
    draft.status = status;
    draft.severity = severity(priority.as_deref(), urgency.as_deref());
    draft.title = incident
        .text(&["title", "summary", "description"])
        // V1 incidents have no title: what triggered them is summed up in their own object,
        // as `subject` (email integrations) or `description` (API events).
        .or_else(|| {
            incident
                .object("trigger_summary_data")
                .and_then(|trigger| trigger.text(&["subject", "description"]))
        });
    draft.service = service.and_then(|s| s.text(&["summary", "name", "id"]));
    draft.started_at = incident.time(&["created_at", "created_on"]);
    draft.url = incident.text(&["html_url"]);
    draft.describe([
        incident.text(&["description", "summary"]),
        incident
            .object("body")
            .and_then(|body| body.text(&["details"])),
        incident
            .object("trigger_summary_data")
            .and_then(|trigger| trigger.text(&["description"])),
    ]);
    let mut labels = BTreeMap::from([("incident_id".to_owned(), incident_id)]);
    for (key, value) in [
        (
            "incident_number",
            incident.text(&["number", "incident_number"]),
        ),
        ("incident_key", incident.text(&["incident_key"])),
        ("urgency", urgency),
        ("priority", priority),
        ("service_id", service.and_then(|s| s.text(&["id"]))),
    ] {
        if let Some(value) = value {
            labels.insert(key.to_owned(), value);
        }
    }
    draft.labels = labels;
    Ok(draft)
}

/// Priority P1..P5 → critical..info; else urgency high → high, low → low.
fn severity(priority: Option<&str>, urgency: Option<&str>) -> Severity {
    priority
        .map(labels::severity_from_word)
        .filter(|s| *s != Severity::Unknown)
        .or_else(|| urgency.map(labels::severity_from_word))
        .unwrap_or(Severity::Unknown)
}
