//! A Davis event or problem as a Dynatrace workflow posts it from Grail: flat dotted keys
//! (`event.id`, `event.kind` `DAVIS_EVENT`/`DAVIS_PROBLEM`, `event.type`, `event.status`
//! `ACTIVE`/`CLOSED`, `event.name`, `event.category`, `event.start`, `dt.entity.<type>` and
//! `dt.entity.<type>.name`, `entity_tags`). The Events API v2 names of the same things
//! (`eventId`, `eventType`, `title`, `status` `OPEN`/`CLOSED`, `startTime`, `entityId`,
//! `entityTags`) are read too.

use aurora_domain::{AlertStatus, Severity};

use super::{SOURCE, environment, humanized, severity, tags};
use crate::draft::Draft;
use crate::fields::Fields;
use crate::{VendorError, invalid, labels};

/// True when the object is an event (keys match loosely: `event.id` finds `eventId`).
pub(super) fn is_event(fields: Fields<'_>) -> bool {
    fields.has_any(&["event.id", "event.kind", "event.type"])
}

/// Grail fields kept as labels besides the tags and every `dt.entity.*`.
const LABEL_FIELDS: &[&str] = &[
    "event.kind",
    "event.type",
    "event.category",
    "event.provider",
    "display_id",
    "dt.source_entity",
    "dt.davis.impact_level",
    "host.name",
    "k8s.cluster.name",
    "k8s.namespace.name",
];

/// The alert an event describes, keyed on the event (a problem: on its display id, as the
/// problem notification's `ProblemID` is), so its update that closes it resolves it.
pub(super) fn draft(event: Fields<'_>) -> Result<Draft, VendorError> {
    let is_problem = event
        .text(&["event.kind"])
        .is_some_and(|kind| kind.eq_ignore_ascii_case("DAVIS_PROBLEM"));
    let ids: &[&str] = if is_problem {
        &["display_id", "event.id"]
    } else {
        &["event.id", "display_id"]
    };
    let id = event
        .text(ids)
        .ok_or_else(|| invalid(SOURCE, "missing field `event.id` of a Davis event"))?;
    let event_type = event.text(&["event.type"]);
    let tags = tags(event);

    let mut draft = Draft::new(vec![id.clone()]);
    draft.status = match event.text(&["event.status", "status"]).as_deref() {
        Some(status)
            if ["CLOSED", "RESOLVED"]
                .iter()
                .any(|closed| status.eq_ignore_ascii_case(closed)) =>
        {
            AlertStatus::Resolved
        }
        _ => AlertStatus::Firing,
    };
    draft.severity = [event.text(&["event.category"]), event_type.clone()]
        .into_iter()
        .flatten()
        .map(|word| severity(&word))
        .find(|severity| *severity != Severity::Unknown)
        .unwrap_or(Severity::Unknown);
    draft.title = event
        .text(&["event.name", "title", "event.title"])
        .or_else(|| event_type.as_deref().map(humanized));
    draft.service = labels::service(&tags)
        .or_else(|| event.text(&["dt.entity.service.name", "service.name"]))
        .or_else(|| {
            // Events API v2: {"entityId": {"entityId": {"id", "type"}, "name"}}.
            let entity = event.object("entityId")?;
            let kind = entity.object("entityId")?.text(&["type"])?;
            kind.eq_ignore_ascii_case("SERVICE")
                .then(|| entity.text(&["name"]))
                .flatten()
        });
    draft.environment = environment(&tags);
    draft.started_at = event.time(&["event.start", "startTime", "timestamp"]);
    draft.url = event.text(&["event.url", "url"]);
    draft.describe([event.text(&["event.description", "description"])]);
    let mut labels = tags;
    labels.insert("event_id".into(), id);
    for (key, value) in event.scalars() {
        if key.starts_with("dt.entity.") || LABEL_FIELDS.contains(&key.as_str()) {
            labels.insert(key, value);
        }
    }
    draft.labels = labels;
    Ok(draft)
}
