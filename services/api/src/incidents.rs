//! `GET /api/incidents` and `GET /api/incidents/{id}`.

use actix_web::{HttpResponse, web};
use aurora_db::alerts::Alert;
use aurora_db::analysis::{ChatMessage, CommandRun, Suggestion, Thought};
use aurora_db::events::IncidentEvent;
use aurora_db::incidents::{Incident, IncidentAlert};
use aurora_db::{DbPool, alerts, analysis, events, incidents};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;

/// Registers the incident routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/incidents", web::get().to(list))
        .route("/api/incidents/{id}", web::get().to(detail));
}

/// Most incidents one page holds.
const MAX_LIMIT: i64 = 100;
/// Incidents on a page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 50;

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

/// One page of incidents.
#[derive(Debug, Serialize)]
struct IncidentPage {
    incidents: Vec<Incident>,
    /// Always null until keyset pagination lands; the newest `limit` incidents are returned.
    next_cursor: Option<String>,
}

async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let mut conn = pool.get().await?;
    let incidents = incidents::list_for_user(&mut conn, &caller.0, limit).await?;
    Ok(HttpResponse::Ok().json(IncidentPage {
        incidents,
        next_cursor: None,
    }))
}

/// An incident's columns at the top level, with everything attached to it beside them.
#[derive(Debug, Serialize)]
struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    alerts: Vec<Alert>,
    /// Why each alert belongs to the incident.
    correlations: Vec<IncidentAlert>,
    thoughts: Vec<Thought>,
    suggestions: Vec<Suggestion>,
    command_runs: Vec<CommandRun>,
    events: Vec<IncidentEvent>,
    chat_messages: Vec<ChatMessage>,
}

async fn detail(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A malformed id names no incident, like an unknown one.
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::NotFound("incident"))?;
    let mut conn = pool.get().await?;
    let incident = incidents::find_for_user(&mut conn, &caller.0, id)
        .await?
        .ok_or(ApiError::NotFound("incident"))?;
    let chat_messages = match incident.aurora_chat_session_id {
        Some(session) => analysis::chat_messages(&mut conn, session).await?,
        None => Vec::new(),
    };
    let body = IncidentDetail {
        alerts: alerts::for_incident(&mut conn, id).await?,
        correlations: incidents::links(&mut conn, id).await?,
        thoughts: analysis::thoughts(&mut conn, id).await?,
        suggestions: analysis::suggestions(&mut conn, id).await?,
        command_runs: analysis::command_runs(&mut conn, id).await?,
        events: events::for_incident(&mut conn, id).await?,
        chat_messages,
        incident,
    };
    Ok(HttpResponse::Ok().json(body))
}
