//! Opaque page cursors: the last incident's creation time and id, base64url-encoded.

use aurora_db::incident_list::Cursor;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// Encodes where a page ended.
pub fn encode(cursor: Cursor) -> String {
    let micros = cursor.created_at.and_utc().timestamp_micros();
    URL_SAFE_NO_PAD.encode(format!("{micros}:{}", cursor.id))
}

/// Decodes a cursor a client sent back; anything else is a 400 naming the parameter.
pub fn decode(text: &str) -> Result<Cursor, ApiError> {
    let invalid = || {
        ApiError::BadRequest("invalid `cursor`: pass back a `next_cursor` value unchanged".into())
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?)
        .ok_or_else(invalid)?;
    Ok(Cursor {
        created_at: created_at.naive_utc(),
        id: Uuid::parse_str(id).map_err(|_| invalid())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_tampering_is_refused() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_230_400_123_456)
                .unwrap()
                .naive_utc(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode(&encode(cursor)).unwrap(), cursor);
        for tampered in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("1:not-a-uuid"),
        ] {
            assert!(decode(tampered).is_err(), "{tampered}");
        }
    }
}
