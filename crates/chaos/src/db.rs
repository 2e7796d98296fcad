//! What the chaos run reads from the database: plain SQL, read-only, over one connection
//! that is made again whenever PostgreSQL restarts under it.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(QueryableByName)]
struct IncidentCount {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct OwnedEvent {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = SqlUuid)]
    incident_id: Uuid,
    #[diesel(sql_type = Text)]
    user_id: String,
}

#[derive(QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// A connection that reconnects after an error.
pub struct Reader {
    url: String,
    conn: Option<AsyncPgConnection>,
}

/// One stored alert of one delivery.
#[derive(QueryableByName, Debug)]
pub struct DeliveryAlert {
    /// The delivery.
    #[diesel(sql_type = Text)]
    pub delivery_id: String,
    /// The alert's place in the delivery.
    #[diesel(sql_type = Integer)]
    pub alert_index: i32,
    /// The alert row it became.
    #[diesel(sql_type = Integer)]
    pub alert_id: i32,
    /// When the correlator stored it (UTC).
    #[diesel(sql_type = Timestamp)]
    pub processed_at: chrono::NaiveDateTime,
}

/// One alert row.
#[derive(QueryableByName, Debug)]
pub struct AlertRow {
    /// Its id.
    #[diesel(sql_type = Integer)]
    pub id: i32,
    /// firing or resolved.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Times seen firing.
    #[diesel(sql_type = Integer)]
    pub occurrence_count: i32,
    /// Its incident.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub incident_id: Option<Uuid>,
}

/// One incident's state.
#[derive(QueryableByName, Debug)]
pub struct IncidentRow {
    /// Its id.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// Rows in `incident_alerts`.
    #[diesel(sql_type = BigInt)]
    pub links: i64,
    /// Distinct alerts among them.
    #[diesel(sql_type = BigInt)]
    pub linked_alerts: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    delivery_id: String,
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct IncidentId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

impl Reader {
    /// A reader of the database at `url` (connects on first use).
    pub fn new(url: String) -> Self {
        Self { url, conn: None }
    }

