//! How much noise Aurora took away: alerts received against incidents opened over a window.

use aurora_domain::UserId;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::QueryResult;
use crate::schema::{alert_deliveries, incidents};

/// A user's alerts and incidents since a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Noise {
    /// Alerts received: every alert of every delivery, counted once however often the bus
    /// redelivered it.
    pub alerts_received: i64,
    /// Incidents opened, including those merged since.
    pub incidents_opened: i64,
}

/// `user`'s alerts received and incidents opened at or after `since`.
pub async fn noise_since(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    since: NaiveDateTime,
) -> QueryResult<Noise> {
    let alerts_received = alert_deliveries::table
        .filter(alert_deliveries::user_id.eq(user.as_str()))
        .filter(alert_deliveries::processed_at.ge(since))
        .count()
        .get_result(conn)
        .await?;
    let incidents_opened = incidents::table
        .filter(incidents::user_id.eq(user.as_str()))
        .filter(incidents::created_at.ge(since))
        .count()
        .get_result(conn)
        .await?;
    Ok(Noise {
        alerts_received,
        incidents_opened,
    })
}
