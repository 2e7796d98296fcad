//! PagerDuty's Events API v2: a trigger when an incident opens (or reopens) and a resolve when
//! it ends, with the incident's id as `dedup_key`, so PagerDuty folds repeats into one alert.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Failure, check_status, send};
use crate::view::IncidentView;

/// PagerDuty, with the routing key of each rule that pages.
#[derive(Debug)]
pub struct PagerDuty {
    http: reqwest::Client,
    url: String,
    keys: HashMap<String, SecretString>,
}

/// What to tell PagerDuty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerDutyAction {
    /// Open (or keep open) the alert.
    Trigger,
    /// Close it.
    Resolve,
}

impl PagerDutyAction {
    /// The Events API's `event_action`, also the state kept once it was sent.
    pub fn as_str(self) -> &'static str {
        match self {
            PagerDutyAction::Trigger => "trigger",
            PagerDutyAction::Resolve => "resolve",
        }
    }
}

impl PagerDuty {
    /// The Events API at `url` with a routing key per rule name.
    pub fn new(http: reqwest::Client, url: &str, keys: HashMap<String, SecretString>) -> Self {
        Self {
            http,
            url: url.to_owned(),
            keys,
        }
    }

    /// No rule pages.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Sends `action` for the incident `view` with the routing key of `rule`.
    pub async fn send(
        &self,
        rule: &str,
        action: PagerDutyAction,
        view: &IncidentView,
    ) -> Result<(), Failure> {
        let key = self.keys.get(rule).ok_or_else(|| {
            Failure::Permanent(format!(
                "no routing rule `{rule}` with a PagerDuty routing key"
            ))
        })?;
        let mut event = json!({
            "routing_key": key.expose_secret(),
            "event_action": action.as_str(),
            "dedup_key": view.id.to_string(),
        });
        if action == PagerDutyAction::Trigger {
            let summary: String = format!(
                "[{}] {}{}",
                view.severity.to_uppercase(),
                view.title,
                view.service
                    .as_deref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default()
            )
            .chars()
            .take(1024)
            .collect();
            event["payload"] = json!({
                "summary": summary,
                "source": view.service.clone().unwrap_or_else(|| view.source.clone()),
                "severity": severity(&view.severity),
                "component": view.service,
                "group": view.environment,
                "class": view.source,
                "custom_details": {
                    "alerts": view.alert_count,
                    "affected_services": view.affected_services,
                    "likely_cause": view.likely_cause,
                },
            });
            event["links"] = json!([{"href": view.url, "text": "Incident in Aurora"}]);
            event["client"] = json!("Aurora");
            event["client_url"] = json!(view.url);
        }
        let answer = send(self.http.post(&self.url).json(&event)).await?;
        check_status(&answer)
    }
}

/// PagerDuty's four severities.
fn severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "high" => "error",
        "medium" | "unknown" => "warning",
        _ => "info",
    }
}
