//! The RCA worker in the running pipeline: the built-in analyst finds the deployment that
//! caused an alert and says what to do; the incident ends analyzed and the change is published.

use std::time::Duration;

use aurora_bus::IncidentSubject;
use aurora_db::{analysis, events, incidents};
use aurora_domain::{SourceType, UserId};
use aurora_e2e::http::{get_json, post_webhook};
use aurora_e2e::{Stack, eventually};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_three_minutes_before_a_5xx_alert_is_named_as_the_cause_with_its_rollback() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let jenkins = stack.integration(&owner, SourceType::Jenkins, &[]).await;
    let grafana = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let now = chrono::Utc::now();
    let started = (now - chrono::TimeDelta::minutes(5)).timestamp_millis();
    let build = json!({
        "name": "payments-api", "url": "job/payments-api/",
        "build": {"full_url": "https://ci.example.com/job/payments-api/42/", "number": 42, "phase": "FINALIZED",
                  "status": "FAILURE", "timestamp": started, "duration": 120_000,
                  "scm": {"commit": "3f2a1b0c", "branch": "main"}, "parameters": {"ENVIRONMENT": "production"}}
    });
    let (status, _) = post_webhook(
        &stack.webhook_url(SourceType::Jenkins),
        Some(&jenkins),
        build.to_string().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let errors = json!({
        "status": "firing", "receiver": "aurora", "version": "1",
        "alerts": [{"status": "firing", "fingerprint": "pay-5xx",
                    "labels": {"alertname": "payments-api 5xx error rate above 5%", "service": "payments-api", "env": "production", "severity": "critical"},
                    "annotations": {}, "startsAt": now.to_rfc3339()}]
    });
    let (status, _) = post_webhook(
        &stack.webhook_url(SourceType::Grafana),
        Some(&grafana),
        errors.to_string().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let user = UserId::parse(owner.id.clone()).unwrap();
    let incident = eventually("the analysed incident", Duration::from_secs(30), || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let all = incidents::list_for_user(&mut conn, &user, 10)
            .await
            .unwrap();
        all.into_iter()
            .find(|i| i.aurora_status.as_deref() == Some("complete") && i.status == "analyzed")
    })
    .await;
    let summary = incident.aurora_summary.clone().unwrap();
    let cause = summary.split("## Likely root cause").nth(1).unwrap();
    assert!(
        cause
            .trim_start()
            .starts_with("1. The deployment of payments-api build 42 (failure)"),
        "{summary}"
    );
    assert!(
        summary.contains("commit 3f2a1b0c"),
        "the evidence cites the build: {summary}"
    );
    let mut conn = stack.connections.pool.get().await.unwrap();
    let suggestions = analysis::suggestions(&mut conn, incident.id).await.unwrap();
    assert_eq!(suggestions[0].title, "Roll back payments-api build 42");
    assert_eq!(suggestions[0].risk, "medium");
    let completed = events::for_incident(&mut conn, incident.id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "analysis_completed")
        .unwrap();
    eprintln!(
        "built-in analysis worker time: {} ms",
        completed.detail["worker_ms"]
    );
    // What the console shows: the ranked causes with their evidence, the build beside the
    // incident, and the summary as HTML.
    let (status, detail) = get_json(
        &format!("{}/api/incidents/{}", stack.api_url, incident.id),
        Some(&owner.api_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let hypotheses = detail["hypotheses"].as_array().unwrap();
    assert_eq!(hypotheses[0]["rank"], 1);
    assert!(
        hypotheses[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("The deployment of payments-api build 42 (failure)"),
        "{hypotheses:?}"
    );
    assert!(
        hypotheses[0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line.as_str().unwrap().contains("3f2a1b0c")),
        "{hypotheses:?}"
    );
    let confidences: Vec<f64> = hypotheses
        .iter()
        .map(|h| h["confidence"].as_f64().unwrap())
        .collect();
    assert!(confidences.is_sorted_by(|a, b| a >= b), "{confidences:?}");
    assert_eq!(detail["deployments"][0]["build_number"], "42");
    assert_eq!(detail["deployments"][0]["commit_sha"], "3f2a1b0c");
    let html = detail["aurora_summary_html"].as_str().unwrap();
    assert!(html.contains("<h2>Likely root cause</h2>"), "{html}");

    let analyzed = eventually("incidents.analyzed", Duration::from_secs(10), || async {
        let messages = stack
            .bus()
            .incident_messages(IncidentSubject::Analyzed)
            .await;
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(analyzed[0]["incident_id"], incident.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_twenty_incidents_make_twenty_analyses_none_twice() {
    let stack = Stack::start().await;
    // A second RCA worker on the same durable consumer.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let second = tokio::spawn(aurora_rca_worker::run(
        stack.connections.clone(),
        stack.db().pool(),
        std::sync::Arc::new(aurora_rca_worker::Analyst::builtin()),
        shutdown.clone(),
    ));
    let owner = stack.user("owner").await;
    let token = stack
        .integration(&owner, SourceType::Alertmanager, &[])
        .await;
    for i in 0..20 {
        // Different services and environments: twenty separate incidents.
        let body = json!({
            "status": "firing", "receiver": "aurora", "version": "4",
            "alerts": [{"status": "firing", "fingerprint": format!("f{i}"),
                        "labels": {"alertname": format!("Alert {i}"), "service": format!("svc-{i}"), "env": format!("env-{i}")},
                        "annotations": {}, "startsAt": chrono::Utc::now().to_rfc3339()}]
        });
        let (status, _) = post_webhook(
            &stack.webhook_url(SourceType::Alertmanager),
            Some(&token),
            body.to_string().as_bytes(),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let user = UserId::parse(owner.id.clone()).unwrap();
    let done = eventually("twenty analyses", Duration::from_secs(60), || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let all = incidents::list_for_user(&mut conn, &user, 100)
            .await
            .unwrap();
        (all.len() == 20
            && all
                .iter()
                .all(|i| i.aurora_status.as_deref() == Some("complete")))
        .then_some(all)
    })
    .await;
    let mut conn = stack.connections.pool.get().await.unwrap();
    for incident in &done {
        let timeline = events::for_incident(&mut conn, incident.id).await.unwrap();
        let started = timeline
            .iter()
            .filter(|e| e.kind == "analysis_started")
            .count();
        let completed = timeline
            .iter()
            .filter(|e| e.kind == "analysis_completed")
            .count();
        assert_eq!(
            (started, completed),
            (1, 1),
            "incident {} analysed once",
            incident.id
        );
        let conclusions = analysis::thoughts(&mut conn, incident.id)
            .await
            .unwrap()
            .iter()
            .filter(|t| t.kind == "conclusion")
            .count();
        assert_eq!(conclusions, 1);
    }
    let analyzed = stack
        .bus()
        .incident_messages(IncidentSubject::Analyzed)
        .await;
    assert_eq!(analyzed.len(), 20);
    shutdown.cancel();
    second.await.unwrap().unwrap();
}
