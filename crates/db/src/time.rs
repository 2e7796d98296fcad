//! UTC timestamps in `TIMESTAMP` columns.
//!
//! The tables keep UTC in `TIMESTAMP` (no time zone), as the incidents table users know does.
//! Rows hold [`NaiveDateTime`]; these helpers convert at the edges and serialize rows with an
//! explicit `Z`, so no reader mistakes them for local time.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serializer;

/// The current time as stored.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A stored timestamp as UTC.
pub fn to_utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// Serializes a stored timestamp as RFC 3339 with `Z`.
pub fn serialize<S: Serializer>(at: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&to_utc(*at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Serializes an optional stored timestamp as RFC 3339 with `Z`, or null.
pub fn serialize_opt<S: Serializer>(
    at: &Option<NaiveDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}
