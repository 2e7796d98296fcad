//! Silences: a user's maintenance windows, what the correlator reads of them with every batch,
//! and the sweep's view of those that ended.

use aurora_correlation::{Matcher, OnExpiry, Silence};
use aurora_domain::{NormalizedAlert, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{alerts, silences};
use crate::{QueryResult, time};

/// A row of `silences`, as the API serves it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = silences)]
pub struct SilenceRow {
    /// Its id.
    pub id: Uuid,
    /// The owner.
    pub user_id: String,
    /// `[{"field", "op", "value"}]`; all must match.
    pub matchers: serde_json::Value,
    /// When it starts.
    #[serde(serialize_with = "time::serialize")]
    pub starts_at: NaiveDateTime,
    /// When it ends (moved to the moment it was expired by hand).
    #[serde(serialize_with = "time::serialize")]
    pub ends_at: NaiveDateTime,
    /// Why.
    pub comment: String,
    /// Who made it.
    pub created_by: String,
    /// When it was made.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
    /// `open` or `drop`: what its quiet alerts that still fire do when it ends.
    pub on_expiry: String,
    /// Firing notifications it kept quiet.
    pub suppressed_count: i64,
    /// When its quiet alerts were released after it ended.
    #[serde(serialize_with = "time::serialize_opt")]
    pub released_at: Option<NaiveDateTime>,
}

impl SilenceRow {
    /// As the decision reads it; `None` for a row whose matchers no longer parse (written by
    /// a later version), which then silences nothing.
    pub fn to_silence(&self) -> Option<Silence> {
        let matchers: Vec<Matcher> = serde_json::from_value(self.matchers.clone()).ok()?;
        Some(Silence {
            id: self.id,
            matchers,
            starts_at: time::to_utc(self.starts_at),
            ends_at: time::to_utc(self.ends_at),
            on_expiry: self.on_expiry.parse().unwrap_or_default(),
        })
    }
}

/// A silence to create.
#[derive(Debug, Clone)]
pub struct NewSilence<'a> {
    /// All must match.
    pub matchers: &'a [Matcher],
    /// When it starts.
    pub starts_at: NaiveDateTime,
    /// When it ends; after `starts_at`.
    pub ends_at: NaiveDateTime,
    /// Why.
    pub comment: &'a str,
    /// Who made it.
    pub created_by: &'a str,
    /// What its quiet alerts do when it ends.
    pub on_expiry: OnExpiry,
}

/// Most silences one user may have that have not ended: every batch of theirs is checked
/// against each.
pub const MAX_OPEN_PER_USER: i64 = 200;

/// Creates a silence for `user`; answers why not instead when they have
/// [`MAX_OPEN_PER_USER`] that have not ended.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    new: &NewSilence<'_>,
) -> QueryResult<Result<SilenceRow, String>> {
    let open: i64 = silences::table
        .filter(silences::user_id.eq(user.as_str()))
        .filter(silences::ends_at.gt(time::now()))
        .count()
        .get_result(conn)
        .await?;
    if open >= MAX_OPEN_PER_USER {
        return Ok(Err(format!(
            "too many silences: {open} have not ended (at most {MAX_OPEN_PER_USER}); expire some"
        )));
    }
    diesel::insert_into(silences::table)
        .values((
            silences::user_id.eq(user.as_str()),
            silences::matchers
                .eq(serde_json::to_value(new.matchers).expect("matchers always serialize")),
            silences::starts_at.eq(new.starts_at),
            silences::ends_at.eq(new.ends_at),
            silences::comment.eq(new.comment),
            silences::created_by.eq(new.created_by),
            silences::created_at.eq(time::now()),
            silences::on_expiry.eq(new.on_expiry.as_str()),
        ))
        .returning(SilenceRow::as_returning())
        .get_result(conn)
        .await
        .map(Ok)
}

