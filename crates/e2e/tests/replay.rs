//! Replaying correlation rules on a storm recorded through the running stack: the settings
//! that made it change nothing; a lower threshold reports the merges it would make.

use std::time::Duration;

use aurora_correlation::Rules;
use aurora_correlation::replay::{History, replay};
use aurora_domain::{SourceType, UserId};
use aurora_e2e::http::get_json;
use aurora_e2e::{Stack, default_correlation, eventually};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_the_merges_a_lower_threshold_would_make() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    // A storm: four services fail at once, three alerts each, with alike titles; no
    // dependency links them, so each is an incident of its own.
    let services = ["checkout", "payments", "cart", "search"];
    for round in 0..3 {
        for service in services {
            let title = format!("{service} 5xx error rate high");
            stack
                .fire(
                    &token,
                    &format!("{service}-{round}"),
                    &title,
                    service,
                    "critical",
                )
                .await;
        }
    }
    let url = format!("{}/api/incidents", stack.api_url);
    eventually("four incidents of three alerts", DEADLINE, || async {
        let (_, page) = get_json(&url, Some(&alice.api_token)).await;
        let incidents = page["incidents"].as_array()?;
        (incidents.len() == 4 && incidents.iter().all(|i| i["correlated_alert_count"] == 2))
            .then_some(())
    })
    .await;

    let user = UserId::parse(alice.id.clone()).unwrap();
    let mut conn = stack.connections.pool.get().await.unwrap();
    let hour_ago = aurora_db::time::now() - chrono::TimeDelta::hours(1);
    let recording = aurora_db::replay::recording(&mut conn, &user, hour_ago, hour_ago)
        .await
        .unwrap();
    assert_eq!(recording.alerts.len(), 12);
    let history = History {
        user: &user,
        alerts: &recording.alerts,
        incident_titles: &recording.incident_titles,
        silences: &recording.silences,
        deployments: &recording.deployments,
        until: chrono::Utc::now(),
    };

    // The settings that made the incidents make them again.
    let same = replay(&Rules::new(default_correlation()), &history);
    assert_eq!(
        (same.incidents_before, same.incidents_after),
        (4, 4),
        "{same:?}"
    );
    assert!(
        same.merges.is_empty() && same.splits.is_empty() && same.moved.is_empty(),
        "{same:?}"
    );
    assert_eq!(same.compression_before, Some(3.0));

    // A lower threshold: the alike titles at the same moment are enough.
    let mut lower = default_correlation();
    lower.threshold = 0.3;
    let report = replay(&Rules::new(lower), &history);
    assert!(report.incidents_after < 4, "{report:?}");
    assert!(!report.merges.is_empty(), "{report:?}");
    let merged: usize = report.merges.iter().map(|m| m.incidents.len()).sum();
    assert!(merged >= 2);
    for merge in &report.merges {
        for incident in &merge.incidents {
            assert!(
                incident.title.ends_with("5xx error rate high"),
                "{incident:?}"
            );
        }
    }
    assert!(report.compression_after > report.compression_before);
    assert!(!report.moved.is_empty());
    // Nothing was written: the incidents are as they were.
    let (_, page) = get_json(&url, Some(&alice.api_token)).await;
    assert_eq!(page["incidents"].as_array().unwrap().len(), 4);
}
