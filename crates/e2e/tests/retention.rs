//! Retention through the running stack: of incidents, alerts and raw bodies made by the
//! pipeline and then aged, only what the settings say is due is deleted; open incidents and
//! their alerts stay whatever their age, and a dry run deletes nothing.

use std::time::Duration;

use aurora_db::retention::{self, Counts, Policy};
use aurora_domain::SourceType;
use aurora_e2e::http::get_json;
use aurora_e2e::{Stack, eventually};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_what_is_due() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    // Three incidents: `old` and `recent` resolve, `open` keeps firing (one of its alerts
    // resolved long ago).
    for (fingerprint, title, service) in [
        ("old", "OldOutage", "billing"),
        ("recent", "RecentOutage", "search"),
        ("open", "OpenOutage", "checkout"),
        ("open-2", "OpenOutageToo", "checkout"),
    ] {
        stack
            .fire(&token, fingerprint, title, service, "high")
            .await;
    }
    stack
        .resolve(&token, "old", "OldOutage", "billing", "high")
        .await;
    stack
        .resolve(&token, "recent", "RecentOutage", "search", "high")
        .await;
    stack
        .resolve(&token, "open-2", "OpenOutageToo", "checkout", "high")
        .await;
    let url = format!("{}/api/incidents?include_merged=true", stack.api_url);
    eventually("two resolved incidents, analysed", DEADLINE, || async {
        let (_, page) = get_json(&url, Some(&alice.api_token)).await;
        let incidents = page["incidents"].as_array()?;
        let resolved = incidents
            .iter()
            .filter(|i| i["status"] == "resolved")
            .count();
        let analysed = incidents.iter().all(|i| i["aurora_status"] == "complete");
        (incidents.len() == 3 && resolved == 2 && analysed).then_some(())
    })
    .await;

    // Age them: `old` resolved 400 days ago, its alert too; the open incident's resolved
    // alert 400 days ago as well; every raw body 40 days ago.
    let mut conn = stack.connections.pool.get().await.unwrap();
    conn.batch_execute(
        "UPDATE incidents SET resolved_at = now() - interval '400 days' \
             WHERE alert_title = 'OldOutage'; \
         UPDATE incidents SET created_at = now() - interval '400 days' \
             WHERE alert_title = 'OpenOutage'; \
         UPDATE alerts SET resolved_at = now() - interval '400 days' \
             WHERE fingerprint IN ('old', 'open-2'); \
         UPDATE raw_payloads SET received_at = now() - interval '40 days'; \
         UPDATE noise_counts SET hour = hour - interval '400 days' WHERE service = 'billing'",
    )
    .await
    .unwrap();
    let settings = aurora_e2e::settings_with("").retention;
    let policy = Policy::at(&settings, aurora_db::time::now());
    let due = retention::due(&mut conn, &policy).await.unwrap();
    let payloads = count(&mut conn, "raw_payloads").await;
    assert_eq!(
        due,
        Counts {
            incidents: 1,
            alerts: 1,
            raw_payloads: payloads,
            noise_counts: count(&mut conn, "noise_counts WHERE service = 'billing'").await,
        },
        "the old incident, its alert (not the open incident's), every body"
    );
    assert!(payloads >= 4 && due.noise_counts >= 1, "{due:?}");
    assert_eq!(
        count(&mut conn, "incidents").await,
        3,
        "a dry run deletes nothing"
    );

    // Small batches, until nothing is due.
    let deleted = retention::run(&mut conn, &Policy { batch: 1, ..policy })
        .await
        .unwrap();
    assert_eq!(deleted, due);
    assert_eq!(
        retention::due(&mut conn, &policy).await.unwrap(),
        Counts::default()
    );
    let (_, page) = get_json(&url, Some(&alice.api_token)).await;
    let mut titles: Vec<&str> = page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alert_title"].as_str().unwrap())
        .collect();
    titles.sort();
    assert_eq!(titles, ["OpenOutage", "RecentOutage"]);
    assert_eq!(
        count(&mut conn, "alerts WHERE fingerprint = 'old'").await,
        0,
        "the old incident's alert went"
    );
    assert_eq!(
        count(&mut conn, "alerts WHERE fingerprint = 'open-2'").await,
        1,
        "an open incident keeps its alerts"
    );
    assert_eq!(
        count(&mut conn, "alerts WHERE raw_payload_id IS NOT NULL").await,
        0,
        "alerts stay without their bodies"
    );
    assert_eq!(
        count(&mut conn, "incident_thoughts t WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id)").await,
        0
    );
}

async fn count(conn: &mut aurora_db::AsyncPgConnection, from: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS count FROM {from}"))
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .count
}