    async fn conn(&mut self) -> anyhow::Result<&mut AsyncPgConnection> {
        if self.conn.is_none() {
            self.conn = Some(AsyncPgConnection::establish(&self.url).await?);
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Runs `query`; on an error the connection is dropped, so the next call reconnects.
    async fn load<T, Q>(&mut self, query: Q) -> anyhow::Result<Vec<T>>
    where
        Q: diesel_async::methods::LoadQuery<'static, AsyncPgConnection, T> + Send + 'static,
        T: Send + 'static,
    {
        let result = query.load(self.conn().await?).await;
        if result.is_err() {
            self.conn = None;
        }
        Ok(result?)
    }

    /// Which of `ids` have been stored by the correlator.
    pub async fn stored(&mut self, ids: Vec<String>) -> anyhow::Result<Vec<String>> {
        let rows: Vec<Id> = self
            .load(
                diesel::sql_query(
                    "SELECT DISTINCT delivery_id FROM alert_deliveries WHERE delivery_id = ANY($1)",
                )
                .bind::<Array<Text>, _>(ids),
            )
            .await?;
        Ok(rows.into_iter().map(|row| row.delivery_id).collect())
    }

    /// Every stored alert of every delivery.
    pub async fn deliveries(&mut self) -> anyhow::Result<Vec<DeliveryAlert>> {
        self.load(diesel::sql_query(
            "SELECT delivery_id, alert_index, alert_id, processed_at FROM alert_deliveries",
        ))
        .await
    }

    /// Every alert row.
    pub async fn alerts(&mut self) -> anyhow::Result<Vec<AlertRow>> {
        self.load(diesel::sql_query(
            "SELECT id, status, occurrence_count, incident_id FROM alerts",
        ))
        .await
    }

    /// Every incident with its links.
    pub async fn incidents(&mut self) -> anyhow::Result<Vec<IncidentRow>> {
        self.load(diesel::sql_query(
            "SELECT i.id, count(l.id) AS links, \
             count(DISTINCT l.alert_id) AS linked_alerts \
             FROM incidents i LEFT JOIN incident_alerts l ON l.incident_id = i.id GROUP BY i.id",
        ))
        .await
    }

    /// Incidents whose analysis is running now.
    pub async fn running_analyses(&mut self) -> anyhow::Result<Vec<Uuid>> {
        let rows: Vec<IncidentId> = self
            .load(diesel::sql_query(
                "SELECT id FROM incidents WHERE aurora_status = 'running'",
            ))
            .await?;
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    /// How many of `incidents` have a complete analysis.
    pub async fn complete_among(&mut self, incidents: Vec<Uuid>) -> anyhow::Result<i64> {
        let rows: Vec<Count> = self
            .load(
                diesel::sql_query(
                    "SELECT count(*) AS count FROM incidents \
                     WHERE id = ANY($1) AND aurora_status = 'complete'",
                )
                .bind::<Array<SqlUuid>, _>(incidents),
            )
            .await?;
        Ok(rows.into_iter().next().map_or(0, |row| row.count))
    }

    /// Incidents whose analysis is not complete.
    pub async fn unfinished_analyses(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM incidents WHERE aurora_status IS DISTINCT FROM 'complete'")
            .await
    }

    /// Incidents whose analysis did not complete exactly once: other than one
    /// `analysis_completed` event, or a suggestion written twice.
    pub async fn analyses_not_completed_once(&mut self) -> anyhow::Result<i64> {
        self.count(
            "SELECT count(*) AS count FROM incidents i WHERE \
             (SELECT count(*) FROM incident_events e \
              WHERE e.incident_id = i.id AND e.kind = 'analysis_completed') <> 1 \
             OR EXISTS (SELECT 1 FROM incident_suggestions s WHERE s.incident_id = i.id \
              GROUP BY s.title HAVING count(*) > 1)",
        )
        .await
    }

    /// Incident events committed and not yet published (the outbox).
    pub async fn unpublished_events(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM incident_events WHERE NOT published")
            .await
    }

    /// Every incident event's id and kind.
    pub async fn events(&mut self) -> anyhow::Result<Vec<(i64, String)>> {
        let rows: Vec<EventRow> = self
            .load(diesel::sql_query(
                "SELECT id, kind FROM incident_events ORDER BY id",
            ))
            .await?;
        Ok(rows.into_iter().map(|row| (row.id, row.kind)).collect())
    }

    /// Messages set aside as dead letters.
    pub async fn dead_letters(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM dead_letters")
            .await
    }

    /// Every incident's owner and status.
    pub async fn incident_states(
        &mut self,
    ) -> anyhow::Result<Vec<crate::notifications::IncidentState>> {
        self.load(diesel::sql_query(
            "SELECT id, user_id, status FROM incidents",
        ))
        .await
    }

    /// Completed analyses per incident.
    pub async fn analyses_completed(&mut self) -> anyhow::Result<HashMap<Uuid, i64>> {
        let rows: Vec<IncidentCount> = self
            .load(diesel::sql_query(
                "SELECT incident_id AS id, count(*) AS count FROM incident_events \
                 WHERE kind = 'analysis_completed' GROUP BY incident_id",
            ))
            .await?;
        Ok(rows.into_iter().map(|row| (row.id, row.count)).collect())
    }

    /// Every incident event that announces a change: (event id, incident, owner).
    pub async fn announced_events(&mut self) -> anyhow::Result<Vec<(i64, Uuid, String)>> {
        let rows: Vec<OwnedEvent> = self
            .load(diesel::sql_query(
                "SELECT e.id, e.kind, e.incident_id, i.user_id \
                 FROM incident_events e JOIN incidents i ON i.id = e.incident_id",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| aurora_domain::IncidentChange::of_event_kind(&row.kind).is_some())
            .map(|row| (row.id, row.incident_id, row.user_id))
            .collect())
    }

    /// Notification deliveries by state.
    pub async fn delivery_states(&mut self) -> anyhow::Result<HashMap<String, i64>> {
        let rows: Vec<StateCount> = self
            .load(diesel::sql_query(
                "SELECT state, count(*) AS count FROM notification_deliveries GROUP BY state",
            ))
            .await?;
        Ok(rows.into_iter().map(|row| (row.state, row.count)).collect())
    }

    /// Notification deliveries a notifier is sending now.
    pub async fn deliveries_in_flight(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM notification_targets WHERE locked_until > now()")
            .await
    }

    /// Notification deliveries not yet sent.
    pub async fn deliveries_pending(&mut self) -> anyhow::Result<i64> {
        self.count("SELECT count(*) AS count FROM notification_deliveries WHERE state = 'pending'")
            .await
    }

    async fn count(&mut self, sql: &'static str) -> anyhow::Result<i64> {
        let rows: Vec<Count> = self.load(diesel::sql_query(sql)).await?;
        Ok(rows.into_iter().next().map_or(0, |row| row.count))
    }
}
