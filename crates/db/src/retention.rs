//! Retention: what is old enough to go, counted or deleted in small batches. Each batch is
//! one statement of its own (its own transaction), and rows another deleter holds are skipped,
//! so neither correlator replicas nor the pipeline wait on it.
//!
//! Incidents go first (their alerts stay, unlinked), then alerts (with their delivery records),
//! then raw bodies (their alerts keep no body) and the hourly noise figures.
//!
//! Incidents and alerts go one user at a time under that user's lock: a correlator deciding
//! the user's alerts holds it from loading their rows until it commits, so no row it loaded
//! (an old resolved alert a vendor resolves again, or its incident) disappears under it.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Timestamp};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::QueryResult;

/// What is due: everything older than these moments (`None`: kept for ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Raw bodies received before.
    pub raw_payloads_before: Option<NaiveDateTime>,
    /// Alerts resolved before, in no open incident; noise figures of hours before.
    pub alerts_before: Option<NaiveDateTime>,
    /// Incidents resolved or merged before.
    pub incidents_before: Option<NaiveDateTime>,
    /// Rows per statement.
    pub batch: i64,
}

impl Policy {
    /// The policy of `settings` at `now`.
    pub fn at(settings: &aurora_settings::RetentionSettings, now: NaiveDateTime) -> Self {
        let before = |days: u32| (days > 0).then(|| now - TimeDelta::days(i64::from(days)));
        Policy {
            raw_payloads_before: before(settings.raw_payloads_days),
            alerts_before: before(settings.alerts_days),
            incidents_before: before(settings.resolved_incidents_days),
            batch: i64::from(settings.batch_size),
        }
    }
}

/// Rows of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Resolved or merged incidents.
    pub incidents: i64,
    /// Resolved alerts.
    pub alerts: i64,
    /// Raw webhook bodies.
    pub raw_payloads: i64,
    /// Hourly noise figures.
    pub noise_counts: i64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.incidents += other.incidents;
        self.alerts += other.alerts;
        self.raw_payloads += other.raw_payloads;
        self.noise_counts += other.noise_counts;
    }
}

/// One kind of row and when it is due.
struct Kind {
    table: &'static str,
    due: &'static str,
    /// Deleted per user, under the user's lock.
    per_user: bool,
}

const INCIDENTS: Kind = Kind {
    table: "incidents",
    due: "status IN ('resolved', 'merged') AND coalesce(resolved_at, updated_at) < $1",
    per_user: true,
};
const ALERTS: Kind = Kind {
    table: "alerts",
    due: "status = 'resolved' AND resolved_at < $1 AND NOT EXISTS ( \
              SELECT 1 FROM incidents i WHERE i.id = alerts.incident_id \
                AND i.status IN ('investigating', 'analyzed'))",
    per_user: true,
};
const RAW_PAYLOADS: Kind = Kind {
    table: "raw_payloads",
    due: "received_at < $1",
    per_user: false,
};
const NOISE_COUNTS: Kind = Kind {
    table: "noise_counts",
    due: "hour < $1",
    per_user: false,
};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn count(
    conn: &mut AsyncPgConnection,
    kind: &Kind,
    before: NaiveDateTime,
) -> QueryResult<i64> {
    let counted: Count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM {} WHERE {}",
        kind.table, kind.due
    ))
    .bind::<Timestamp, _>(before)
    .get_result(conn)
    .await?;
    Ok(counted.count)
}

async fn delete_batch(
    conn: &mut AsyncPgConnection,
    kind: &Kind,
    before: NaiveDateTime,
    batch: i64,
    user: Option<&str>,
) -> QueryResult<i64> {
    let deleted = diesel::sql_query(format!(
        // By physical row: one plan for every table, whatever its key.
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY( \
             SELECT ctid FROM {table} WHERE {due} AND ($3::text IS NULL OR user_id = $3) \
             LIMIT $2 FOR UPDATE SKIP LOCKED))",
        table = kind.table,
        due = kind.due,
    ))
    .bind::<Timestamp, _>(before)
    .bind::<BigInt, _>(batch)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(user)
    .execute(conn)
    .await?;
    Ok(deleted as i64)
}

#[derive(QueryableByName)]
struct Owner {
    #[diesel(sql_type = diesel::sql_types::Text)]
    user_id: String,
    #[diesel(sql_type = BigInt)]
    due: i64,
}

/// Deletes a batch of `kind` for each user who has some due (among a sample of `batch` due
/// rows), each under the user's lock in a transaction of its own; answers how many went and
/// whether more may be due (the sample was full and this round deleted some).
async fn delete_per_user(
    conn: &mut AsyncPgConnection,
    kind: &Kind,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<(i64, bool)> {
    let owners: Vec<Owner> = diesel::sql_query(format!(
        "SELECT user_id, count(*) AS due FROM (SELECT user_id FROM {} WHERE {} LIMIT $2) due \
         GROUP BY user_id",
        kind.table, kind.due
    ))
    .bind::<Timestamp, _>(before)
    .bind::<BigInt, _>(batch)
    .load(conn)
    .await?;
    let sampled: i64 = owners.iter().map(|o| o.due).sum();
    let mut deleted = 0;
    for owner in owners {
        let user = aurora_domain::UserId::parse(owner.user_id.clone())
            .map_err(|err| diesel::result::Error::DeserializationError(err.into()))?;
        deleted += conn
            .transaction(async |conn| {
                crate::lock_user(conn, &user).await?;
                delete_batch(conn, kind, before, batch, Some(user.as_str())).await
            })
            .await?;
    }
    Ok((deleted, sampled == batch && deleted > 0))
}

/// A kind of row, when it is due (if ever), and its count among [`Counts`].
type Due = (
    &'static Kind,
    Option<NaiveDateTime>,
    fn(&mut Counts) -> &mut i64,
);

/// The kinds in the order they go, each with when it is due under `policy`.
fn kinds(policy: &Policy) -> [Due; 4] {
    [
        (&INCIDENTS, policy.incidents_before, |c| &mut c.incidents),
        (&ALERTS, policy.alerts_before, |c| &mut c.alerts),
        (&RAW_PAYLOADS, policy.raw_payloads_before, |c| {
            &mut c.raw_payloads
        }),
        (&NOISE_COUNTS, policy.alerts_before, |c| &mut c.noise_counts),
    ]
}

/// What `policy` would delete now.
pub async fn due(conn: &mut AsyncPgConnection, policy: &Policy) -> QueryResult<Counts> {
    let mut counts = Counts::default();
    for (kind, before, field) in kinds(policy) {
        if let Some(before) = before {
            *field(&mut counts) = count(conn, kind, before).await?;
        }
    }
    Ok(counts)
}

/// Deletes what `policy` says is due, a batch at a time, until nothing is; answers how much.
pub async fn run(conn: &mut AsyncPgConnection, policy: &Policy) -> QueryResult<Counts> {
    let mut total = Counts::default();
    for (kind, before, field) in kinds(policy) {
        let Some(before) = before else { continue };
        loop {
            let (deleted, more) = if kind.per_user {
                delete_per_user(conn, kind, before, policy.batch).await?
            } else {
                let deleted = delete_batch(conn, kind, before, policy.batch, None).await?;
                (deleted, deleted == policy.batch)
            };
            let mut step = Counts::default();
            *field(&mut step) = deleted;
            total.add(step);
            if !more {
                break;
            }
        }
    }
    Ok(total)
}
