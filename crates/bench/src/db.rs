//! What the bench asks PostgreSQL: plain SQL over one connection, as the chaos run does.
//! The bench's own database is created and dropped here too, from the server's `postgres`
//! database.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// A connection to the bench's database.
pub struct Db {
    conn: AsyncPgConnection,
}

/// Alert-to-incident latencies of the incidents opened by alerts received since a time.
#[derive(Debug, Default, Clone, Copy)]
pub struct IncidentLatency {
    /// Incidents counted.
    pub incidents: i64,
    /// Median, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
}

/// How far the analyses got.
#[derive(Debug, Default, Clone)]
pub struct Analyses {
    /// Incidents by `aurora_status` (`none` for a NULL).
    pub by_status: Vec<(String, i64)>,
    /// Complete analyses.
    pub complete: i64,
    /// From the first of their incidents' creation to the last analysis' end, seconds.
    pub span_secs: Option<f64>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct LastAt {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct Latency {
    #[diesel(sql_type = BigInt)]
    incidents: i64,
    #[diesel(sql_type = Nullable<Double>)]
    p50: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p99: Option<f64>,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Nullable<Double>)]
    secs: Option<f64>,
}

async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    // The tables keep UTC in TIMESTAMP columns; `now()` comparisons must be in UTC too.
    conn.batch_execute("SET TIME ZONE 'UTC'").await?;
    Ok(conn)
}

/// Creates database `name` on the server at `server` (a URL without a database). Fails if
/// it exists: a database the bench did not create is never used, nor dropped.
pub async fn create_database(server: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = connect(&format!("{server}/postgres")).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    Ok(())
}

/// Drops database `name`, cutting any connection still open to it.
pub async fn drop_database(server: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = connect(&format!("{server}/postgres")).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    Ok(())
}

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

impl Db {
    /// Connects to the database at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            conn: connect(url).await?,
        })
    }

    async fn count(&mut self, sql: &'static str) -> anyhow::Result<i64> {
        let rows: Vec<Count> = diesel::sql_query(sql).load(&mut self.conn).await?;
        Ok(rows.into_iter().next().map_or(0, |row| row.count))
    }

    /// Alerts of processed deliveries: one row per alert of every webhook the correlator
    /// finished, repeats and resolves included.
    pub async fn stored_alerts(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM alert_deliveries")
            .await
    }

    /// When the correlator stored the last delivery.
    pub async fn last_processed(&mut self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let rows: Vec<LastAt> =
            diesel::sql_query("SELECT max(processed_at) AS at FROM alert_deliveries")
                .load(&mut self.conn)
                .await?;
        Ok(rows.into_iter().next().and_then(|row| row.at).map(utc))
    }

    /// From an alert's arrival at the ingress to the incident it opened, for incidents whose
    /// first alert arrived at `since` or later.
    pub async fn incident_latency(
        &mut self,
        since: DateTime<Utc>,
    ) -> anyhow::Result<IncidentLatency> {
        let rows: Vec<Latency> = diesel::sql_query(
            "SELECT count(*) AS incidents, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99 \
             FROM (SELECT extract(epoch FROM i.created_at - a.received_at)::float8 * 1000 AS ms \
                   FROM incidents i JOIN alerts a ON a.id = i.source_alert_id \
                   WHERE a.received_at >= $1) opened",
        )
        .bind::<Timestamp, _>(since.naive_utc())
        .load(&mut self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .next()
            .map_or_else(IncidentLatency::default, |row| IncidentLatency {
                incidents: row.incidents,
                p50_ms: row.p50,
                p99_ms: row.p99,
            }))
    }

    /// Incidents whose analysis is not complete.
    pub async fn unfinished_analyses(&mut self) -> anyhow::Result<i64> {
        self.count(
            "SELECT count(*) AS count FROM incidents \
             WHERE aurora_status IS DISTINCT FROM 'complete'",
        )
        .await
    }

    /// Every incident's analysis state, and the span of the complete ones.
    pub async fn analyses(&mut self) -> anyhow::Result<Analyses> {
        let by_status: Vec<StatusCount> = diesel::sql_query(
            "SELECT coalesce(aurora_status, 'none') AS status, count(*) AS count \
             FROM incidents GROUP BY 1 ORDER BY 1",
        )
        .load(&mut self.conn)
        .await?;
        let span: Vec<Span> = diesel::sql_query(
            "SELECT extract(epoch FROM max(analyzed_at) - min(created_at))::float8 AS secs \
             FROM incidents WHERE aurora_status = 'complete'",
        )
        .load(&mut self.conn)
        .await?;
        let complete = by_status
            .iter()
            .find(|row| row.status == "complete")
            .map_or(0, |row| row.count);
        Ok(Analyses {
            by_status: by_status
                .into_iter()
                .map(|row| (row.status, row.count))
                .collect(),
            complete,
            span_secs: span.into_iter().next().and_then(|row| row.secs),
        })
    }
}
