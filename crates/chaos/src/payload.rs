//! Webhook bodies and headers as four vendors send them: Grafana (signed, with a timestamp),
//! Prometheus Alertmanager (token only), PagerDuty (signed, with a delivery id) and Datadog;
//! and the same alerts as Prometheus posts them to Alertmanager itself.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// The vendors the load comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Grafana unified alerting; a webhook carries a group of alerts.
    Grafana,
    /// Prometheus Alertmanager; a webhook carries a group of alerts.
    Alertmanager,
    /// PagerDuty V3 incident events, one per webhook.
    Pagerduty,
    /// Datadog monitor notifications, one per webhook.
    Datadog,
}

impl Vendor {
    /// Every vendor, in the order groups are dealt out.
    pub const ALL: [Vendor; 4] = [
        Vendor::Grafana,
        Vendor::Alertmanager,
        Vendor::Pagerduty,
        Vendor::Datadog,
    ];

    /// Aurora's source name.
    pub fn source(self) -> &'static str {
        match self {
            Vendor::Grafana => "grafana",
            Vendor::Alertmanager => "alertmanager",
            Vendor::Pagerduty => "pagerduty",
            Vendor::Datadog => "datadog",
        }
    }

    /// The ingress route.
    pub fn route(self) -> &'static str {
        match self {
            Vendor::Grafana => "/api/grafana/alerts",
            Vendor::Alertmanager => "/api/alertmanager/alerts",
            Vendor::Pagerduty => "/api/pagerduty/webhook",
            Vendor::Datadog => "/api/datadog/webhook",
        }
    }

    /// Whether its webhooks are signed (the integration then gets a signing secret).
    pub fn signs(self) -> bool {
        matches!(self, Vendor::Grafana | Vendor::Pagerduty)
    }

    /// The most alerts one of its webhooks carries.
    pub fn max_alerts(self) -> usize {
        match self {
            Vendor::Grafana | Vendor::Alertmanager => 4,
            Vendor::Pagerduty | Vendor::Datadog => 1,
        }
    }
}

/// One alert in a webhook.
pub struct AlertSpec<'a> {
    /// The vendor's key for the alert.
    pub fingerprint: &'a str,
    /// The service it is about.
    pub service: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Firing, or resolved.
    pub firing: bool,
}

