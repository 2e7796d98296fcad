//! Heartbeats (a dead-man's switch): an integration can expect an alert that always fires —
//! Alertmanager's `Watchdog`, or any alert name — at least every so often. Its notifications
//! are beats, not alerts: they are never stored as alerts and open nothing; each only tells
//! when the integration was last heard from. The correlator's sweep raises an alert of its own
//! when the beats stop, and resolves it when they resume.

use aurora_domain::{
    AlertBatch, AlertStatus, Fingerprint, NormalizedAlert, Severity, SourceType, UserId,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The shortest interval a heartbeat may have: the sweep checks every two seconds.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// A heartbeat an integration is expected to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Its id.
    pub id: Uuid,
    /// The vendor whose integration sends it (of the heartbeat's user: an integration
    /// replaced by a new one of the same vendor keeps it).
    pub source_type: SourceType,
    /// The alert that beats: its title, or its `alertname` label.
    pub alert_name: String,
}

impl Heartbeat {
    /// Whether `alert` (of the heartbeat's user) is a beat of this heartbeat.
    pub fn beats(&self, alert: &NormalizedAlert) -> bool {
        alert.source_type == self.source_type
            && (alert.title == self.alert_name
                || alert.labels.get("alertname") == Some(&self.alert_name))
    }

    /// The fingerprint of the alert Aurora raises while the beats are missing.
    pub fn missing_fingerprint(&self) -> String {
        format!("aurora-heartbeat-{}", self.id)
    }
}

/// Aurora's own alert for a heartbeat whose beats are missing: firing while they are, resolved
/// when they resume. Sent through the bus as a delivery of the heartbeat's vendor, so it is
/// stored, correlated and analysed like any alert, exactly once.
pub struct MissingBeats<'a> {
    /// The heartbeat.
    pub heartbeat: &'a Heartbeat,
    /// Its owner.
    pub user: &'a UserId,
    /// The longest gap allowed.
    pub interval: std::time::Duration,
    /// Since when the beats are missing.
    pub since: DateTime<Utc>,
}

impl MissingBeats<'_> {
    /// The delivery that raises the alert (`Firing`) or resolves it (`Resolved`), at `now`.
    /// Its id names the gap, so a sweep that runs twice sends it once.
    pub fn delivery(&self, status: AlertStatus, now: DateTime<Utc>) -> AlertBatch {
        let heartbeat = self.heartbeat;
        let every = humantime::format_duration(self.interval);
        let alert = NormalizedAlert {
            source_type: heartbeat.source_type,
            fingerprint: Fingerprint::parse(heartbeat.missing_fingerprint())
                .expect("a uuid makes a valid fingerprint"),
            status,
            severity: Severity::Critical,
            title: format!(
                "No heartbeat from {} ({}) for {every}",
                heartbeat.source_type.display_name(),
                heartbeat.alert_name
            ),
            service: None,
            environment: None,
            started_at: self.since,
            labels: [("aurora_heartbeat".to_owned(), heartbeat.alert_name.clone())].into(),
            url: None,
            description: None,
            runbook_url: None,
        };
        let step = match status {
            AlertStatus::Firing => "missing",
            AlertStatus::Resolved => "resumed",
        };
        AlertBatch {
            delivery_id: format!(
                "heartbeat:{}:{step}:{}",
                heartbeat.id,
                self.since.timestamp_micros()
            ),
            user_id: self.user.clone(),
            // Aurora's own delivery, through no integration.
            integration_id: Uuid::nil(),
            source_type: heartbeat.source_type,
            received_at: now,
            raw_payload: serde_json::value::to_raw_value(&serde_json::json!({
                "aurora_heartbeat": {
                    "id": heartbeat.id,
                    "alert_name": heartbeat.alert_name,
                    "interval": every.to_string(),
                    "missing_since": self.since,
                    "status": status,
                }
            }))
            .expect("JSON"),
            alerts: vec![alert],
            deployment: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_is_the_named_alert_from_its_vendor() {
        let heartbeat = Heartbeat {
            id: Uuid::new_v4(),
            source_type: SourceType::Alertmanager,
            alert_name: "Watchdog".into(),
        };
        let mut alert = NormalizedAlert {
            source_type: SourceType::Alertmanager,
            fingerprint: Fingerprint::parse("w").unwrap(),
            status: AlertStatus::Firing,
            severity: Severity::Unknown,
            title: "Watchdog".into(),
            service: None,
            environment: None,
            started_at: chrono::Utc::now(),
            labels: Default::default(),
            url: None,
            description: None,
            runbook_url: None,
        };
        assert!(heartbeat.beats(&alert));
        alert.source_type = SourceType::Grafana;
        assert!(!heartbeat.beats(&alert), "another vendor's");
        alert.source_type = SourceType::Alertmanager;
        alert.title = "An alert that is always firing".into();
        assert!(!heartbeat.beats(&alert));
        alert.labels.insert("alertname".into(), "Watchdog".into());
        assert!(heartbeat.beats(&alert));
    }

    #[test]
    fn the_missing_alert_names_the_gap_and_is_sent_once_per_gap() {
        let heartbeat = Heartbeat {
            id: Uuid::new_v4(),
            source_type: SourceType::Alertmanager,
            alert_name: "Watchdog".into(),
        };
        let user = UserId::parse("u1").unwrap();
        let since = chrono::Utc::now();
        let missing = MissingBeats {
            heartbeat: &heartbeat,
            user: &user,
            interval: std::time::Duration::from_secs(300),
            since,
        };
        let raised = missing.delivery(AlertStatus::Firing, since);
        let again = missing.delivery(AlertStatus::Firing, since + chrono::TimeDelta::seconds(5));
        assert_eq!(raised.delivery_id, again.delivery_id);
        let alert = &raised.alerts[0];
        assert_eq!(
            alert.title,
            "No heartbeat from Prometheus Alertmanager (Watchdog) for 5m"
        );
        assert!(!heartbeat.beats(alert), "not a beat itself");
        let resolved = missing.delivery(AlertStatus::Resolved, since);
        assert_ne!(resolved.delivery_id, raised.delivery_id);
        assert_eq!(resolved.alerts[0].fingerprint, alert.fingerprint);
    }
}
