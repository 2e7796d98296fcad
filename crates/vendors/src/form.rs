//! Form-encoded bodies (`application/x-www-form-urlencoded`), which Datadog sends when its
//! webhook is set to "Encode as form", read as the JSON object they stand for.

use serde_json::{Map, Value};

/// The JSON object a form body stands for: the JSON object in a `payload` field when the form
/// carries one, else one string field per form field (a field whose text is a JSON object,
/// as a template's nested `org` becomes, is that object). `None` when the body is not a form:
/// JSON, or text without a single `name=value` pair.
pub fn form_body_as_json(body: &[u8]) -> Option<Value> {
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
    if is_json || !body.contains(&b'=') {
        return None;
    }
    let mut fields = Map::new();
    for (name, value) in form_urlencoded::parse(body) {
        let name = name.trim();
        if name.is_empty() || fields.contains_key(name) {
            continue;
        }
        let value = match serde_json::from_str::<Value>(&value) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::String(value.into_owned()),
        };
        fields.insert(name.to_owned(), value);
    }
    if let Some(payload @ Value::Object(_)) = fields.get("payload") {
        return Some(payload.clone());
    }
    (!fields.is_empty()).then_some(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_or_a_json_payload() {
        let fields = form_body_as_json(
            b"title=%5BTriggered%5D+CPU+high&alert_id=42&org=%7B%22id%22%3A%221%22%7D",
        );
        assert_eq!(
            fields,
            Some(json!({"title": "[Triggered] CPU high", "alert_id": "42", "org": {"id": "1"}}))
        );
        let payload = form_body_as_json(b"payload=%7B%22title%22%3A%22CPU%22%7D");
        assert_eq!(payload, Some(json!({"title": "CPU"})));
    }

    #[test]
    fn json_and_plain_text_are_no_form() {
        assert_eq!(form_body_as_json(br#"{"title":"a=b"}"#), None);
        assert_eq!(form_body_as_json(b" [1, 2]"), None);
        assert_eq!(
            form_body_as_json(br#""a=b""#),
            None,
            "JSON of another shape"
        );
        assert_eq!(form_body_as_json(b"just words"), None);
        assert_eq!(form_body_as_json(b""), None);
        assert_eq!(form_body_as_json(b"=&="), None, "no named field");
    }
}