/// A webhook ready to send: body and headers.
pub struct Request {
    /// The body.
    pub body: Vec<u8>,
    /// Headers besides the bearer token and content type.
    pub headers: Vec<(&'static str, String)>,
}

/// Builds vendor's webhook for `alerts`; `delivery_id` is the vendor's own delivery id (kept
/// across retries, as PagerDuty does), `started` when the alerts began.
pub fn build(
    vendor: Vendor,
    alerts: &[AlertSpec<'_>],
    delivery_id: &str,
    started: DateTime<Utc>,
    secret: Option<&str>,
) -> Request {
    let body = match vendor {
        Vendor::Grafana | Vendor::Alertmanager => group_body(vendor, alerts, started),
        Vendor::Pagerduty => pagerduty_body(&alerts[0], delivery_id, started),
        Vendor::Datadog => datadog_body(&alerts[0], delivery_id, started),
    };
    let body = serde_json::to_vec(&body).expect("JSON values serialize");
    let mut headers = Vec::new();
    match (vendor, secret) {
        (Vendor::Grafana, Some(secret)) => {
            let timestamp = Utc::now().timestamp().to_string();
            let signed = [timestamp.as_bytes(), b":", &body].concat();
            headers.push(("X-Grafana-Alerting-Signature", hmac_hex(secret, &signed)));
            headers.push(("X-Grafana-Alerting-Timestamp", timestamp));
        }
        (Vendor::Pagerduty, Some(secret)) => {
            headers.push((
                "X-PagerDuty-Signature",
                format!("v1={}", hmac_hex(secret, &body)),
            ));
            headers.push(("X-Webhook-Id", delivery_id.to_owned()));
        }
        _ => {}
    }
    Request { body, headers }
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn status_word(firing: bool) -> &'static str {
    if firing { "firing" } else { "resolved" }
}

/// One alert of a Grafana or Alertmanager group webhook.
fn group_alert(alert: &AlertSpec<'_>, started: DateTime<Utc>) -> Value {
    json!({
        "status": status_word(alert.firing),
        "labels": {
            "alertname": alert.title,
            "service": alert.service,
            "environment": "production",
            "severity": "critical",
        },
        "annotations": { "summary": alert.title },
        "startsAt": started.to_rfc3339(),
        "endsAt": if alert.firing { "0001-01-01T00:00:00Z".to_owned() } else { Utc::now().to_rfc3339() },
        "generatorURL": "http://prometheus.chaos.example/graph",
        "fingerprint": alert.fingerprint,
    })
}

/// The body Prometheus posts to Alertmanager's own API (`POST /api/v2/alerts`) for `alerts`:
/// the same labels as the webhook Alertmanager would send on, keyed by their label set
/// (Alertmanager has no fingerprint field to take); a resolve is an `endsAt` in the past.
pub fn alertmanager_api_body(alerts: &[AlertSpec<'_>], started: DateTime<Utc>) -> Vec<u8> {
    let posted: Vec<Value> = alerts
        .iter()
        .map(|alert| {
            let mut entry = group_alert(alert, started);
            let fields = entry.as_object_mut().expect("an alert is an object");
            fields.remove("status");
            fields.remove("fingerprint");
            if alert.firing {
                // Alertmanager sets it itself (now + resolve_timeout) for a firing alert.
                fields.remove("endsAt");
            }
            entry
        })
        .collect();
    serde_json::to_vec(&posted).expect("JSON values serialize")
}

/// Grafana's and Alertmanager's group webhook (Grafana adds a few fields of its own).
fn group_body(vendor: Vendor, alerts: &[AlertSpec<'_>], started: DateTime<Utc>) -> Value {
    let entries: Vec<Value> = alerts
        .iter()
        .map(|alert| group_alert(alert, started))
        .collect();
    let firing = alerts.iter().any(|alert| alert.firing);
    let mut body = json!({
        "version": "4",
        "receiver": "aurora",
        "status": status_word(firing),
        "groupKey": format!("{{}}:{{service=\"{}\"}}", alerts[0].service),
        "groupLabels": { "service": alerts[0].service },
        "commonLabels": { "service": alerts[0].service },
        "commonAnnotations": {},
        "externalURL": "http://alerts.chaos.example",
        "truncatedAlerts": 0,
        "alerts": entries,
    });
    if vendor == Vendor::Grafana {
        body["orgId"] = json!(1);
        body["title"] = json!(format!(
            "[{}] {}",
            status_word(firing).to_uppercase(),
            alerts[0].title
        ));
    }
    body
}

fn pagerduty_body(alert: &AlertSpec<'_>, delivery_id: &str, started: DateTime<Utc>) -> Value {
    let (event_type, status) = if alert.firing {
        ("incident.triggered", "triggered")
    } else {
        ("incident.resolved", "resolved")
    };
    json!({ "event": {
        "id": delivery_id,
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": Utc::now().to_rfc3339(),
        "data": {
            "id": alert.fingerprint,
            "type": "incident",
            "status": status,
            "title": alert.title,
            "created_at": started.to_rfc3339(),
            "service": { "id": "PCHAOS", "summary": alert.service, "type": "service_reference" },
            "urgency": "high",
            "priority": { "id": "PPRIO2", "summary": "P2", "type": "priority_reference" },
        }
    }})
}

fn datadog_body(alert: &AlertSpec<'_>, delivery_id: &str, started: DateTime<Utc>) -> Value {
    let transition = if alert.firing {
        "Triggered"
    } else {
        "Recovered"
    };
    let scope = format!("service:{},env:production", alert.service);
    json!({
        "id": delivery_id,
        "title": format!("[P2] [{transition} on {{{scope}}}] {}", alert.title),
        "body": "",
        "date": started.timestamp_millis().to_string(),
        "last_updated": Utc::now().timestamp_millis().to_string(),
        "event_type": "metric_alert_monitor",
        "org": { "id": "1000", "name": "Chaos" },
        "alert_id": alert.fingerprint,
        "alert_transition": transition,
        "alert_type": if alert.firing { "error" } else { "success" },
        "alert_priority": "P2",
        "alert_scope": scope,
        "tags": scope,
    })
}
