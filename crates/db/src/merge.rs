//! Manual merge: one incident's alerts move under another.

use aurora_correlation::FiringBySeverity;
use aurora_domain::{AuroraStatus, IncidentStatus};
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::QueryResult;
use crate::incidents::Incident;
use crate::schema::{alerts, incident_alerts, incidents};

/// Moves every alert of `source` under `target` (strategy `manual`, with `reason`), adds the
/// source's alert counts (all, and firing) and services to the target, whose severity becomes
/// the highest of the firing alerts it now holds, and marks the source merged into it —
/// stopping its analysis if one runs. The caller validates both incidents first and holds the
/// user's lock; answers the updated target and source.
pub async fn merge(
    conn: &mut AsyncPgConnection,
    target: &Incident,
    source: &Incident,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<(Incident, Incident)> {
    diesel::update(alerts::table.filter(alerts::incident_id.eq(source.id)))
        .set(alerts::incident_id.eq(target.id))
        .execute(conn)
        .await?;
    diesel::update(incident_alerts::table.filter(incident_alerts::incident_id.eq(source.id)))
        .set((
            incident_alerts::incident_id.eq(target.id),
            incident_alerts::strategy.eq("manual"),
            incident_alerts::score.eq(1.0_f32),
            incident_alerts::reason.eq(reason),
            incident_alerts::attached_at.eq(now),
        ))
        .execute(conn)
        .await?;
    let moved = source.correlated_alert_count + 1;
    // The target's severity follows the firing alerts it now holds.
    let counts: Vec<(Uuid, Vec<i32>)> = incidents::table
        .filter(incidents::id.eq_any([target.id, source.id]))
        .select((incidents::id, incidents::firing_by_severity))
        .load(conn)
        .await?;
    let mut firing = FiringBySeverity::default();
    for (_, stored) in &counts {
        firing.absorb(&FiringBySeverity::from_stored(stored));
    }
    let severity = firing
        .highest()
        .map(|s| s.as_str().to_owned())
        .or_else(|| target.severity.clone());
    let target = diesel::update(incidents::table.find(target.id))
        .set((
            incidents::firing_by_severity.eq(firing.0.to_vec()),
            incidents::severity.eq(severity),
            incidents::correlated_alert_count.eq(incidents::correlated_alert_count + moved),
            incidents::firing_alert_count.eq(incidents::firing_alert_count
                + diesel::dsl::sql::<diesel::sql_types::Integer>(
                    "(SELECT firing_alert_count FROM incidents WHERE id = ",
                )
                .bind::<diesel::sql_types::Uuid, _>(source.id)
                .sql(")")),
            // The target's services, then the source's it did not have, in order.
            incidents::affected_services.eq(sql::<Array<Text>>(
                "affected_services || ARRAY(SELECT s FROM unnest(",
            )
            .bind::<Array<Text>, _>(source.affected_services.clone())
            .sql(") AS s WHERE NOT s = ANY(affected_services))")),
            incidents::updated_at.eq(now),
        ))
        .returning(Incident::as_returning())
        .get_result(conn)
        .await?;
    let stopped_analysis =
        if source.aurora_status.as_deref() == Some(AuroraStatus::Running.as_str()) {
            AuroraStatus::Error.as_str()
        } else {
            source
                .aurora_status
                .as_deref()
                .unwrap_or(AuroraStatus::Idle.as_str())
        };
    let source = diesel::update(incidents::table.find(source.id))
        .set((
            incidents::status.eq(IncidentStatus::Merged.as_str()),
            incidents::merged_into_incident_id.eq(target.id),
            incidents::firing_alert_count.eq(0),
            incidents::firing_by_severity.eq(FiringBySeverity::default().0.to_vec()),
            incidents::aurora_status.eq(stopped_analysis),
            incidents::updated_at.eq(now),
        ))
        .returning(Incident::as_returning())
        .get_result(conn)
        .await?;
    Ok((target, source))
}
