//! Dynatrace. Three kinds of body arrive on its route:
//!
//! - problem notifications of the "Custom integration", whose body is the user's template
//!   (field names follow Dynatrace's placeholders), possibly wrapped in a CloudEvent's `data`;
//! - problem objects of the Problems API v1 (what `{ProblemDetailsJSON}` holds, so a template
//!   of that placeholder alone sends one) and v2, possibly wrapped in an API answer's `result`;
//! - Davis events and problems as a workflow posts them from Grail (`event.kind`,
//!   `event.status`, `event.name`, `dt.entity.*`).
//!
//! Docs: <https://docs.dynatrace.com/docs/analyze-explore-automate/notifications-and-alerting/problem-notifications/webhook-integration>,
//! <https://docs.dynatrace.com/docs/dynatrace-api/environment-api/problems/problems/get-details>,
//! <https://docs.dynatrace.com/docs/semantic-dictionary/model/davis>

mod davis;
mod problem;

use std::collections::BTreeMap;

use aurora_domain::{Normalized, Severity, SourceType};
use serde_json::Value;

use crate::fields::Fields;
use crate::{Vendor, VendorError, WebhookRequest, invalid, labels, parse_object};

const SOURCE: SourceType = SourceType::Dynatrace;

/// Dynatrace's custom webhook integration and workflows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dynatrace;

impl Vendor for Dynatrace {
    fn source_type(&self) -> SourceType {
        SOURCE
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let body = parse_object(SOURCE, request.body)?;
        let outer = Fields::of(&body).expect("parse_object answers an object");
        let known = |fields: Fields<'_>| problem::id(fields).is_some() || davis::is_event(fields);
        // A CloudEvent carries the problem in `data`, an API answer in `result`.
        let inner = ["data", "result"]
            .iter()
            .find_map(|key| outer.object(key))
            .filter(|_| !known(outer));
        let body = inner.unwrap_or(outer);
        // Events first: a Davis problem's `display_id` would pass for a v2 `displayId`.
        let draft = if davis::is_event(body) {
            Some(davis::draft(body)?)
        } else if problem::id(body).is_some() {
            problem::draft(body)
        } else {
            return Err(invalid(
                SOURCE,
                "missing field `ProblemID` (or `PID`, `problemId`, a v1 problem's `id`), and no \
                 `event.id` or `event.kind` of a Davis event",
            ));
        };
        Ok(Normalized {
            alerts: draft
                .map(|draft| draft.finish(SOURCE, request.received_at))
                .into_iter()
                .collect(),
            deployment: None,
        })
    }
}

/// AVAILABILITY → critical, ERROR → high, PERFORMANCE, SLOWDOWN and RESOURCE_CONTENTION →
/// medium, CUSTOM_ALERT → low, INFO → info; event types read as their category
/// (`ERROR_EVENT` as ERROR).
fn severity(level: &str) -> Severity {
    let level = level.trim().to_ascii_uppercase();
    match level.strip_suffix("_EVENT").unwrap_or(&level) {
        "AVAILABILITY" | "MONITORING_UNAVAILABLE" => Severity::Critical,
        "ERROR" => Severity::High,
        "PERFORMANCE" | "SLOWDOWN" | "RESOURCE_CONTENTION" | "RESOURCE" => Severity::Medium,
        "CUSTOM_ALERT" => Severity::Low,
        "INFO" | "CUSTOM_INFO" => Severity::Info,
        _ => Severity::Unknown,
    }
}

/// Every tag the object carries, in any of Dynatrace's shapes: the template's `Tags` text
/// (or v2's `tags` strings), Problems API v1 `tagsOfAffectedEntities` and v2 `entityTags`
/// objects, Grail's `entity_tags` strings (keys match loosely, so `entityTags` finds it).
fn tags(fields: Fields<'_>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for key in ["Tags", "tagsOfAffectedEntities", "entityTags"] {
        for (tag, value) in labels::tag_pairs(fields.get(key)) {
            tags.entry(tag).or_insert(value);
        }
    }
    tags
}

/// The environment a `stage`, `environment` or `env` tag names, whatever its case
/// (`Environment:Production` is as common as `env:prod` in Dynatrace).
fn environment(tags: &BTreeMap<String, String>) -> Option<String> {
    let lowered: BTreeMap<String, String> = tags
        .iter()
        .map(|(key, value)| (key.to_ascii_lowercase(), value.clone()))
        .collect();
    labels::environment(&lowered)
}

/// An impacted or affected entity.
#[derive(Debug, Clone, PartialEq)]
struct Entity {
    /// `SERVICE`, `HOST`, `APPLICATION` …; empty when the body does not say.
    kind: String,
    name: String,
}

/// The entities of a problem in each shape: the template's `{ImpactedEntities}` (raw JSON or
/// its text; keys match loosely, so this also finds v2's `impactedEntities`), v2
/// `affectedEntities`, v1 `rankedImpacts`/`rankedEvents`.
fn entities(problem: Fields<'_>) -> Vec<Entity> {
    [
        "ImpactedEntities",
        "affectedEntities",
        "rankedImpacts",
        "rankedEvents",
    ]
    .iter()
    .flat_map(|key| entity_list(problem.get(key)))
    .collect()
}

fn entity_list(value: Option<&Value>) -> Vec<Entity> {
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
            let id = entity.get("entityId");
            let kind = entity
                .text(&["type"])
                // v2 nests the type: {"entityId": {"id", "type"}, "name"}.
                .or_else(|| id.and_then(Fields::of).and_then(|id| id.text(&["type"])))
                // v1 gives the id alone; its type is its prefix: `SERVICE-1A2B3C`.
                .or_else(|| {
                    id.and_then(Value::as_str)
                        .and_then(|id| id.split_once('-'))
                        .map(|(kind, _)| kind.to_owned())
                });
            Some(Entity {
                kind: kind.unwrap_or_default(),
                name: entity.text(&["name", "entity", "entityName"])?,
            })
        })
        .collect()
}

/// `SERVICE_RESPONSE_TIME_DEGRADED` → `Service response time degraded`.
fn humanized(event_type: &str) -> String {
    let words = event_type.trim().replace('_', " ").to_ascii_lowercase();
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_from_levels_categories_and_event_types() {
        assert_eq!(severity("AVAILABILITY"), Severity::Critical);
        assert_eq!(severity("ERROR_EVENT"), Severity::High);
        assert_eq!(severity("slowdown"), Severity::Medium);
        assert_eq!(severity("CUSTOM_INFO"), Severity::Info);
        assert_eq!(severity("CPU_SATURATED"), Severity::Unknown);
    }

    #[test]
    fn entity_types_from_every_shape() {
        let body = serde_json::json!({
            "ImpactedEntities": "[{\"type\": \"HOST\", \"name\": \"web-1\"}]",
            "affectedEntities": [{"entityId": {"id": "SERVICE-1", "type": "SERVICE"}, "name": "cart"}],
            "rankedImpacts": [{"entityId": "PROCESS_GROUP_INSTANCE-9", "entityName": "java"}]
        });
        let kinds: Vec<(String, String)> = entities(Fields::of(&body).unwrap())
            .into_iter()
            .map(|e| (e.kind, e.name))
            .collect();
        assert_eq!(
            kinds,
            [
                ("HOST".into(), "web-1".into()),
                ("SERVICE".into(), "cart".into()),
                ("PROCESS_GROUP_INSTANCE".into(), "java".into())
            ]
        );
        assert_eq!(
            humanized("UNEXPECTED_LOW_LOAD"),
            "Unexpected low load".to_owned()
        );
    }
}
