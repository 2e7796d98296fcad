//! Messages the bus could not deliver to their handler, kept for people to look at and replay.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::schema::dead_letters;
use crate::{QueryResult, time};

/// A row of `dead_letters`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = dead_letters)]
pub struct DeadLetter {
    /// Its id (`aurora dead-letters replay ID`).
    pub id: i64,
    /// The stream it came from.
    pub stream: String,
    /// Its subject, where a replay publishes it again.
    pub subject: String,
    /// The consumer that gave up on it.
    pub consumer: String,
    /// Why.
    pub reason: String,
    /// The message as published.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// How often it was delivered.
    pub deliveries: i32,
    /// When it was set aside.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
    /// When it was last replayed.
    #[serde(serialize_with = "time::serialize_opt")]
    pub replayed_at: Option<NaiveDateTime>,
}

/// A message to set aside.
#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    /// Stream.
    pub stream: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Consumer.
    pub consumer: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// Deliveries so far.
    pub deliveries: i32,
}

/// Stores a dead letter.
pub async fn record(conn: &mut AsyncPgConnection, letter: &NewDeadLetter<'_>) -> QueryResult<i64> {
    diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::stream.eq(letter.stream),
            dead_letters::subject.eq(letter.subject),
            dead_letters::consumer.eq(letter.consumer),
            dead_letters::reason.eq(letter.reason),
            dead_letters::payload.eq(letter.payload),
            dead_letters::deliveries.eq(letter.deliveries),
            dead_letters::created_at.eq(time::now()),
        ))
        .returning(dead_letters::id)
        .get_result(conn)
        .await
}

/// The newest dead letters.
pub async fn list(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<DeadLetter>> {
    dead_letters::table
        .order(dead_letters::id.desc())
        .limit(limit)
        .select(DeadLetter::as_select())
        .load(conn)
        .await
}

/// One dead letter.
pub async fn get(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<DeadLetter>> {
    dead_letters::table
        .find(id)
        .select(DeadLetter::as_select())
        .first(conn)
        .await
        .optional()
}

/// Notes that a dead letter was published again.
pub async fn mark_replayed(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::update(dead_letters::table.find(id))
        .set(dead_letters::replayed_at.eq(time::now()))
        .execute(conn)
        .await
        .map(drop)
}
