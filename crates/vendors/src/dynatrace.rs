//! Dynatrace problem notifications ("Custom integration"). The body is the user's template,
//! possibly wrapped in a CloudEvent's `data`; field names follow Dynatrace's placeholders.
//!
//! Docs: <https://docs.dynatrace.com/docs/analyze-explore-automate/notifications-and-alerting/problem-notifications/webhook-integration>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, Normalized, Severity, SourceType};
use serde_json::Value;

use crate::draft::Draft;
use crate::fields::Fields;
use crate::{Vendor, VendorError, WebhookRequest, invalid, labels, parse_object};

const SOURCE: SourceType = SourceType::Dynatrace;

/// Dynatrace's custom webhook integration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dynatrace;

impl Vendor for Dynatrace {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let outer = Fields::of(&body).expect("parse_object answers an object");
        let problem = match outer.object("data") {
            Some(data) if !outer.has_any(&["ProblemID", "PID", "problemId"]) => data,
            _ => outer,
        };
        let id = problem
            .text(&["ProblemID", "problemId", "displayId", "PID"])
            .ok_or_else(|| invalid(SOURCE, "missing field `ProblemID` (or `PID`)"))?;
        // "Send test notification" from an older template leaves placeholders unfilled.
        if id.contains('{') || id == "TESTID" {
            return Ok(Normalized::default());
        }
        let state = problem
            .text(&["State", "status"])
            .unwrap_or_else(|| "OPEN".into());
        let tags = labels::tag_pairs(problem.get("Tags").or_else(|| problem.get("tags")));
        let entities = impacted_entities(
            problem
                .get("ImpactedEntities")
                .or_else(|| problem.get("affectedEntities")),
        );

        let mut draft = Draft::new(vec![id.clone()]);
        draft.status = match state.to_ascii_uppercase().as_str() {
            "RESOLVED" | "CLOSED" | "MERGED" => AlertStatus::Resolved,
            _ => AlertStatus::Firing,
        };
        draft.severity = problem
            .text(&["ProblemSeverity", "severityLevel", "severity"])
            .map_or(Severity::Unknown, |s| severity(&s));
        draft.title = problem.text(&["ProblemTitle", "title"]);
        draft.service = labels::service(&tags).or_else(|| {
            entities
                .iter()
                .find(|(kind, _)| kind.eq_ignore_ascii_case("SERVICE"))
                .map(|(_, name)| name.clone())
        });
        draft.environment = labels::environment(&tags);
        draft.url = problem.text(&["ProblemURL", "url"]);
        draft.started_at = problem
            .object("ProblemDetailsJSON")
            .and_then(|details| details.time(&["startTime"]))
            .or_else(|| problem.time(&["startTime", "ProblemStartTime"]));
        let mut labels: BTreeMap<String, String> = tags;
        labels.insert("problem_id".into(), id);
        for (key, field) in [
            ("pid", "PID"),
            ("impact", "ProblemImpact"),
            ("state", "State"),
            ("impacted_entity", "ImpactedEntity"),
        ] {
            if let Some(value) = problem.text(&[field]) {
                labels.insert(key.into(), value);
            }
        }
        if !entities.is_empty() {
            let names: Vec<&str> = entities.iter().map(|(_, name)| name.as_str()).collect();
            labels.insert("impacted_entities".into(), names.join(", "));
        }
        draft.labels = labels;
        Ok(Normalized {
            alerts: vec![draft.finish(SOURCE, request.received_at)],
            deployment: None,
        })
    }
}

/// AVAILABILITY → critical, ERROR → high, PERFORMANCE and RESOURCE_CONTENTION → medium,
/// CUSTOM_ALERT → low, INFO → info.
fn severity(level: &str) -> Severity {
    match level.trim().to_ascii_uppercase().as_str() {
        "AVAILABILITY" | "MONITORING_UNAVAILABLE" => Severity::Critical,
        "ERROR" => Severity::High,
        "PERFORMANCE" | "RESOURCE_CONTENTION" | "RESOURCE" => Severity::Medium,
        "CUSTOM_ALERT" => Severity::Low,
        "INFO" => Severity::Info,
        _ => Severity::Unknown,
    }
}

/// (type, name) of `{ImpactedEntities}`, which arrives as raw JSON or as its text.
fn impacted_entities(value: Option<&Value>) -> Vec<(String, String)> {
    let parsed;
    let list = match value {
        Some(Value::Array(items)) => items,
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                parsed = items;
                &parsed
            }
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    list.iter()
        .filter_map(Fields::of)
        .filter_map(|entity| {
            // Problem API v2 nests the type: {"entityId": {"id", "type"}, "name"}.
            let kind = entity
                .text(&["type"])
                .or_else(|| entity.object("entityId").and_then(|id| id.text(&["type"])));
            Some((kind.unwrap_or_default(), entity.text(&["name", "entity"])?))
        })
        .collect()
}
