//! What a replay of correlation rules reads: a user's recorded alerts since a moment, the
//! titles of their incidents, their silences and deployments. Read only; an offline tool's
//! queries, scanning the user's rows of the period.

use std::collections::HashMap;

use aurora_correlation::replay::Recorded;
use aurora_correlation::{Silence, StoredDeployment};
use aurora_domain::{DeploymentResult, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::alerts::Alert;
use crate::deployments::Deployment;
use crate::schema::{alerts, deployments, incidents, silences};
use crate::silences::SilenceRow;
use crate::{QueryResult, time};

/// A user's history for a replay.
#[derive(Debug, Default)]
pub struct Recording {
    /// Their alerts received since the start, in arrival order.
    pub alerts: Vec<Recorded>,
    /// Titles of the incidents those alerts are in.
    pub incident_titles: HashMap<Uuid, String>,
    /// Their silences that had not ended by the start.
    pub silences: Vec<Silence>,
    /// Their deployments from `deployments_since` on.
    pub deployments: Vec<StoredDeployment>,
}

/// `user`'s alerts received from `since` on, and what deciding them again needs (deployments
/// from `deployments_since`, earlier, so the first alerts see those before them).
pub async fn recording(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    since: NaiveDateTime,
    deployments_since: NaiveDateTime,
) -> QueryResult<Recording> {
    let rows: Vec<Alert> = alerts::table
        .filter(alerts::user_id.eq(user.as_str()))
        .filter(alerts::received_at.ge(since))
        .order((alerts::received_at.asc(), alerts::id.asc()))
        .select(Alert::as_select())
        .load(conn)
        .await?;
    let recorded: Vec<Recorded> = rows
        .iter()
        .filter_map(|row| {
            let mut alert = row.to_normalized()?;
            // Its first notification: a resolve stored as it came (an alert never seen open)
            // has no incident and resolved as it arrived; every other row began firing.
            let resolve_first = row.incident_id.is_none()
                && row.suppressed_by.is_none()
                && row.resolved_at == Some(row.received_at);
            alert.status = if resolve_first {
                aurora_domain::AlertStatus::Resolved
            } else {
                aurora_domain::AlertStatus::Firing
            };
            Some(Recorded {
                id: row.id,
                alert,
                received_at: time::to_utc(row.received_at),
                resolved_at: row.resolved_at.map(time::to_utc),
                incident_id: row.incident_id,
            })
        })
        .collect();
    let ids: Vec<Uuid> = recorded.iter().filter_map(|r| r.incident_id).collect();
    let incident_titles = incidents::table
        .filter(incidents::id.eq_any(&ids))
        .select((incidents::id, incidents::alert_title))
        .load::<(Uuid, Option<String>)>(conn)
        .await?
        .into_iter()
        .map(|(id, title)| (id, title.unwrap_or_default()))
        .collect();
    let silences = silences::table
        .filter(silences::user_id.eq(user.as_str()))
        .filter(silences::ends_at.ge(since))
        .select(SilenceRow::as_select())
        .load::<SilenceRow>(conn)
        .await?
        .iter()
        .filter_map(SilenceRow::to_silence)
        .collect();
    let deployments = deployments::table
        .filter(deployments::user_id.eq(user.as_str()))
        .filter(deployments::deployed_at.ge(deployments_since))
        .select(Deployment::as_select())
        .load::<Deployment>(conn)
        .await?
        .into_iter()
        .map(|d| StoredDeployment {
            failed: d
                .result
                .parse::<DeploymentResult>()
                .is_ok_and(DeploymentResult::is_failure),
            service: d.service,
            build: d.build_number,
            deployed_at: time::to_utc(d.deployed_at),
        })
        .collect();
    Ok(Recording {
        alerts: recorded,
        incident_titles,
        silences,
        deployments,
    })
}
