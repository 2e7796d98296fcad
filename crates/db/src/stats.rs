//! How much noise Aurora took away: what became of a user's notifications (from the hourly
//! `noise_counts` the correlator keeps) and the incidents opened, per source and service.

use aurora_domain::UserId;
use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::QueryResult;

/// Notifications of one source and service with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Counted {
    /// The vendor.
    #[diesel(sql_type = Text)]
    pub source_type: String,
    /// The service; empty when the alerts named none.
    #[diesel(sql_type = Text)]
    pub service: String,
    /// What became of them: opened, correlated, deduplicated, suppressed, resolved, refired.
    #[diesel(sql_type = Text)]
    pub outcome: String,
    /// How many.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Incidents of one source and service.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Opened {
    /// The vendor of the alert that opened them.
    #[diesel(sql_type = Text)]
    pub source_type: String,
    /// Its service; empty when it named none.
    #[diesel(sql_type = Text)]
    pub service: String,
    /// How many.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// `user`'s notifications processed in the hours from `since` (a whole hour) on.
pub async fn notifications_since(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    since: NaiveDateTime,
) -> QueryResult<Vec<Counted>> {
    diesel::sql_query(
        "SELECT source_type, service, outcome, sum(count)::int8 AS count FROM noise_counts \
         WHERE user_id = $1 AND hour >= $2 GROUP BY source_type, service, outcome",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Timestamp, _>(since)
    .load(conn)
    .await
}

/// `user`'s incidents opened at or after `since`, merged ones included.
pub async fn incidents_since(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    since: NaiveDateTime,
) -> QueryResult<Vec<Opened>> {
    diesel::sql_query(
        "SELECT source_type, coalesce(alert_service, '') AS service, count(*)::int8 AS count \
         FROM incidents WHERE user_id = $1 AND created_at >= $2 \
         GROUP BY source_type, coalesce(alert_service, '')",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Timestamp, _>(since)
    .load(conn)
    .await
}