/// `user`'s silences, newest first, leaving out those that ended before `ended_since`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    ended_since: Option<NaiveDateTime>,
    limit: i64,
) -> QueryResult<Vec<SilenceRow>> {
    let mut query = silences::table
        .filter(silences::user_id.eq(user.as_str()))
        .into_boxed();
    if let Some(since) = ended_since {
        query = query.filter(silences::ends_at.ge(since));
    }
    query
        .order((silences::created_at.desc(), silences::id.desc()))
        .limit(limit)
        .select(SilenceRow::as_select())
        .load(conn)
        .await
}

/// `user`'s silence by id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    id: Uuid,
) -> QueryResult<Option<SilenceRow>> {
    silences::table
        .filter(silences::user_id.eq(user.as_str()))
        .filter(silences::id.eq(id))
        .select(SilenceRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Ends `user`'s silence `id` at `now` if it has not ended; answers it as it stands.
pub async fn expire(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    id: Uuid,
    now: NaiveDateTime,
) -> QueryResult<Option<SilenceRow>> {
    diesel::update(
        silences::table
            .filter(silences::user_id.eq(user.as_str()))
            .filter(silences::id.eq(id))
            .filter(silences::ends_at.gt(now)),
    )
    // One that has not started ends where it starts: it never held.
    .set(
        silences::ends_at.eq(diesel::dsl::sql::<diesel::sql_types::Timestamp>(
            "GREATEST(starts_at, ",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .sql(")")),
    )
    .execute(conn)
    .await?;
    find(conn, user, id).await
}

/// What a decision for `user` reads: silences that have not ended by `now` (with an hour's
/// margin for clocks), and those that kept any of `referenced` quiet.
pub async fn for_decision(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    now: NaiveDateTime,
    referenced: &[Uuid],
) -> QueryResult<Vec<Silence>> {
    let rows: Vec<SilenceRow> = silences::table
        .filter(silences::user_id.eq(user.as_str()))
        .filter(
            silences::ends_at
                .gt(now - chrono::TimeDelta::hours(1))
                .or(silences::id.eq_any(referenced)),
        )
        .select(SilenceRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.iter().filter_map(SilenceRow::to_silence).collect())
}

/// Adds what a decision kept quiet to each silence's count.
pub async fn count_suppressed(
    conn: &mut AsyncPgConnection,
    counts: &[(Uuid, i64)],
) -> QueryResult<()> {
    for (id, count) in counts {
        diesel::update(silences::table.find(id))
            .set(silences::suppressed_count.eq(silences::suppressed_count + count))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Silences that ended by `now` and whose quiet alerts were not released yet, oldest first.
pub async fn ended_unreleased(
    conn: &mut AsyncPgConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<SilenceRow>> {
    silences::table
        .filter(silences::released_at.is_null())
        .filter(silences::ends_at.le(now))
        .order(silences::ends_at.asc())
        .limit(limit)
        .select(SilenceRow::as_select())
        .load(conn)
        .await
}

/// The alerts `silence` keeps quiet that still fire, as normalized alerts, from the first
/// `limit` rows, and how many rows those were (a row the code can no longer read is left out
/// of the alerts, not of the count).
pub async fn quiet_alerts(
    conn: &mut AsyncPgConnection,
    silence: Uuid,
    limit: i64,
) -> QueryResult<(Vec<NormalizedAlert>, usize)> {
    let rows: Vec<crate::alerts::Alert> = alerts::table
        .filter(alerts::suppressed_by.eq(silence))
        .filter(alerts::status.eq("firing"))
        .filter(alerts::incident_id.is_null())
        .order(alerts::id.asc())
        .limit(limit)
        .select(crate::alerts::Alert::as_select())
        .load(conn)
        .await?;
    let alerts = rows
        .iter()
        .filter_map(crate::alerts::Alert::to_normalized)
        .collect();
    Ok((alerts, rows.len()))
}

/// Marks `silence` released: none of its quiet alerts waits any more.
pub async fn mark_released(
    conn: &mut AsyncPgConnection,
    silence: Uuid,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(silences::table.find(silence))
        .set(silences::released_at.eq(now))
        .execute(conn)
        .await
        .map(drop)
}
