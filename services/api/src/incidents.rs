//! Reading incidents: the filtered list, one incident with everything attached, its alerts
//! and its timeline.

use actix_web::{HttpResponse, web};
use aurora_db::alerts::Alert;
use aurora_db::analysis::{ChatMessage, CommandRun, Hypothesis, Suggestion, Thought};
use aurora_db::deployments::Deployment;
use aurora_db::events::IncidentEvent;
use aurora_db::incident_list::{self, Cursor, IncidentFilter};
use aurora_db::incidents::{Incident, IncidentAlert};
use aurora_db::{AsyncPgConnection, DbPool, alerts, analysis, deployments, events, incidents};
use aurora_domain::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor;
use crate::error::ApiError;
use crate::markdown;

/// Deployments this long before an incident started are shown with it: the window the analyst
/// looks at too.
const DEPLOYMENTS_BEFORE: chrono::TimeDelta = chrono::TimeDelta::hours(6);

/// Most incidents one page holds.
const MAX_LIMIT: i64 = 100;
/// Incidents on a page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 50;

/// The query string of `GET /api/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    source_type: Option<String>,
    service: Option<String>,
    environment: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    include_merged: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn parse<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(|v| {
            v.parse::<T>()
                .map_err(|err| ApiError::BadRequest(format!("invalid `{name}`: {err}")))
        })
        .transpose()
}

/// An RFC 3339 query parameter as a stored (UTC) timestamp; 400 naming the parameter when it is
/// not one.
pub(crate) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<chrono::NaiveDateTime>, ApiError> {
    Ok(parse::<DateTime<Utc>>(name, value)?.map(|at| at.naive_utc()))
}

impl ListQuery {
    fn filter(&self) -> Result<IncidentFilter, ApiError> {
        Ok(IncidentFilter {
            status: parse("status", self.status.as_deref())?,
            severity: parse("severity", self.severity.as_deref())?,
            source_type: parse("source_type", self.source_type.as_deref())?,
            service: self.service.clone(),
            environment: self.environment.clone(),
            since: parse_time("since", self.since.as_deref())?,
            until: parse_time("until", self.until.as_deref())?,
            words: self
                .q
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            include_merged: self.include_merged.unwrap_or(false),
        })
    }
}

/// One page of incidents.
#[derive(Debug, Serialize)]
pub(crate) struct IncidentPage {
    incidents: Vec<Incident>,
    /// Pass back as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

pub(crate) async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "invalid `limit`: must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let filter = query.filter()?;
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut conn = pool.get().await?;
    let mut incidents = incident_list::page(&mut conn, &caller.0, &filter, after, limit).await?;
    let more = incidents.len() as i64 > limit;
    incidents.truncate(limit as usize);
    let next_cursor = more.then(|| incidents.last()).flatten().and_then(|last| {
        Some(cursor::encode(Cursor {
            created_at: last.created_at?,
            id: last.id,
        }))
    });
    Ok(HttpResponse::Ok().json(IncidentPage {
        incidents,
        next_cursor,
    }))
}

/// An incident's columns at the top level, with everything attached to it beside them.
#[derive(Debug, Serialize)]
pub(crate) struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    /// `aurora_summary` as HTML that is safe to show: raw HTML in it is text, links are
    /// http(s) or mail only.
    aurora_summary_html: Option<String>,
    alerts: Vec<Alert>,
    /// Why each alert belongs to the incident.
    correlations: Vec<IncidentAlert>,
    thoughts: Vec<Thought>,
    /// The causes the analysis ranked, most likely first, each with its evidence.
    hypotheses: Vec<Hypothesis>,
    suggestions: Vec<Suggestion>,
    command_runs: Vec<CommandRun>,
    events: Vec<IncidentEvent>,
    chat_messages: Vec<ChatMessage>,
    /// Deployments of its services from six hours before it started on, newest first.
    deployments: Vec<Deployment>,
    /// The raw bodies its alerts came in, by id (each stored once per delivery).
    raw_payloads: std::collections::BTreeMap<i64, serde_json::Value>,
}

/// The caller's incident by the id in the path; 404 alike for malformed, unknown and another
/// user's ids.
pub(crate) async fn owned(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    id: &str,
) -> Result<Incident, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("incident"))?;
    incidents::find_for_user(conn, user, id)
        .await?
        .ok_or(ApiError::NotFound("incident"))
}

pub(crate) async fn detail(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = pool.get().await?;
    let incident = owned(&mut conn, &caller.0, &path).await?;
    let id = incident.id;
    let chat_messages = match incident.aurora_chat_session_id {
        Some(session) => analysis::chat_messages(&mut conn, session).await?,
        None => Vec::new(),
    };
    let alerts = alerts::for_incident(&mut conn, id).await?;
    let payload_ids: Vec<i64> = alerts.iter().filter_map(|a| a.raw_payload_id).collect();
    let services: Vec<String> = incident
        .alert_service
        .iter()
        .chain(&incident.affected_services)
        .cloned()
        .collect();
    let body = IncidentDetail {
        aurora_summary_html: incident
            .aurora_summary
            .as_deref()
            .map(markdown::to_safe_html),
        deployments: deployments::recent_for_services(
            &mut conn,
            &caller.0,
            &services,
            incident.started_at - DEPLOYMENTS_BEFORE,
        )
        .await?,
        hypotheses: analysis::hypotheses(&mut conn, id).await?,
        raw_payloads: alerts::raw_payloads(&mut conn, &payload_ids).await?,
        alerts,
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

/// An alert with why it belongs to the incident.
#[derive(Debug, Serialize)]
pub(crate) struct CorrelatedAlert {
    #[serde(flatten)]
    alert: Alert,
    correlation: Option<IncidentAlert>,
}

pub(crate) async fn incident_alerts(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = pool.get().await?;
    let incident = owned(&mut conn, &caller.0, &path).await?;
    let mut links = incidents::links(&mut conn, incident.id).await?;
    let alerts = alerts::for_incident(&mut conn, incident.id)
        .await?
        .into_iter()
        .map(|alert| {
            let position = links.iter().position(|link| link.alert_id == alert.id);
            CorrelatedAlert {
                correlation: position.map(|p| links.swap_remove(p)),
                alert,
            }
        })
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "alerts": alerts })))
}

pub(crate) async fn timeline(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = pool.get().await?;
    let incident = owned(&mut conn, &caller.0, &path).await?;
    let events = events::for_incident(&mut conn, incident.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events })))
}
