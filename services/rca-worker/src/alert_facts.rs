//! What the opening alert establishes: what fired, where, since when, how severe.
//!
//! Every sentence restates a field of the stored alert, so nothing here is a guess. The
//! ranked hypotheses of a real analysis build on these facts.

use aurora_db::alerts::Alert;
use aurora_db::time;
use aurora_domain::SourceType;
use chrono::{DateTime, Utc};

/// Labels shown in the "where" thought, at most this many.
const LABELS_SHOWN: usize = 8;

/// The facts of one alert, as thoughts and as a Markdown summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFacts {
    /// Observations in the order a person would ask: what, where, since when.
    pub thoughts: Vec<String>,
    /// A short Markdown summary.
    pub summary: String,
}

/// The vendor's display name for a stored source string.
fn vendor_name(source: &str) -> &str {
    match source.parse::<SourceType>() {
        Ok(known) => known.display_name(),
        Err(_) => source,
    }
}

/// States the facts of `alert` as of `now`.
pub fn describe(alert: &Alert, now: DateTime<Utc>) -> AlertFacts {
    let vendor = vendor_name(&alert.source_type);
    let started = time::to_utc(alert.started_at);
    let since = format!("{} UTC", started.format("%Y-%m-%d %H:%M:%S"));
    let age = humanize(now.signed_duration_since(started));

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
    let place = match (&alert.service, &alert.environment) {
        (Some(service), Some(env)) => {
            format!("It concerns service `{service}` in environment `{env}`.")
        }
        (Some(service), None) => {
            format!("It concerns service `{service}`; the alert names no environment.")
        }
        (None, Some(env)) => format!("It names environment `{env}` but no service."),
        (None, None) => "The alert names neither a service nor an environment.".to_owned(),
    };
    let labels = label_list(&alert.labels);
    let place = match &labels {
        Some(labels) => format!("{place} Its labels: {labels}."),
        None => place,
    };
    let when = match age {
        Some(age) => format!("It has been firing since {since}, {age} ago."),
        None => format!("Its start time is {since}."),
    };
    let repeats = (alert.occurrence_count > 1).then(|| {
        format!(
            "{vendor} has sent it {} times so far.",
            alert.occurrence_count
        )
    });

    let mut summary = format!(
        "**{}**: {} alert from {vendor}, firing since {since}.\n\n",
        alert.title, alert.severity
    );
    summary.push_str(&format!("- Where: {place}\n"));
    if let Some(url) = &alert.url {
        summary.push_str(&format!("- Source: <{url}>\n"));
    }
    summary.push_str(
        "\nAurora has not determined a root cause: this summary states only what the alert reports.",
    );

    let thoughts = [Some(what), Some(place), Some(when), repeats]
        .into_iter()
        .flatten()
        .collect();
    AlertFacts { thoughts, summary }
}

/// `key=value` pairs, sorted, at most [`LABELS_SHOWN`], or `None` when there are none.
fn label_list(labels: &serde_json::Value) -> Option<String> {
    let map = labels.as_object().filter(|map| !map.is_empty())?;
    let mut pairs: Vec<String> = map
        .iter()
        .take(LABELS_SHOWN)
        .map(|(key, value)| {
            format!(
                "{key}={}",
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            )
        })
        .collect();
    if map.len() > LABELS_SHOWN {
        pairs.push(format!("and {} more", map.len() - LABELS_SHOWN));
    }
    Some(pairs.join(", "))
}

/// "3 min", "2 h 5 min", "4 days"; `None` for a start in the future (clock skew).
fn humanize(elapsed: chrono::TimeDelta) -> Option<String> {
    let minutes = elapsed.num_minutes();
    if elapsed.num_seconds() < 0 {
        return None;
    }
    Some(match minutes {
        0 => format!("{} s", elapsed.num_seconds()),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert() -> Alert {
        let started = Utc
            .with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
            .unwrap()
            .naive_utc();
        Alert {
            id: 1,
            user_id: "u".into(),
            source_type: "grafana".into(),
            fingerprint: "f".into(),
            status: "firing".into(),
            severity: "critical".into(),
            title: "High CPU usage".into(),
            service: Some("checkout".into()),
            environment: Some("production".into()),
            labels: serde_json::json!({"alertname": "High CPU usage", "zone": "eu-1"}),
            url: Some("https://grafana.example/alert".into()),
            started_at: started,
            received_at: started,
            last_seen_at: started,
            resolved_at: None,
            occurrence_count: 1,
            raw_payload: serde_json::json!({}),
            incident_id: None,
        }
    }

    #[test]
    fn the_facts_restate_the_alert() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 12, 0).unwrap();
        let facts = describe(&alert(), now);
        assert_eq!(
            facts.thoughts[0],
            "Grafana reported \"High CPU usage\" as firing with severity critical."
        );
        assert!(facts.thoughts[1].contains("service `checkout` in environment `production`"));
        assert!(facts.thoughts[1].contains("zone=eu-1"));
        assert_eq!(
            facts.thoughts[2],
            "It has been firing since 2026-11-27 10:00:00 UTC, 12 min ago."
        );
        assert_eq!(facts.thoughts.len(), 3);
        assert!(facts.summary.contains("not determined a root cause"));
    }

    #[test]
    fn missing_facts_are_said_to_be_missing() {
        let mut bare = alert();
        bare.service = None;
        bare.environment = None;
        bare.severity = "unknown".into();
        bare.occurrence_count = 3;
        let facts = describe(&bare, Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap());
        assert!(facts.thoughts[0].contains("carries no severity"));
        assert!(
            facts.thoughts[1].starts_with("The alert names neither a service nor an environment.")
        );
        assert!(facts.thoughts[2].ends_with("2 days ago."));
        assert_eq!(facts.thoughts[3], "Grafana has sent it 3 times so far.");
    }
}
