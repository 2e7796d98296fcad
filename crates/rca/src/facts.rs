//! What an alert itself establishes — what fired, where, since when, how severe — in sentences
//! that restate its fields and so are never a guess.

use chrono::{DateTime, TimeDelta, Utc};

use crate::AlertContext;

/// Labels named in the "where" sentence, at most this many.
const LABELS_SHOWN: usize = 8;

/// The vendor's name people know, for a stored source string.
pub(crate) fn vendor_name(source: &str) -> &str {
    match source {
        "grafana" => "Grafana",
        "alertmanager" => "Prometheus Alertmanager",
        "datadog" => "Datadog",
        "netdata" => "Netdata",
        "pagerduty" => "PagerDuty",
        "splunk" => "Splunk",
        "jenkins" => "Jenkins",
        "cloudbees" => "CloudBees CI",
        "dynatrace" => "Dynatrace",
        "bigpanda" => "BigPanda",
        other => other,
    }
}

/// "YYYY-MM-DD HH:MM:SS UTC".
pub(crate) fn utc(at: DateTime<Utc>) -> String {
    format!("{} UTC", at.format("%Y-%m-%d %H:%M:%S"))
}

/// "3 min", "2 h 5 min", "4 days"; `None` for a negative span (clock skew).
pub(crate) fn humanize(elapsed: TimeDelta) -> Option<String> {
    if elapsed.num_seconds() < 0 {
        return None;
    }
    let minutes = elapsed.num_minutes();
    Some(match minutes {
        0 => format!("{} s", elapsed.num_seconds()),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    })
}

/// The alert's facts as observations, in the order a person asks: what, where, since when.
pub(crate) fn describe(alert: &AlertContext, now: DateTime<Utc>) -> Vec<String> {
    let vendor = vendor_name(&alert.source_type);
    let what = format!(
        "{vendor} reported \"{}\" as {} with severity {}{}.",
        alert.title,
        alert.status,
        alert.severity,
        if alert.severity == "unknown" {
            " (the alert carries no severity Aurora recognises)"
        } else {
            ""
        },
    );
    let mut place = match (&alert.service, &alert.environment) {
        (Some(service), Some(env)) => {
            format!("It concerns service `{service}` in environment `{env}`.")
        }
        (Some(service), None) => {
            format!("It concerns service `{service}`; the alert names no environment.")
        }
        (None, Some(env)) => format!("It names environment `{env}` but no service."),
        (None, None) => "The alert names neither a service nor an environment.".to_owned(),
    };
    if !alert.labels.is_empty() {
        let mut pairs: Vec<String> = alert
            .labels
            .iter()
            .take(LABELS_SHOWN)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if alert.labels.len() > LABELS_SHOWN {
            pairs.push(format!("and {} more", alert.labels.len() - LABELS_SHOWN));
        }
        place.push_str(&format!(" Its labels: {}.", pairs.join(", ")));
    }
    let since = utc(alert.started_at);
    let when = match humanize(now - alert.started_at) {
        Some(age) => format!("It has been firing since {since}, {age} ago."),
        None => format!("Its start time is {since}."),
    };
    vec![what, place, when]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    pub(crate) fn alert() -> AlertContext {
        AlertContext {
            id: 1,
            source_type: "grafana".into(),
            title: "High CPU usage".into(),
            severity: "critical".into(),
            status: "firing".into(),
            service: Some("checkout".into()),
            environment: Some("production".into()),
            labels: [
                ("alertname".to_owned(), "High CPU usage".to_owned()),
                ("zone".to_owned(), "eu-1".to_owned()),
            ]
            .into(),
            started_at: Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
            url: None,
            description: None,
            runbook_url: None,
        }
    }

    #[test]
    fn the_facts_restate_the_alert() {
        let facts = describe(
            &alert(),
            Utc.with_ymd_and_hms(2026, 11, 27, 10, 12, 0).unwrap(),
        );
        assert_eq!(
            facts[0],
            "Grafana reported \"High CPU usage\" as firing with severity critical."
        );
        assert!(facts[1].contains("service `checkout` in environment `production`"));
        assert!(facts[1].contains("zone=eu-1"));
        assert_eq!(
            facts[2],
            "It has been firing since 2026-11-27 10:00:00 UTC, 12 min ago."
        );
    }

    #[test]
    fn missing_facts_are_said_to_be_missing() {
        let mut bare = alert();
        bare.service = None;
        bare.environment = None;
        bare.severity = "unknown".into();
        let facts = describe(&bare, Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
        assert!(facts[0].contains("carries no severity"));
        assert!(facts[1].starts_with("The alert names neither a service nor an environment."));
        assert!(facts[2].ends_with("2 days ago."));
    }
}
