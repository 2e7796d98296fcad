//! `POST /api/incidents/{target_incident_id}/merge-alert`: a person folds one incident into
//! another.

use actix_web::{HttpResponse, web};
use aurora_bus::Bus;
use aurora_db::{AsyncConnection, DbPool, QueryError, analysis, events, incidents, time};
use aurora_domain::{AuroraStatus, IncidentChange, IncidentStatus};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::incidents::owned;
use crate::publish;

/// The incident to fold in, and optionally why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeRequest {
    source_incident_id: String,
    reason: Option<String>,
}

pub(crate) async fn merge(
    caller: Caller,
    pool: web::Data<DbPool>,
    bus: web::Data<Bus>,
    path: web::Path<String>,
    request: web::Json<MergeRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = request.into_inner();
    if Uuid::parse_str(&request.source_incident_id).is_err() {
        return Err(ApiError::Unprocessable(
            "invalid `source_incident_id`: not an incident id".into(),
        ));
    }
    let mut conn = pool.get().await?;
    let target = owned(&mut conn, &caller.0, &path).await?;
    let source = owned(&mut conn, &caller.0, &request.source_incident_id).await?;
    let user = caller.0.clone();
    let why = request.reason.unwrap_or_default();
    let outcome = conn
        .transaction(async |conn| {
            aurora_db::lock_user(conn, &user).await?;
            // Re-read under the lock: either may have changed since.
            let target = incidents::get(conn, target.id).await?;
            let source = incidents::get(conn, source.id).await?;
            if let Some(refusal) = refuse(&target, &source) {
                return Ok(Err(refusal));
            }
            let now = time::now();
            let reason = if why.is_empty() {
                format!("merged from incident {} by {}", source.id, user)
            } else {
                format!("merged from incident {} by {}: {why}", source.id, user)
            };
            let (target, merged) =
                aurora_db::merge::merge(conn, &target, &source, &reason, now).await?;
            if source.aurora_status.as_deref() == Some(AuroraStatus::Running.as_str()) {
                let thought = format!(
                    "The analysis stopped: this incident was merged into {}.",
                    target.id
                );
                analysis::add_thought(conn, source.id, "error", &thought).await?;
            }
            let detail = serde_json::json!({ "by": user.as_str(), "reason": why });
            let on_target = events::record(
                conn,
                target.id,
                "merged",
                serde_json::json!({ "source_incident_id": source.id, "detail": detail }),
            )
            .await?;
            let on_source = events::record(
                conn,
                source.id,
                "merged_into",
                serde_json::json!({ "target_incident_id": target.id, "detail": detail }),
            )
            .await?;
            Ok::<_, QueryError>(Ok((
                target,
                merged,
                vec![
                    (IncidentChange::Merged, on_target),
                    (IncidentChange::Merged, on_source),
                ],
            )))
        })
        .await??;
    let (target, source, changes) = outcome;
    publish::changes(&bus, &mut conn, &caller.0, &changes).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "target": target, "source": source })))
}

/// Why a merge cannot happen, if it cannot.
fn refuse(target: &incidents::Incident, source: &incidents::Incident) -> Option<ApiError> {
    let merged = IncidentStatus::Merged.as_str();
    if target.id == source.id {
        Some(ApiError::Conflict(
            "an incident cannot be merged into itself".into(),
        ))
    } else if source.status == merged {
        Some(ApiError::Conflict(format!(
            "incident {} is already merged",
            source.id
        )))
    } else if target.status == merged {
        Some(ApiError::Conflict(format!(
            "incident {} is merged; merge into the incident it was merged into",
            target.id
        )))
    } else {
        None
    }
}
