//! Heartbeats through the running stack: an integration's always-firing alert is heard, not
//! stored; when it stops, Aurora opens an incident saying so, and resolves it when it resumes.

use std::time::Duration;

use aurora_db::heartbeats;
use aurora_domain::{SourceType, UserId};
use aurora_e2e::http::get_json;
use aurora_e2e::{Stack, eventually};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

const DEADLINE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_heartbeat_opens_an_incident_and_a_resumed_one_resolves_it() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    let user = UserId::parse(alice.id.clone()).unwrap();
    let mut conn = stack.connections.pool.get().await.unwrap();
    let heartbeat = heartbeats::set(&mut conn, &user, SourceType::Alertmanager, "Watchdog", 5)
        .await
        .unwrap();
    drop(conn);

    // A beat: heard, and nothing else.
    stack
        .fire(&token, "watchdog", "Watchdog", "monitoring", "none")
        .await;
    let heard = eventually("the beat heard", DEADLINE, || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        use aurora_db::schema::heartbeats as table;
        table::table
            .find(heartbeat.id)
            .select(table::last_seen_at)
            .first::<Option<chrono::NaiveDateTime>>(&mut conn)
            .await
            .unwrap()
    })
    .await;
    let incidents_url = format!("{}/api/incidents?include_merged=true", stack.api_url);
    let list = || async {
        let (_, page) = get_json(&incidents_url, Some(&alice.api_token)).await;
        page["incidents"].as_array().unwrap().clone()
    };

    // Silence past the interval: Aurora says so.
    let title = "No heartbeat from Prometheus Alertmanager (Watchdog) for 5s";
    let incident = eventually("the missed-heartbeat incident", DEADLINE, || async {
        list().await.into_iter().find(|i| i["alert_title"] == title)
    })
    .await;
    assert_eq!(incident["severity"], "critical");
    assert_ne!(incident["status"], "resolved");
    let opened_after =
        chrono::DateTime::parse_from_rfc3339(incident["started_at"].as_str().unwrap())
            .unwrap()
            .naive_utc();
    assert!(
        opened_after >= heard + chrono::TimeDelta::seconds(5),
        "raised only once overdue: beat {heard}, missing since {opened_after}"
    );

    // The beats resume: the incident resolves.
    stack
        .fire(&token, "watchdog", "Watchdog", "monitoring", "none")
        .await;
    let id = incident["id"].as_str().unwrap().to_owned();
    eventually("the incident resolved", DEADLINE, || async {
        let (_, incident) = get_json(
            &format!("{}/api/incidents/{id}", stack.api_url),
            Some(&alice.api_token),
        )
        .await;
        (incident["status"] == "resolved").then_some(())
    })
    .await;
    assert_eq!(list().await.len(), 1, "the beats themselves opened nothing");
    let mut conn = stack.connections.pool.get().await.unwrap();
    use aurora_db::schema::alerts;
    let stored: i64 = alerts::table
        .filter(alerts::fingerprint.eq("watchdog"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a beat is not stored as an alert");
}
