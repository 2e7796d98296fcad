//! The text of the live stream: one server-sent event per incident message, its `id:` the
//! message's `INCIDENTS` stream sequence, so a client that reconnects names what it saw last.

use std::borrow::Cow;

use actix_web::web::Bytes;
use aurora_bus::IncidentMessage;

/// Sent first, so a client sees the stream open before any change.
pub(crate) const CONNECTED: &[u8] = b": connected\n\n";
/// A comment sent after a quiet spell, so proxies do not close an idle stream.
pub(crate) const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The user an incident message belongs to: every one names its owner, and nobody is sent
/// another user's changes. `None` for a message that does not.
pub(crate) fn owner(payload: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Owned<'a> {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
    }
    serde_json::from_slice::<Owned<'_>>(payload)
        .ok()
        .map(|owned| owned.user_id)
}

/// `id: <sequence>`, `event: <change>`, `data: <the message>`. The JSON is written again on one
/// line, so nothing in a payload can end the event early.
pub(crate) fn change(message: &IncidentMessage) -> Option<Bytes> {
    let payload: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
    Some(Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {payload}\n\n",
        message.sequence, message.kind
    )))
}

/// Tells the client that what it missed cannot be sent (too much, aged out, or an id this
/// stream never sent): reload, then carry on from here (`id`).
pub(crate) fn reset(id: u64, reason: &str) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("id: {id}\nevent: reset\ndata: {data}\n\n"))
}

/// Moves the client's last event id to `id` without an event (a block with only an `id:`
/// line), so a client that saw no change since connecting still resumes from here.
pub(crate) fn resume_at(id: u64) -> Bytes {
    Bytes::from(format!("id: {id}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &str) -> IncidentMessage {
        IncidentMessage {
            sequence: 42,
            kind: "updated".into(),
            payload: payload.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn a_change_carries_its_sequence_its_kind_and_its_message_on_one_line() {
        let event = change(&message(
            "{\n  \"user_id\": \"u1\",\n  \"title\": \"a\\nb\"\n}",
        ))
        .unwrap();
        let text = std::str::from_utf8(&event).unwrap();
        let data = text
            .strip_prefix("id: 42\nevent: updated\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap();
        assert!(!data.contains('\n'), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(data).unwrap(),
            serde_json::json!({"user_id": "u1", "title": "a\nb"})
        );
        assert_eq!(change(&message("not json")), None);
    }

    #[test]
    fn the_owner_is_read_with_or_without_escapes() {
        assert_eq!(owner(br#"{"user_id":"u1","x":1}"#).as_deref(), Some("u1"));
        assert_eq!(owner(br#"{"user_id":"u\u0031"}"#).as_deref(), Some("u1"));
        assert_eq!(owner(br#"{"incident_id":"i"}"#), None);
        assert_eq!(owner(b"garbage"), None);
    }

    #[test]
    fn a_reset_names_where_to_carry_on() {
        assert_eq!(
            reset(7, "gone"),
            "id: 7\nevent: reset\ndata: {\"reason\":\"gone\"}\n\n"
        );
        assert_eq!(resume_at(7), "id: 7\n\n");
    }
}
