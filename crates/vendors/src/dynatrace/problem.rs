//! A problem: the "Custom integration" template's fields, or a Problems API v1 or v2 object.

use aurora_domain::{AlertStatus, Severity};

use super::{entities, environment, humanized, severity};
use crate::draft::Draft;
use crate::fields::Fields;
use crate::labels;

/// Where a problem's id is, by preference: the template's `ProblemID` (the display id) and
/// `PID`, v2's `problemId` and `displayId`.
const IDS: &[&str] = &["ProblemID", "problemId", "displayId", "PID"];

/// Fields only a Problems API v1 object has: its bare `id` is read only beside one of them,
/// since any object may have an `id`.
const V1_FIELDS: &[&str] = &[
    "displayName",
    "rankedImpacts",
    "rankedEvents",
    "tagsOfAffectedEntities",
    "impactLevel",
];

/// The problem's id, when the object is a problem.
pub(super) fn id(problem: Fields<'_>) -> Option<String> {
    problem.text(IDS).or_else(|| {
        problem
            .has_any(V1_FIELDS)
            .then(|| problem.text(&["id", "displayName"]))
            .flatten()
    })
}

/// The alert a problem describes; `None` for the test notification of an older template,
/// which leaves its placeholders unfilled (`{PID}`) or sends `ProblemID` `TESTID`.
pub(super) fn draft(problem: Fields<'_>) -> Option<Draft> {
    let id = id(problem)?;
    if id.contains('{') || id == "TESTID" {
        return None;
    }
    // The template's `{ProblemDetailsJSON}` is a v1 problem: what the template leaves out is
    // read there.
    let details = problem
        .object("ProblemDetailsJSON")
        .or_else(|| problem.object("ProblemDetails"));
    let both = [Some(problem), details];
    let first_text = |keys: &[&str]| both.iter().flatten().find_map(|fields| fields.text(keys));
    let state = first_text(&["State", "status", "ProblemStatus"]).unwrap_or_else(|| "OPEN".into());
    let mut tags = super::tags(problem);
    let mut impacted = entities(problem);
    if let Some(details) = details {
        for (tag, value) in super::tags(details) {
            tags.entry(tag).or_insert(value);
        }
        impacted.extend(entities(details));
    }

    let mut draft = Draft::new(vec![id.clone()]);
    draft.status = match state.to_ascii_uppercase().as_str() {
        "RESOLVED" | "CLOSED" | "MERGED" => AlertStatus::Resolved,
        _ => AlertStatus::Firing,
    };
    draft.severity = first_text(&["ProblemSeverity", "severityLevel", "severity"])
        .map_or(Severity::Unknown, |s| severity(&s));
    draft.title = problem
        .text(&["ProblemTitle", "title"])
        .or_else(|| both.iter().flatten().find_map(|fields| v1_title(*fields)))
        .or_else(|| {
            problem
                .text(&["displayName"])
                .map(|name| format!("Problem {name}"))
        });
    draft.service = labels::service(&tags).or_else(|| {
        impacted
            .iter()
            .find(|entity| entity.kind.eq_ignore_ascii_case("SERVICE"))
            .map(|entity| entity.name.clone())
    });
    draft.environment = environment(&tags);
    draft.url = problem.text(&["ProblemURL", "url"]);
    // `ProblemDetails` is text in older templates and the v1 problem object in newer ones.
    draft.describe([
        first_text(&["ProblemDetailsText", "ProblemDetailsMarkdown"]),
        problem.text(&["ProblemDetails"]),
    ]);
    draft.started_at = details
        .and_then(|details| details.time(&["startTime"]))
        .or_else(|| problem.time(&["startTime", "ProblemStartTime"]));
    let mut labels = tags;
    labels.insert("problem_id".into(), id);
    for (key, value) in [
        ("pid", problem.text(&["PID"])),
        ("impact", first_text(&["ProblemImpact", "impactLevel"])),
        ("state", problem.text(&["State"])),
        ("impacted_entity", problem.text(&["ImpactedEntity"])),
    ] {
        if let Some(value) = value {
            labels.insert(key.into(), value);
        }
    }
    if !impacted.is_empty() {
        let mut names: Vec<&str> = impacted.iter().map(|e| e.name.as_str()).collect();
        names.dedup();
        labels.insert("impacted_entities".into(), names.join(", "));
    }
    draft.labels = labels;
    Some(draft)
}

/// A v1 problem has no title: its top-ranked impact (else event) and the entity it hit,
/// `Service response time degraded on checkout`.
fn v1_title(problem: Fields<'_>) -> Option<String> {
    ["rankedImpacts", "rankedEvents"]
        .iter()
        .filter_map(|key| problem.get(key)?.as_array()?.first())
        .filter_map(Fields::of)
        .find_map(|ranked| {
            let what = humanized(&ranked.text(&["eventType"])?);
            Some(match ranked.text(&["entityName"]) {
                Some(entity) => format!("{what} on {entity}"),
                None => what,
            })
        })
}
