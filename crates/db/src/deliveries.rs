//! Which alert deliveries the correlator has already processed.
//!
//! Written in the same transaction as the work itself, so a redelivered message (the
//! correlator died between commit and ack) is recognised and only its events are republished.

use aurora_domain::UserId;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::alert_deliveries;
use crate::{QueryResult, time};

/// A row of `alert_deliveries`: one alert of one processed delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alert_deliveries)]
pub struct ProcessedAlert {
    /// Position of the alert in its delivery.
    pub alert_index: i32,
    /// The `alerts` row it was stored in or counted against.
    pub alert_id: i32,
    /// The incident it opened, if it opened one.
    pub opened_incident_id: Option<Uuid>,
    /// The `incident_events` rows it recorded that are published as incident changes.
    pub event_ids: Vec<i64>,
}

/// Records that an alert of a delivery was processed.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    delivery_id: &str,
    processed: &ProcessedAlert,
) -> QueryResult<()> {
    diesel::insert_into(alert_deliveries::table)
        .values((
            alert_deliveries::user_id.eq(user_id.as_str()),
            alert_deliveries::delivery_id.eq(delivery_id),
            alert_deliveries::alert_index.eq(processed.alert_index),
            alert_deliveries::alert_id.eq(processed.alert_id),
            alert_deliveries::opened_incident_id.eq(processed.opened_incident_id),
            alert_deliveries::event_ids.eq(&processed.event_ids),
            alert_deliveries::processed_at.eq(time::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What an already processed delivery did, in alert order; empty when it is new.
pub async fn find(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    delivery_id: &str,
) -> QueryResult<Vec<ProcessedAlert>> {
    alert_deliveries::table
        .filter(alert_deliveries::user_id.eq(user_id.as_str()))
        .filter(alert_deliveries::delivery_id.eq(delivery_id))
        .order(alert_deliveries::alert_index.asc())
        .select(ProcessedAlert::as_select())
        .load(conn)
        .await
}
