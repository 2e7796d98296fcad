//! Gathering what the analyst needs from PostgreSQL: the alert, the alerts correlated with it,
//! deployments of its service and dependencies in the hours before, similar past incidents.

use std::collections::{BTreeMap, HashMap};

use aurora_db::alerts::{self, Alert};
use aurora_db::incidents::{self, Incident};
use aurora_db::{AsyncPgConnection, QueryResult, deployments, time};
use aurora_domain::UserId;
use aurora_rca::{AlertContext, DeploymentContext, IncidentContext, PastIncident};
use chrono::TimeDelta;

/// How far back deployments are looked at.
const DEPLOYMENTS_SINCE: TimeDelta = TimeDelta::hours(6);
/// Similar past incidents cited, at most.
const SIMILAR: i64 = 3;
/// Label values longer than this are cut, so a raw payload cannot flood the analysis.
const MAX_LABEL_CHARS: usize = 200;

fn alert_context(alert: &Alert) -> AlertContext {
    let labels: BTreeMap<String, String> = alert
        .labels
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        v.as_str()?.chars().take(MAX_LABEL_CHARS).collect(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    AlertContext {
        id: alert.id,
        source_type: alert.source_type.clone(),
        title: alert.title.clone(),
        severity: alert.severity.clone(),
        status: alert.status.clone(),
        service: alert.service.clone(),
        environment: alert.environment.clone(),
        labels,
        started_at: time::to_utc(alert.started_at),
        url: alert.url.clone(),
        description: alert.description.clone(),
        runbook_url: alert.runbook_url.clone(),
    }
}

/// The incident's alerts that are not in `known` (ids): those that joined it while it was
/// being analysed, oldest first.
pub async fn joined(
    conn: &mut AsyncPgConnection,
    incident_id: uuid::Uuid,
    known: &[i32],
) -> QueryResult<Vec<AlertContext>> {
    Ok(alerts::for_incident(conn, incident_id)
        .await?
        .iter()
        .filter(|alert| !known.contains(&alert.id))
        .map(alert_context)
        .collect())
}

/// An alert as the language-model analyst reads it.
pub fn alert_json(alert: &AlertContext) -> serde_json::Value {
    serde_json::json!({
        "id": alert.id, "source": alert.source_type, "title": alert.title, "severity": alert.severity,
        "status": alert.status, "service": alert.service, "environment": alert.environment,
        "labels": alert.labels, "started_at": alert.started_at, "url": alert.url,
        "description": alert.description, "runbook_url": alert.runbook_url,
    })
}

/// Joined alerts named in a thought or shown to the language model, at most: a storm can add
/// hundreds.
pub const JOINED_SHOWN: usize = 20;

/// The thought that says which alerts joined while the analysis ran.
pub fn joined_note(joined: &[AlertContext]) -> String {
    let titles: Vec<String> = joined
        .iter()
        .take(JOINED_SHOWN)
        .map(|a| format!("\"{}\"", a.title))
        .collect();
    let more = joined.len().saturating_sub(JOINED_SHOWN);
    format!(
        "{} alert(s) joined the incident while the analysis ran: {}{}; taking them into account.",
        joined.len(),
        titles.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Long strings in a raw payload are cut to this many characters before an analyst reads it.
const MAX_PAYLOAD_STRING: usize = 500;

/// The raw payload with long strings cut, so a body of megabytes cannot flood an analysis.
pub fn truncated(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) if text.chars().count() > MAX_PAYLOAD_STRING => Value::String(format!(
            "{}… (truncated)",
            text.chars().take(MAX_PAYLOAD_STRING).collect::<String>()
        )),
        Value::Array(items) => Value::Array(items.iter().take(50).map(truncated).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), truncated(v))).collect())
        }
        other => other.clone(),
    }
}

/// The opening alert's raw payload, truncated, for analysts that read it (the language model).
pub async fn raw_payload(
    conn: &mut AsyncPgConnection,
    incident: &Incident,
) -> QueryResult<serde_json::Value> {
    Ok(alerts::raw_payload_of(conn, incident.source_alert_id)
        .await?
        .map_or(serde_json::Value::Null, |payload| truncated(&payload)))
}

/// Everything the analyst sees about `incident`.
pub async fn gather(
    conn: &mut AsyncPgConnection,
    incident: &Incident,
    dependencies: &HashMap<String, Vec<String>>,
) -> QueryResult<IncidentContext> {
    let primary = alerts::get(conn, incident.source_alert_id).await?;
    let correlated = alerts::for_incident(conn, incident.id)
        .await?
        .iter()
        .filter(|a| a.id != primary.id)
        .map(alert_context)
        .collect();
    let user = UserId::parse(incident.user_id.clone())
        .map_err(|err| aurora_db::QueryError::DeserializationError(Box::new(err)))?;
    let deployments = match &primary.service {
        Some(service) => {
            let mut services = vec![service.clone()];
            services.extend(dependencies.get(service).cloned().unwrap_or_default());
            let since = primary.started_at - DEPLOYMENTS_SINCE;
            deployments::recent_for_services(conn, &user, &services, since)
                .await?
                .into_iter()
                .map(|d| DeploymentContext {
                    service: d.service,
                    build: d.build_number,
                    result: d.result,
                    deployed_at: time::to_utc(d.deployed_at),
                    url: d.build_url,
                    commit: d.commit_sha,
                })
                .collect()
        }
        None => Vec::new(),
    };
    let similar = incidents::similar_resolved(conn, incident, SIMILAR)
        .await?
        .into_iter()
        .map(|past| PastIncident {
            id: past.id.to_string(),
            title: past.alert_title.unwrap_or_default(),
            started_at: time::to_utc(past.started_at),
            summary: past.aurora_summary,
            status: past.status,
        })
        .collect();
    Ok(IncidentContext {
        alert: alert_context(&primary),
        correlated,
        deployments,
        similar,
        commands: Vec::new(),
        metrics: None,
    })
}
