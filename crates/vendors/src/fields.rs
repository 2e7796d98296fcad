//! Lenient reading of JSON bodies that users write themselves (Datadog and Dynatrace
//! templates, pipeline snippets) or that change between plugin versions.
//!
//! Keys match regardless of case, spaces, `_` and `-` (`ProblemURL`, `Problem URL` and
//! `problem_url` are one key); numbers read as text where text is wanted and text as numbers
//! where numbers are wanted; blank strings count as absent.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A JSON object read leniently.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a>(&'a Map<String, Value>);

/// A key with case, spaces, `_` and `-` removed.
fn loose(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl<'a> Fields<'a> {
    /// The object, or `None` for any other JSON value.
    pub(crate) fn of(value: &'a Value) -> Option<Self> {
        value.as_object().map(Fields)
    }

    /// The value under `key`, matched exactly first, then loosely.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        if let Some(value) = self.0.get(key) {
            return Some(value);
        }
        let wanted = loose(key);
        self.0
            .iter()
            .find(|(k, _)| loose(k) == wanted)
            .map(|(_, v)| v)
    }

    /// True when any of `keys` is present (even if blank).
    pub(crate) fn has_any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|key| self.get(key).is_some())
    }

    /// A nested object.
    pub(crate) fn object(&self, key: &str) -> Option<Fields<'a>> {
        self.get(key).and_then(Fields::of)
    }

    /// The first of `keys` holding non-blank text (numbers and booleans are written as text;
    /// a one-element array, as Splunk sends multi-value fields, reads as its element).
    pub(crate) fn text(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .filter_map(|key| self.get(key))
            .find_map(as_text)
    }

    /// The first of `keys` that holds a time: RFC 3339 text, or Unix seconds or milliseconds
    /// as a number or numeric text.
    pub(crate) fn time(&self, keys: &[&str]) -> Option<DateTime<Utc>> {
        keys.iter()
            .filter_map(|key| self.get(key))
            .find_map(as_time)
    }

    /// The first of `keys` holding a boolean (`true`/`false` as JSON or text).
    pub(crate) fn boolean(&self, keys: &[&str]) -> Option<bool> {
        keys.iter()
            .filter_map(|key| self.get(key))
            .find_map(|value| match value {
                Value::Bool(b) => Some(*b),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
    }

    /// Every scalar field as text, for labels.
    pub(crate) fn scalars(&self) -> impl Iterator<Item = (String, String)> + 'a {
        self.0
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), as_text(value)?)))
    }
}

/// Text of a scalar value; `None` for blanks, objects and longer arrays.
pub(crate) fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) if items.len() == 1 => as_text(&items[0]),
        _ => None,
    }
}

/// A time from RFC 3339 text or Unix seconds/milliseconds; values before 2001 or after 2200
/// in the numeric forms are not taken as times.
pub(crate) fn as_time(value: &Value) -> Option<DateTime<Utc>> {
    let text = as_text(value)?;
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Some(at.with_timezone(&Utc));
    }
    let number: f64 = text.parse().ok()?;
    // 1e9 s is 2001; 7.3e9 s is 2200. Larger values are milliseconds.
    let millis = match number {
        n if (1e9..7.3e9).contains(&n) => n * 1000.0,
        n if (1e12..7.3e12).contains(&n) => n,
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_loosely_and_values_as_text() {
        let body = json!({"Problem URL": "https://x", "count": 8, "dest": ["a"], "blank": " "});
        let fields = Fields::of(&body).unwrap();
        assert_eq!(fields.text(&["ProblemURL"]).as_deref(), Some("https://x"));
        assert_eq!(fields.text(&["count"]).as_deref(), Some("8"));
        assert_eq!(fields.text(&["dest"]).as_deref(), Some("a"));
        assert_eq!(fields.text(&["blank", "count"]).as_deref(), Some("8"));
    }

    #[test]
    fn times_in_every_common_form() {
        let expected: DateTime<Utc> = "2024-05-31T14:00:00Z".parse().unwrap();
        for value in [
            json!("2024-05-31T14:00:00Z"),
            json!(1717164000),
            json!("1717164000000"),
            json!(1717164000000_i64),
        ] {
            assert_eq!(as_time(&value), Some(expected), "{value}");
        }
        assert_eq!(as_time(&json!(42)), None);
        assert_eq!(as_time(&json!("soon")), None);
    }
}
