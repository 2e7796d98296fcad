//! Silences through the running stack: an alert a silence matches is stored and counted but
//! opens nothing; when the silence is expired, the alert still firing opens its incident (or,
//! with `on_expiry = drop`, stays quiet); bad silences are refused with what is wrong.

use std::time::Duration;

use aurora_domain::SourceType;
use aurora_e2e::http::{get_json, post_webhook};
use aurora_e2e::{Stack, TestUser, eventually};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

async fn post(stack: &Stack, user: &TestUser, path: &str, body: Value) -> (StatusCode, Value) {
    post_webhook(
        &format!("{}{path}", stack.api_url),
        Some(&user.api_token),
        body.to_string().as_bytes(),
        &[],
    )
    .await
}

/// The stored alert of `fingerprint`: (its incident, the silence that kept it quiet).
async fn stored(
    stack: &Stack,
    fingerprint: &str,
) -> Option<(Option<uuid::Uuid>, Option<uuid::Uuid>)> {
    use aurora_db::schema::alerts;
    let mut conn = stack.connections.pool.get().await.unwrap();
    alerts::table
        .filter(alerts::fingerprint.eq(fingerprint))
        .select((alerts::incident_id, alerts::suppressed_by))
        .first(&mut conn)
        .await
        .optional()
        .unwrap()
}

async fn incident_titles(stack: &Stack, user: &TestUser) -> Vec<String> {
    let (_, page) = get_json(
        &format!("{}/api/incidents", stack.api_url),
        Some(&user.api_token),
    )
    .await;
    page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alert_title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_keeps_alerts_quiet_and_its_expiry_opens_what_still_fires() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    let (status, silence) = post(
        &stack,
        &alice,
        "/api/silences",
        json!({
            "matchers": [{"field": "service", "op": "=", "value": "checkout"},
                         {"field": "title", "op": "=~", "value": "Checkout.*"}],
            "duration": "1h",
            "comment": "database upgrade, CHG-1234",
            "created_by": "alice@example.com",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["on_expiry"], "open");
    assert_eq!(silence["created_by"], "alice@example.com");
    let id = silence["id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/silences/{id}", stack.api_url);

    // Received, stored and counted; no incident.
    stack
        .fire(&token, "quiet", "CheckoutErrors", "checkout", "critical")
        .await;
    stack
        .fire(&token, "quiet", "CheckoutErrors", "checkout", "critical")
        .await;
    stack
        .fire(&token, "loud", "SearchDown", "search", "critical")
        .await;
    eventually("two notifications kept quiet", DEADLINE, || async {
        let (_, silence) = get_json(&url, Some(&alice.api_token)).await;
        (silence["suppressed_count"] == 2).then_some(())
    })
    .await;
    let (incident, kept_by) = stored(&stack, "quiet").await.expect("stored");
    assert_eq!(incident, None);
    assert_eq!(kept_by.map(|k| k.to_string()), Some(id.clone()));
    eventually("the search incident", DEADLINE, || async {
        (incident_titles(&stack, &alice).await == ["SearchDown"]).then_some(())
    })
    .await;
    let (_, listed) = get_json(
        &format!("{}/api/silences", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(listed["silences"][0]["id"], id.as_str());

    // Expired: the alert still firing is new now, and opens its incident.
    let (status, expired) = post(
        &stack,
        &alice,
        &format!("/api/silences/{id}/expire"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &expired["state"]),
        (StatusCode::OK, &json!("expired")),
        "{expired}"
    );
    eventually("the released alert's incident", DEADLINE, || async {
        let titles = incident_titles(&stack, &alice).await;
        titles.contains(&"CheckoutErrors".to_owned()).then_some(())
    })
    .await;
    let (incident, _) = stored(&stack, "quiet").await.unwrap();
    assert!(incident.is_some());
    let (_, stats) = get_json(
        &format!("{}/api/stats", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(
        stats["alerts_received"], 3,
        "the release is not a received alert: {stats}"
    );
    let (status, again) = post(
        &stack,
        &alice,
        &format!("/api/silences/{id}/expire"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // Another user sees none of it.
    let bob = stack.user("bob").await;
    assert_eq!(
        get_json(&url, Some(&bob.api_token)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, theirs) = get_json(
        &format!("{}/api/silences", stack.api_url),
        Some(&bob.api_token),
    )
    .await;
    assert_eq!(theirs["silences"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_expiry_drop_a_quiet_alert_stays_quiet_after_the_silence() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    let (status, silence) = post(
        &stack,
        &alice,
        "/api/silences",
        json!({
            "matchers": [{"field": "labels.severity", "op": "!=", "value": "critical"}],
            "duration": "30m",
            "comment": "noisy warnings during the migration",
            "on_expiry": "drop",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    let id = silence["id"].as_str().unwrap().to_owned();
    stack
        .fire(&token, "warn", "LedgerSlow", "ledger", "warning")
        .await;
    eventually("the warning kept quiet", DEADLINE, || async {
        stored(&stack, "warn").await?.1.map(drop)
    })
    .await;
    post(
        &stack,
        &alice,
        &format!("/api/silences/{id}/expire"),
        json!({}),
    )
    .await;
    let url = format!("{}/api/silences/{id}", stack.api_url);
    eventually("the silence released", DEADLINE, || async {
        let (_, silence) = get_json(&url, Some(&alice.api_token)).await;
        silence["released_at"].is_string().then_some(())
    })
    .await;
    // A critical alert is not matched and opens its incident; the warning opened none.
    stack
        .fire(&token, "crit", "LedgerDown", "ledger", "critical")
        .await;
    eventually("the critical incident", DEADLINE, || async {
        (incident_titles(&stack, &alice).await == ["LedgerDown"]).then_some(())
    })
    .await;
    assert_eq!(stored(&stack, "warn").await.unwrap().0, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_silences_are_refused_naming_what_is_wrong() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let matcher = json!({"field": "service", "op": "=", "value": "x"});
    for (body, says) in [
        (
            json!({"matchers": [], "duration": "1h", "comment": "c"}),
            "at least one",
        ),
        (
            json!({"matchers": [{"field": "host", "op": "=", "value": "x"}], "duration": "1h", "comment": "c"}),
            "matchers[0]",
        ),
        (
            json!({"matchers": [{"field": "title", "op": "=~", "value": "("}], "duration": "1h", "comment": "c"}),
            "invalid pattern",
        ),
        (
            json!({"matchers": [matcher], "comment": "c"}),
            "`ends_at` or `duration`",
        ),
        (
            json!({"matchers": [matcher], "duration": "1h", "ends_at": "2030-01-01T00:00:00Z", "comment": "c"}),
            "not both",
        ),
        (
            json!({"matchers": [matcher], "duration": "soon", "comment": "c"}),
            "invalid `duration`",
        ),
        (
            json!({"matchers": [matcher], "ends_at": "2020-01-01T00:00:00Z", "comment": "c"}),
            "`ends_at`",
        ),
        (
            json!({"matchers": [matcher], "duration": "1h", "comment": " "}),
            "`comment`",
        ),
        (
            json!({"matchers": [matcher], "duration": "1h", "comment": "c", "on_expiry": "later"}),
            "`on_expiry`",
        ),
    ] {
        let (status, answer) = post(&stack, &alice, "/api/silences", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{body}: {answer}"
        );
    }
    let (_, listed) = get_json(
        &format!("{}/api/silences", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(listed["silences"], json!([]), "nothing was created");
    assert_eq!(
        get_json(&format!("{}/api/silences", stack.api_url), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}
