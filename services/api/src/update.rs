//! `PATCH /api/incidents/{id}`: a person changes the status, the open tab or the summary.

use actix_web::{HttpResponse, web};
use aurora_bus::Bus;
use aurora_db::incidents::{self, Incident};
use aurora_db::{AsyncConnection, DbPool, QueryError, events, time};
use aurora_domain::{ActiveTab, IncidentChange, IncidentStatus};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::incidents::owned;
use crate::publish;

/// Longest summary accepted, in bytes.
const MAX_SUMMARY_BYTES: usize = 64 * 1024;

/// The fields a person may change; anything else is refused with 422.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncidentPatch {
    status: Option<String>,
    active_tab: Option<String>,
    aurora_summary: Option<String>,
}

pub(crate) async fn update(
    caller: Caller,
    pool: web::Data<DbPool>,
    bus: web::Data<Bus>,
    path: web::Path<String>,
    patch: web::Json<IncidentPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = patch.into_inner();
    let status = patch
        .status
        .as_deref()
        .map(|s| {
            s.parse::<IncidentStatus>()
                .map_err(|err| ApiError::Unprocessable(format!("invalid `status`: {err}")))
        })
        .transpose()?;
    if status == Some(IncidentStatus::Merged) {
        return Err(ApiError::Unprocessable(
            "invalid `status`: incidents are merged with POST /api/incidents/{target_incident_id}/merge-alert".into(),
        ));
    }
    let active_tab = patch
        .active_tab
        .as_deref()
        .map(|t| {
            t.parse::<ActiveTab>()
                .map_err(|err| ApiError::Unprocessable(format!("invalid `active_tab`: {err}")))
        })
        .transpose()?;
    if patch
        .aurora_summary
        .as_ref()
        .is_some_and(|s| s.len() > MAX_SUMMARY_BYTES)
    {
        return Err(ApiError::Unprocessable(format!(
            "invalid `aurora_summary`: longer than {MAX_SUMMARY_BYTES} bytes"
        )));
    }
    if status.is_none() && active_tab.is_none() && patch.aurora_summary.is_none() {
        return Err(ApiError::Unprocessable(
            "nothing to change: send `status`, `active_tab` or `aurora_summary`".into(),
        ));
    }
    let mut conn = pool.get().await?;
    let incident = owned(&mut conn, &caller.0, &path).await?;
    let user = caller.0.clone();
    let (updated, changes) = conn
        .transaction(async |conn| {
            aurora_db::lock_user(conn, &user).await?;
            let now = time::now();
            let current = incidents::get(conn, incident.id).await?;
            let mut changes = Vec::new();
            let mut updated: Incident = current.clone();
            if let Some(next) = status.filter(|next| next.as_str() != current.status) {
                updated = match incidents::transition(conn, &current, next, now).await? {
                    Some(updated) => updated,
                    None => {
                        return Ok(Err(ApiError::Conflict(format!(
                            "an incident cannot go from {} to {next}",
                            current.status
                        ))));
                    }
                };
                let detail =
                    serde_json::json!({ "from": current.status, "to": next, "by": user.as_str() });
                let kind = if next == IncidentStatus::Resolved {
                    "resolved"
                } else {
                    "status_changed"
                };
                let change = if next == IncidentStatus::Resolved {
                    IncidentChange::Resolved
                } else {
                    IncidentChange::Updated
                };
                changes.push((
                    change,
                    events::record(conn, current.id, kind, detail).await?,
                ));
            }
            if active_tab.is_some() || patch.aurora_summary.is_some() {
                updated = incidents::edit(
                    conn,
                    current.id,
                    active_tab,
                    patch.aurora_summary.as_deref(),
                    user.as_str(),
                    now,
                )
                .await?;
                let detail = serde_json::json!({
                    "active_tab": active_tab,
                    "aurora_summary_changed": patch.aurora_summary.is_some(),
                    "by": user.as_str(),
                });
                changes.push((
                    IncidentChange::Updated,
                    events::record(conn, current.id, "updated", detail).await?,
                ));
            }
            Ok::<_, QueryError>(Ok((updated, changes)))
        })
        .await??;
    publish::changes(&bus, &mut conn, &caller.0, &changes).await;
    Ok(HttpResponse::Ok().json(updated))
}
