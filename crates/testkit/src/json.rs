//! Arbitrary and mutated JSON, for property tests that throw what a sender could send at the
//! normalizers and the routes.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the vendors read, so generated objects reach deep into the normalizers instead
/// of failing at the first missing field.
const KNOWN_KEYS: &[&str] = &[
    "alerts",
    "status",
    "labels",
    "annotations",
    "startsAt",
    "fingerprint",
    "ruleId",
    "ruleName",
    "state",
    "title",
    "alert_id",
    "alert_transition",
    "alert_priority",
    "tags",
    "date",
    "org",
    "id",
    "body",
    "alert",
    "alarm",
    "host",
    "chart",
    "space",
    "severity",
    "Rooms",
    "rooms",
    "alert_url",
    "event",
    "event_type",
    "data",
    "priority",
    "urgency",
    "service",
    "summary",
    "created_at",
    "sid",
    "search_name",
    "result",
    "_time",
    "name",
    "build",
    "number",
    "phase",
    "scm",
    "parameters",
    "ProblemID",
    "PID",
    "State",
    "ProblemSeverity",
    "Tags",
    "ImpactedEntities",
    "ProblemDetailsJSON",
    "active",
    "incident_tags",
    "primary_property",
    "start",
    "timestamp",
    "environment",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            ".*",
            Just("firing".to_owned()),
            Just("resolved".to_owned()),
            Just("2026-11-27T08:15:00Z".to_owned()),
            Just("1764230400000".to_owned()),
            Just("[Triggered] x".to_owned()),
            Just("incident.triggered".to_owned()),
            Just("FAILURE".to_owned()),
            Just("OPEN".to_owned()),
        ]
        .prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KNOWN_KEYS).prop_map(str::to_owned), 1 => "[a-zA-Z_ ]{0,12}"]
}

/// Any JSON value, up to a few levels deep, with objects keyed mostly by fields vendors read.
pub fn arbitrary_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// `base` with one value somewhere in it replaced by an arbitrary one (or removed from its
/// object): a real payload with one thing wrong.
pub fn mutated(base: Value) -> impl Strategy<Value = Value> {
    (
        any::<prop::sample::Index>(),
        arbitrary_json(),
        any::<bool>(),
    )
        .prop_map(move |(at, replacement, remove)| {
            let mut value = base.clone();
            let count = count_nodes(&value);
            mutate(&mut value, at.index(count), replacement, remove, &mut 0);
            value
        })
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces (or removes) the `target`-th node in pre-order; answers true once done.
fn mutate(
    value: &mut Value,
    target: usize,
    replacement: Value,
    remove: bool,
    seen: &mut usize,
) -> bool {
    if *seen == target {
        *value = replacement;
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => {
            for item in items.iter_mut() {
                if mutate(item, target, replacement.clone(), remove, seen) {
                    return true;
                }
            }
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if *seen == target && remove {
                    map.remove(&key);
                    return true;
                }
                if mutate(
                    map.get_mut(&key).expect("key listed"),
                    target,
                    replacement.clone(),
                    remove,
                    seen,
                ) {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}
