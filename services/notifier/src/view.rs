//! What every destination says about an incident: one view of it, read when a delivery is
//! sent, so a message always shows the incident as it is then.

use aurora_db::incidents::Incident;
use aurora_db::time;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// An incident as notifications show it (also the `incident` of a webhook's body).
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// The incident.
    pub id: Uuid,
    /// The title of the alert that opened it.
    pub title: String,
    /// `critical` … `unknown`.
    pub severity: String,
    /// `investigating`, `analyzed`, `resolved` or `merged`.
    pub status: String,
    /// The analysis: `idle`, `running`, `complete` or `error`.
    pub aurora_status: String,
    /// The service of the alert that opened it.
    pub service: Option<String>,
    /// Its environment.
    pub environment: Option<String>,
    /// The vendor of the alert that opened it.
    pub source: String,
    /// Alerts in the incident.
    pub alert_count: i64,
    /// Services its alerts came from.
    pub affected_services: Vec<String>,
    /// The analysis' conclusion in one line, once analysed.
    pub likely_cause: Option<String>,
    /// The analysis' summary (Markdown), once analysed.
    #[serde(skip)]
    pub summary: Option<String>,
    /// The incident it was merged into.
    pub merged_into: Option<Uuid>,
    /// The incident in the console.
    pub url: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl IncidentView {
    /// The view of `incident`, with the analysis' conclusion, linking to `console_url`.
    pub fn new(incident: &Incident, likely_cause: Option<String>, console_url: &str) -> Self {
        Self {
            id: incident.id,
            title: incident
                .alert_title
                .clone()
                .unwrap_or_else(|| "untitled alert".to_owned()),
            severity: incident
                .severity
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            status: incident.status.clone(),
            aurora_status: incident
                .aurora_status
                .clone()
                .unwrap_or_else(|| "idle".to_owned()),
            service: incident.alert_service.clone(),
            environment: incident.alert_environment.clone(),
            source: incident.source_type.clone(),
            alert_count: 1 + i64::from(incident.correlated_alert_count),
            affected_services: incident.affected_services.clone(),
            likely_cause,
            summary: incident.aurora_summary.clone(),
            merged_into: incident.merged_into_incident_id,
            url: format!(
                "{}/incidents/{}",
                console_url.trim_end_matches('/'),
                incident.id
            ),
            started_at: time::to_utc(incident.started_at),
            resolved_at: incident.resolved_at.map(time::to_utc),
        }
    }

    /// Still open: being investigated or analysed, not resolved or merged.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "investigating" | "analyzed")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An open incident of `user` on `service` in production.
    pub(crate) fn incident(user: &str, service: &str, severity: &str) -> Incident {
        let now = time::now();
        Incident {
            id: Uuid::new_v4(),
            user_id: user.to_owned(),
            source_type: "alertmanager".to_owned(),
            source_alert_id: 1,
            status: "investigating".to_owned(),
            severity: Some(severity.to_owned()),
            alert_title: Some("HighErrorRate".to_owned()),
            alert_service: Some(service.to_owned()),
            alert_environment: Some("production".to_owned()),
            aurora_status: Some("idle".to_owned()),
            aurora_summary: None,
            aurora_chat_session_id: None,
            started_at: now,
            analyzed_at: None,
            slack_message_ts: None,
            slack_channel: None,
            active_tab: Some("thoughts".to_owned()),
            created_at: Some(now),
            updated_at: Some(now),
            merged_into_incident_id: None,
            correlated_alert_count: 2,
            affected_services: vec![service.to_owned(), "payments".to_owned()],
            resolved_at: None,
        }
    }

    #[test]
    fn a_view_counts_the_opening_alert_and_links_to_the_console() {
        let incident = incident("u1", "checkout", "high");
        let view = IncidentView::new(&incident, None, "https://aurora.example/");
        assert_eq!(view.alert_count, 3);
        assert_eq!(
            view.url,
            format!("https://aurora.example/incidents/{}", incident.id)
        );
        assert!(view.is_open());
    }
}
