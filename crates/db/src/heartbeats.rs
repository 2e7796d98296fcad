//! Heartbeats: what an integration is expected to send, when it was last heard, and the
//! sweep's view of those gone quiet or back.

use aurora_correlation::Heartbeat;
use aurora_domain::{SourceType, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::heartbeats;
use crate::{QueryResult, time};

/// A row of `heartbeats`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = heartbeats)]
pub struct HeartbeatRow {
    /// Its id.
    pub id: Uuid,
    /// The owner.
    pub user_id: String,
    /// The vendor whose integration is expected to send it.
    pub source_type: String,
    /// The alert that beats (title or `alertname`).
    pub alert_name: String,
    /// Longest gap between beats before Aurora raises an alert.
    pub interval_secs: i32,
    /// When it was set up.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
    /// When the latest beat arrived.
    #[serde(serialize_with = "time::serialize_opt")]
    pub last_seen_at: Option<NaiveDateTime>,
    /// Since when the beats are missing (and Aurora's alert fires).
    #[serde(serialize_with = "time::serialize_opt")]
    pub missing_since: Option<NaiveDateTime>,
}

impl HeartbeatRow {
    /// As the decision reads it; `None` for a vendor the code no longer knows.
    pub fn to_heartbeat(&self) -> Option<Heartbeat> {
        Some(Heartbeat {
            id: self.id,
            source_type: self.source_type.parse().ok()?,
            alert_name: self.alert_name.clone(),
        })
    }

    /// Since when the beats are overdue at `now`, if they are: an interval after the latest
    /// (or after it was set up, before any).
    pub fn overdue_since(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        let due = self.last_seen_at.unwrap_or(self.created_at)
            + chrono::TimeDelta::seconds(i64::from(self.interval_secs));
        (due <= now).then_some(due)
    }
}

/// Expects `alert_name` from `user`'s integration of `source` at least every
/// `interval_secs`, replacing the interval of the same heartbeat.
pub async fn set(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    source: SourceType,
    alert_name: &str,
    interval_secs: i32,
) -> QueryResult<HeartbeatRow> {
    diesel::insert_into(heartbeats::table)
        .values((
            heartbeats::user_id.eq(user.as_str()),
            heartbeats::source_type.eq(source.as_str()),
            heartbeats::alert_name.eq(alert_name),
            heartbeats::interval_secs.eq(interval_secs),
            heartbeats::created_at.eq(time::now()),
        ))
        .on_conflict((
            heartbeats::user_id,
            heartbeats::source_type,
            heartbeats::alert_name,
        ))
        .do_update()
        .set(heartbeats::interval_secs.eq(interval_secs))
        .returning(HeartbeatRow::as_returning())
        .get_result(conn)
        .await
}

/// Stops expecting `alert_name` from `user`'s integration of `source`; answers the heartbeat
/// it was, if it was one (the caller resolves Aurora's alert for it, if one fires).
pub async fn remove(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    source: SourceType,
    alert_name: &str,
) -> QueryResult<Option<HeartbeatRow>> {
    diesel::delete(
        heartbeats::table
            .filter(heartbeats::user_id.eq(user.as_str()))
            .filter(heartbeats::source_type.eq(source.as_str()))
            .filter(heartbeats::alert_name.eq(alert_name)),
    )
    .returning(HeartbeatRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// `user`'s heartbeats, as the decision reads them.
pub async fn for_user(conn: &mut AsyncPgConnection, user: &UserId) -> QueryResult<Vec<Heartbeat>> {
    let rows: Vec<HeartbeatRow> = heartbeats::table
        .filter(heartbeats::user_id.eq(user.as_str()))
        .select(HeartbeatRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.iter().filter_map(HeartbeatRow::to_heartbeat).collect())
}

/// Keeps the latest beat heard of each heartbeat.
pub async fn heard(
    conn: &mut AsyncPgConnection,
    beats: &[(Uuid, NaiveDateTime)],
) -> QueryResult<()> {
    for (id, at) in beats {
        diesel::update(heartbeats::table.find(id))
            .set(
                heartbeats::last_seen_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
                >("GREATEST(last_seen_at, ")
                .bind::<diesel::sql_types::Timestamp, _>(*at)
                .sql(")")),
            )
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Every heartbeat, for the sweep (a few per user).
pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<HeartbeatRow>> {
    heartbeats::table
        .select(HeartbeatRow::as_select())
        .load(conn)
        .await
}

/// Marks heartbeat `id` missing since `since`, unless another sweep did; answers whether
/// this call did.
pub async fn mark_missing(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        heartbeats::table
            .find(id)
            .filter(heartbeats::missing_since.is_null()),
    )
    .set(heartbeats::missing_since.eq(since))
    .execute(conn)
    .await
    .map(|changed| changed > 0)
}

/// Marks heartbeat `id` heard again, unless another sweep did; answers whether this call did.
pub async fn mark_resumed(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::update(
        heartbeats::table
            .find(id)
            .filter(heartbeats::missing_since.is_not_null()),
    )
    .set(heartbeats::missing_since.eq(None::<NaiveDateTime>))
    .execute(conn)
    .await
    .map(|changed| changed > 0)
}
