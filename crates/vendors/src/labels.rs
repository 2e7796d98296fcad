//! Reading severity, service and environment out of label or tag maps, the same way for
//! every vendor that has labels.

use std::collections::BTreeMap;

use aurora_domain::Severity;

/// Labels that name the service, in order of preference.
const SERVICE_KEYS: &[&str] = &["service", "job", "app"];

/// Labels that name the environment, in order of preference.
const ENVIRONMENT_KEYS: &[&str] = &["env", "environment", "deployment_environment", "stage"];

/// Labels that carry a severity, in order of preference. Not `level`: in log-based alerts
/// (Loki) it is the log line's level, not the alert's severity.
const SEVERITY_KEYS: &[&str] = &["severity", "priority"];

/// The first non-empty value among `keys`.
fn first_of(labels: &BTreeMap<String, String>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|key| labels.get(*key))
        .map(|value| value.trim())
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

/// The service the labels name, if any.
pub(crate) fn service(labels: &BTreeMap<String, String>) -> Option<String> {
    first_of(labels, SERVICE_KEYS)
}

/// The environment the labels name, if any.
pub(crate) fn environment(labels: &BTreeMap<String, String>) -> Option<String> {
    first_of(labels, ENVIRONMENT_KEYS)
}

/// The severity the labels carry, on Aurora's scale; [`Severity::Unknown`] when none.
pub(crate) fn severity(labels: &BTreeMap<String, String>) -> Severity {
    first_of(labels, SEVERITY_KEYS).map_or(Severity::Unknown, |value| severity_from_word(&value))
}

/// Maps the words people put in severity labels onto Aurora's scale:
/// critical/crit/fatal/emergency/page/P1 → critical, error/high/major/P2 → high,
/// warning/warn/medium/P3 → medium, low/minor/P4 → low, info/none/ok/P5 → info.
pub(crate) fn severity_from_word(word: &str) -> Severity {
    match word.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "emergency" | "page" | "p1" | "sev1" => Severity::Critical,
        "error" | "err" | "high" | "major" | "p2" | "sev2" => Severity::High,
        "warning" | "warn" | "medium" | "moderate" | "p3" | "sev3" => Severity::Medium,
        "low" | "minor" | "p4" | "sev4" => Severity::Low,
        "info" | "informational" | "none" | "ok" | "notice" | "p5" | "sev5" => Severity::Info,
        _ => Severity::Unknown,
    }
}

/// Tags into a label map: `key:value` text (Datadog `$TAGS`, Dynatrace `Tags`) as one
/// comma-separated string or a JSON array of strings, or `{"key", "value"}` objects as the
/// Dynatrace APIs give them (`tagsOfAffectedEntities`, `entityTags`). A tag without a value is
/// kept with an empty value; the first value of a repeated key wins.
pub(crate) fn tag_pairs(tags: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    use serde_json::Value;
    let mut pairs = BTreeMap::new();
    let mut add = |key: &str, value: &str| {
        let key = key.trim();
        if !key.is_empty() {
            pairs
                .entry(key.to_owned())
                .or_insert_with(|| value.trim().to_owned());
        }
    };
    match tags {
        Some(Value::String(text)) => text
            .split(',')
            .filter_map(tag_text)
            .for_each(|(k, v)| add(k, v)),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(tag) => {
                        if let Some((key, value)) = tag_text(tag) {
                            add(key, value);
                        }
                    }
                    // Dynatrace's TagInfo: {"context", "key", "value"}; the value is optional.
                    Value::Object(tag) => {
                        if let Some(key) = tag.get("key").and_then(Value::as_str) {
                            add(key, tag.get("value").and_then(Value::as_str).unwrap_or(""));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    pairs
}

/// One `key:value` tag; `None` when blank or a template placeholder the sender left unfilled.
fn tag_text(tag: &str) -> Option<(&str, &str)> {
    let tag = tag.trim();
    if tag.is_empty() || tag.starts_with('{') {
        return None;
    }
    // Dynatrace prefixes imported tags with their context: `[Kubernetes]app:checkout`.
    let tag = match tag.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((_, rest)) => rest.trim(),
        None => tag,
    };
    Some(tag.split_once(':').unwrap_or((tag, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn severity_words_map_onto_the_scale() {
        assert_eq!(
            severity(&labels(&[("severity", "CRITICAL")])),
            Severity::Critical
        );
        assert_eq!(severity(&labels(&[("severity", "error")])), Severity::High);
        assert_eq!(
            severity(&labels(&[("severity", "warning")])),
            Severity::Medium
        );
        assert_eq!(severity(&labels(&[("severity", "low")])), Severity::Low);
        assert_eq!(severity(&labels(&[("severity", "none")])), Severity::Info);
        assert_eq!(
            severity(&labels(&[("severity", "purple")])),
            Severity::Unknown
        );
        assert_eq!(severity(&labels(&[])), Severity::Unknown);
    }

    #[test]
    fn tags_parse_from_strings_and_arrays() {
        let from_string = tag_pairs(Some(&serde_json::json!("service:checkout, env:prod,team")));
        assert_eq!(service(&from_string).as_deref(), Some("checkout"));
        assert_eq!(environment(&from_string).as_deref(), Some("prod"));
        assert_eq!(from_string.get("team").map(String::as_str), Some(""));
        let from_array = tag_pairs(Some(&serde_json::json!(["app:web", "{Tags}"])));
        assert_eq!(from_array.len(), 1);
        let objects = tag_pairs(Some(&serde_json::json!([
            {"context": "CONTEXTLESS", "key": "stage", "value": "prod"},
            {"context": "USER", "key": "easyTravel"}
        ])));
        assert_eq!(environment(&objects).as_deref(), Some("prod"));
        assert_eq!(objects.get("easyTravel").map(String::as_str), Some(""));
    }

    #[test]
    fn service_prefers_service_over_job_and_skips_blanks() {
        let l = labels(&[("job", "node"), ("service", " "), ("app", "web")]);
        assert_eq!(service(&l).as_deref(), Some("node"));
        assert_eq!(
            environment(&labels(&[("stage", "prod")])).as_deref(),
            Some("prod")
        );
        assert_eq!(environment(&labels(&[("zone", "eu")])), None);
    }
}
