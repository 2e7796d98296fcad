//! The incidents API with two users: filters and pages, the detail views, PATCH, merge, and the
//! OpenAPI document against the routes (the live stream has `stream.rs`).

use std::time::Duration;

use aurora_bus::IncidentSubject;
use aurora_e2e::http::{get_json, post_webhook};
use aurora_e2e::{Stack, TestUser, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// A summary a person wrote, with markup that must never run.
const WRITTEN_SUMMARY: &str =
    "Disk full on **db-1**; cleaned WAL. <script>alert(1)</script> [runbook](javascript:alert(1))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_what_became_of_the_callers_alerts_overall_per_source_and_service() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let token = stack
        .integration(&alice, aurora_domain::SourceType::Alertmanager, &[])
        .await;
    let (status, silence) = post_webhook(
        &format!("{}/api/silences", stack.api_url),
        Some(&alice.api_token),
        json!({"matchers": [{"field": "service", "op": "=", "value": "search"}],
               "duration": "1h", "comment": "reindexing"})
        .to_string()
        .as_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    // checkout: opens, repeats, a second alert joins; ledger: opens; search: silenced.
    stack
        .fire(&token, "a", "checkout down", "checkout", "high")
        .await;
    stack
        .fire(&token, "b", "ledger down", "ledger", "high")
        .await;
    stack
        .fire(&token, "a", "checkout down", "checkout", "high")
        .await;
    stack
        .fire(&token, "c", "checkout slow", "checkout", "high")
        .await;
    stack
        .fire(&token, "d", "search slow", "search", "high")
        .await;
    let url = format!("{}/api/stats", stack.api_url);
    let stats = eventually("five alerts counted", DEADLINE, || async {
        let (status, stats) = get_json(&url, Some(&alice.api_token)).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        (stats["alerts_received"] == 5).then_some(stats)
    })
    .await;
    let figures = |group: &Value| {
        [
            "alerts_received",
            "deduplicated",
            "correlated",
            "suppressed",
            "incidents_opened",
        ]
        .map(|field| group[field].as_i64().unwrap())
    };
    assert_eq!(figures(&stats), [5, 1, 1, 1, 2], "{stats}");
    assert_eq!(stats["compression_ratio"], 2.5, "{stats}");
    assert_eq!(
        figures(&stats["by_source"]["alertmanager"]),
        [5, 1, 1, 1, 2]
    );
    assert_eq!(figures(&stats["by_service"]["checkout"]), [3, 1, 1, 0, 1]);
    assert_eq!(stats["by_service"]["checkout"]["compression_ratio"], 3.0);
    assert_eq!(figures(&stats["by_service"]["ledger"]), [1, 0, 0, 0, 1]);
    assert_eq!(figures(&stats["by_service"]["search"]), [1, 0, 0, 1, 0]);
    assert_eq!(
        stats["by_service"]["search"]["compression_ratio"],
        Value::Null
    );
    let since = chrono::DateTime::parse_from_rfc3339(stats["since"].as_str().unwrap()).unwrap();
    let day_ago = chrono::Utc::now() - chrono::TimeDelta::hours(24);
    assert!(
        since.to_utc() <= day_ago && day_ago - since.to_utc() < chrono::TimeDelta::hours(1),
        "the last day, from the hour: {stats}"
    );

    // Another user's figures are their own; a window starting later is empty.
    let (_, theirs) = get_json(&url, Some(&bob.api_token)).await;
    assert_eq!(figures(&theirs), [0, 0, 0, 0, 0]);
    assert_eq!(theirs["compression_ratio"], Value::Null);
    let later = (chrono::Utc::now() + chrono::TimeDelta::hours(2)).to_rfc3339();
    let (_, none) = get_json(
        &format!("{url}?since={}", later.replace('+', "%2B")),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(figures(&none), [0, 0, 0, 0, 0], "{none}");

    let (status, refused) =
        get_json(&format!("{url}?since=yesterday"), Some(&alice.api_token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"].as_str().unwrap().contains("since"),
        "{refused}"
    );
    assert_eq!(get_json(&url, None).await.0, StatusCode::UNAUTHORIZED);
}

async fn patch(stack: &Stack, user: &TestUser, id: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .patch(format!("{}/api/incidents/{id}", stack.api_url))
        .bearer_auth(&user.api_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn merge(stack: &Stack, user: &TestUser, target: &str, source: &str) -> (StatusCode, Value) {
    let url = format!("{}/api/incidents/{target}/merge-alert", stack.api_url);
    post_webhook(
        &url,
        Some(&user.api_token),
        json!({ "source_incident_id": source })
            .to_string()
            .as_bytes(),
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_pages_and_refuses_bad_parameters() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    stack
        .analysed_incidents(
            &alice,
            &[
                ("CheckoutErrors", "checkout-api", "production", "critical"),
                ("SearchLag", "search", "production", "warning"),
                (
                    "CheckoutStagingErrors",
                    "checkout-api",
                    "staging",
                    "critical",
                ),
                ("BillingDown", "billing", "production", "critical"),
                ("QueueBacklog", "worker", "production", "info"),
            ],
        )
        .await;
    let base = format!("{}/api/incidents", stack.api_url);
    let titles = |page: &Value| -> Vec<String> {
        page["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["alert_title"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = |q: &str| format!("{base}?{q}");
    let (_, page) = get_json(
        &query("severity=critical&environment=production"),
        Some(&alice.api_token),
    )
    .await;
    let mut found = titles(&page);
    found.sort();
    assert_eq!(found, ["BillingDown", "CheckoutErrors"]);
    let (_, page) = get_json(&query("service=checkout-api"), Some(&alice.api_token)).await;
    assert_eq!(titles(&page).len(), 2);
    let (_, page) = get_json(&query("q=checkout%20staging"), Some(&alice.api_token)).await;
    assert_eq!(titles(&page), ["CheckoutStagingErrors"]);
    let (_, page) = get_json(
        &query("source_type=alertmanager&status=analyzed"),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(titles(&page).len(), 5);
    let (_, page) = get_json(&query("since=2999-01-01T00:00:00Z"), Some(&alice.api_token)).await;
    assert!(titles(&page).is_empty());
    let (_, page) = get_json(&base, Some(&bob.api_token)).await;
    assert!(
        titles(&page).is_empty(),
        "bob sees none of alice's incidents"
    );

    // Pages of two: every incident once, in order, then no cursor.
    let mut seen = Vec::new();
    let mut url = query("limit=2");
    loop {
        let (status, page) = get_json(&url, Some(&alice.api_token)).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(titles(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => url = query(&format!("limit=2&cursor={cursor}")),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "no incident on two pages");

    for bad in [
        "status=open",
        "severity=urgent",
        "limit=0",
        "limit=101",
        "since=yesterday",
        "cursor=tampered",
        "color=red",
    ] {
        let (status, body) = get_json(&query(bad), Some(&alice.api_token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
    }
    for injection in [
        "q=%27%20OR%201%3D1%20--",
        "service=x%27%3B%20DROP%20TABLE%20incidents%3B--",
        "q=%25",
        "q=_",
    ] {
        let (status, page) = get_json(&query(injection), Some(&alice.api_token)).await;
        assert_eq!(
            (status, titles(&page).len()),
            (StatusCode::OK, 0),
            "{injection}"
        );
    }
    let (status, _) = get_json(&base, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_takes_the_severity_of_its_worst_firing_alert() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, aurora_domain::SourceType::Alertmanager, &[])
        .await;
    let severity_of = |id: String| {
        let url = format!("{}/api/incidents/{id}", stack.api_url);
        let token = alice.api_token.clone();
        async move {
            let (_, incident) = get_json(&url, Some(&token)).await;
            incident
        }
    };
    stack
        .fire(&token, "slow", "CheckoutSlow", "checkout", "warning")
        .await;
    let page_url = format!("{}/api/incidents", stack.api_url);
    let id = eventually("the incident", DEADLINE, || async {
        let (_, page) = get_json(&page_url, Some(&alice.api_token)).await;
        page["incidents"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(severity_of(id.clone()).await["severity"], "medium");

    // A critical alert joins: the incident is critical, and says so.
    stack
        .fire(&token, "down", "CheckoutDown", "checkout", "critical")
        .await;
    let incident = eventually("critical", DEADLINE, || async {
        let incident = severity_of(id.clone()).await;
        (incident["severity"] == "critical").then_some(incident)
    })
    .await;
    assert_eq!(incident["correlated_alert_count"], 1);
    let change = incident["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "severity_changed")
        .expect("the change is on the timeline")
        .clone();
    assert_eq!(
        (&change["detail"]["from"], &change["detail"]["to"]),
        (&json!("medium"), &json!("critical"))
    );
    let updated = eventually("incidents.updated", DEADLINE, || async {
        let messages = stack
            .bus()
            .incident_messages(IncidentSubject::Updated)
            .await;
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(updated[0]["incident_id"], id.as_str());

    // It stays critical while that alert fires, and falls back once it resolves.
    stack
        .fire(&token, "slow", "CheckoutSlow", "checkout", "warning")
        .await;
    stack
        .resolve(&token, "down", "CheckoutDown", "checkout", "critical")
        .await;
    let incident = eventually("medium again", DEADLINE, || async {
        let incident = severity_of(id.clone()).await;
        (incident["severity"] == "medium").then_some(incident)
    })
    .await;
    assert_ne!(
        incident["status"], "resolved",
        "the medium alert still fires"
    );

    // A critical incident merged into it makes it critical again.
    stack
        .fire(&token, "ledger", "LedgerDown", "ledger", "critical")
        .await;
    let other = eventually("the ledger incident", DEADLINE, || async {
        let (_, page) = get_json(&page_url, Some(&alice.api_token)).await;
        page["incidents"]
            .as_array()?
            .iter()
            .find(|i| i["alert_title"] == "LedgerDown")
            .and_then(|i| i["id"].as_str().map(str::to_owned))
    })
    .await;
    let (status, merged) = merge(&stack, &alice, &id, &other).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["target"]["severity"], "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_status_tab_and_summary_and_refuses_what_it_must() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let [id] = <[String; 1]>::try_from(
        stack
            .analysed_incidents(
                &alice,
                &[("DiskFull", "postgres", "production", "critical")],
            )
            .await,
    )
    .unwrap();
    // Let the analysis finish first: it writes the summary too.
    let detail_url = format!("{}/api/incidents/{id}", stack.api_url);
    eventually("the analysis", DEADLINE, || async {
        let (_, incident) = get_json(&detail_url, Some(&alice.api_token)).await;
        (incident["aurora_status"] == "complete").then_some(())
    })
    .await;

    let (status, body) = patch(
        &stack,
        &alice,
        &id,
        json!({"active_tab": "chat", "aurora_summary": WRITTEN_SUMMARY}),
    )
    .await;
    assert_eq!(
        (status, body["active_tab"].as_str()),
        (StatusCode::OK, Some("chat")),
        "{body}"
    );
    assert_eq!(body["aurora_summary"], WRITTEN_SUMMARY);
    // Served as HTML that is safe to show: Markdown rendered, markup and script links not.
    let (_, detail) = get_json(&detail_url, Some(&alice.api_token)).await;
    assert_eq!(
        detail["aurora_summary_html"],
        "<p>Disk full on <strong>db-1</strong>; cleaned WAL. \
         &lt;script&gt;alert(1)&lt;/script&gt; <a href=\"\">runbook</a></p>\n"
    );
    let (status, body) = patch(&stack, &alice, &id, json!({"status": "resolved"})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("resolved"))
    );
    assert!(body["resolved_at"].is_string());
    let (status, body) = patch(&stack, &alice, &id, json!({"status": "analyzed"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("from resolved to analyzed")
    );
    for (invalid, named) in [
        (json!({"status": "closed"}), "`status`"),
        (json!({"status": "merged"}), "merge-alert"),
        (json!({"active_tab": "graphs"}), "`active_tab`"),
        (json!({"severity": "low"}), "unknown field `severity`"),
        (json!({}), "nothing to change"),
        (json!({"aurora_summary": 42}), "invalid body"),
    ] {
        let (status, body) = patch(&stack, &alice, &id, invalid.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{invalid}: {body}"
        );
        assert!(
            body["error"].as_str().unwrap().contains(named),
            "{invalid}: {body}"
        );
    }
    let huge = json!({"aurora_summary": "x".repeat(200 * 1024)});
    assert_eq!(
        patch(&stack, &alice, &id, huge).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        patch(&stack, &bob, &id, json!({"status": "investigating"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (_, timeline) = get_json(
        &format!("{}/api/incidents/{id}/events", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    let kinds: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.ends_with(&["updated", "resolved"]), "{kinds:?}");
    let updated = stack
        .bus()
        .incident_messages(IncidentSubject::Updated)
        .await;
    let resolved = stack
        .bus()
        .incident_messages(IncidentSubject::Resolved)
        .await;
    assert_eq!((updated.len(), resolved.len()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_alerts_and_refuses_every_bad_merge() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let ids = stack
        .analysed_incidents(
            &alice,
            &[
                ("CheckoutErrors", "checkout-api", "production", "critical"),
                ("CardDeclines", "payments-api", "production", "high"),
                ("SearchLag", "search", "production", "warning"),
            ],
        )
        .await;
    let bobs = stack
        .analysed_incidents(&bob, &[("BobAlert", "bob-svc", "production", "low")])
        .await;
    let (target, source, third) = (&ids[0], &ids[1], &ids[2]);

    assert_eq!(
        merge(&stack, &alice, target, target).await.0,
        StatusCode::CONFLICT,
        "into itself"
    );
    assert_eq!(
        merge(&stack, &alice, target, &bobs[0]).await.0,
        StatusCode::NOT_FOUND,
        "bob's source"
    );
    assert_eq!(
        merge(&stack, &bob, &bobs[0], source).await.0,
        StatusCode::NOT_FOUND,
        "alice's source"
    );
    assert_eq!(
        merge(&stack, &alice, target, "not-an-id").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, merged) = merge(&stack, &alice, target, source).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["target"]["correlated_alert_count"], 1);
    assert_eq!(
        merged["target"]["affected_services"],
        json!(["checkout-api", "payments-api"])
    );
    assert_eq!(
        (
            merged["source"]["status"].as_str(),
            merged["source"]["merged_into_incident_id"].as_str()
        ),
        (Some("merged"), Some(target.as_str()))
    );

    assert_eq!(
        merge(&stack, &alice, target, source).await.0,
        StatusCode::CONFLICT,
        "source already merged"
    );
    assert_eq!(
        merge(&stack, &alice, source, third).await.0,
        StatusCode::CONFLICT,
        "merged target"
    );

    let (_, alerts) = get_json(
        &format!("{}/api/incidents/{target}/alerts", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    let strategies: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["correlation"]["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["primary", "manual"]);
    let (_, list) = get_json(
        &format!("{}/api/incidents", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(
        list["incidents"].as_array().unwrap().len(),
        2,
        "merged incidents are hidden"
    );
    let (_, list) = get_json(
        &format!("{}/api/incidents?include_merged=true", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 3);
    for id in [target, source] {
        let (_, timeline) = get_json(
            &format!("{}/api/incidents/{id}/events", stack.api_url),
            Some(&alice.api_token),
        )
        .await;
        assert!(
            timeline["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"].as_str().unwrap().starts_with("merged"))
        );
    }
    let published = stack.bus().incident_messages(IncidentSubject::Merged).await;
    assert_eq!(published.len(), 2, "one on each incident");
    for path in ["", "/alerts", "/events"] {
        let (status, _) = get_json(
            &format!("{}/api/incidents/{target}{path}", stack.api_url),
            Some(&bob.api_token),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "bob cannot see {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes_and_the_rows() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let ids = stack
        .analysed_incidents(&alice, &[("DocAlert", "svc", "production", "high")])
        .await;
    let (status, silence) = post_webhook(
        &format!("{}/api/silences", stack.api_url),
        Some(&alice.api_token),
        json!({"matchers": [{"field": "service", "op": "=", "value": "none"}],
               "duration": "1h", "comment": "for the document"})
        .to_string()
        .as_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{silence}");
    let silence_id = silence["id"].as_str().unwrap();
    let (status, doc) = get_json(&format!("{}/api/openapi.json", stack.api_url), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let url = format!(
                "{}{}",
                stack.api_url,
                path.replace("{id}", &ids[0])
                    .replace("{silence_id}", silence_id)
            );
            let request = match method.as_str() {
                "get" => reqwest::Client::new().get(&url),
                "patch" => reqwest::Client::new().patch(&url).json(&json!({})),
                "post" => reqwest::Client::new().post(&url).json(&json!({})),
                other => panic!("undocumented method {other}"),
            };
            let response = request
                .bearer_auth(&alice.api_token)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            // The stream never ends; its headers arriving is the answer.
            let status = match response {
                Ok(response) => response.status(),
                Err(err) => panic!("{method} {path}: {err}"),
            };
            // Expiring takes no body: it ends the silence.
            let expected = if method == "get" || path.ends_with("/expire") {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            assert_eq!(status, expected, "{method} {path} is routed as documented");
        }
    }
    // The Incident schema lists exactly the fields an incident is served with.
    let (_, page) = get_json(
        &format!("{}/api/incidents", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    let mut served: Vec<&String> = page["incidents"][0].as_object().unwrap().keys().collect();
    let mut documented: Vec<&String> = doc["components"]["schemas"]["Incident"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    served.sort();
    documented.sort();
    assert_eq!(served, documented);
    let (_, alert) = get_json(
        &format!("{}/api/incidents/{}/alerts", stack.api_url, ids[0]),
        Some(&alice.api_token),
    )
    .await;
    let mut served: Vec<&String> = alert["alerts"][0].as_object().unwrap().keys().collect();
    let mut documented: Vec<&String> = doc["components"]["schemas"]["Alert"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    served.sort();
    documented.sort();
    assert_eq!(served, documented);
}
