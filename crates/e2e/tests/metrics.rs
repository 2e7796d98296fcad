//! Every service's Prometheus series move with the work it does: one accepted and one refused
//! webhook, the incident they open and its analysis, an API call.

use std::time::Duration;

use aurora_domain::SourceType;
use aurora_e2e::http::{example, post_webhook};
use aurora_e2e::{Stack, eventually};
use reqwest::StatusCode;

const DEADLINE: Duration = Duration::from_secs(30);

/// The value of the series `name` whose labels include every one of `labels`, if exported.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

async fn scrape(base: &str) -> String {
    let answer = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.unwrap()
}

fn text_of(registry: &prometheus::Registry) -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_counts_the_work_a_webhook_makes() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let url = stack.webhook_url(SourceType::Grafana);
    let body = example("grafana_unified_checkout_critical.json");
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_webhook(&url, Some("aur_whk_wrong"), &body, &[])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let ingress = scrape(&stack.ingress_url).await;
    let grafana = [("source", "grafana")];
    assert_eq!(
        value(&ingress, "aurora_webhooks_received_total", &grafana),
        Some(2.0)
    );
    assert_eq!(
        value(&ingress, "aurora_webhooks_accepted_total", &grafana),
        Some(1.0)
    );
    assert_eq!(
        value(
            &ingress,
            "aurora_webhooks_refused_total",
            &[("source", "grafana"), ("reason", "unauthorized")]
        ),
        Some(1.0)
    );
    assert!(value(&ingress, "aurora_alerts_accepted_total", &grafana) >= Some(1.0));
    assert_eq!(
        value(&ingress, "aurora_publish_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &ingress,
            "aurora_http_request_duration_seconds_count",
            &[
                ("service", "ingress"),
                ("route", "/api/grafana/alerts"),
                ("status", "202")
            ]
        ),
        Some(1.0)
    );

    // The correlator opened the incident, and the RCA worker analysed it.
    let correlator = &stack.worker_metrics.correlator;
    eventually("the incident counted as opened", DEADLINE, || async {
        (value(&text_of(correlator), "aurora_incidents_opened_total", &[]) == Some(1.0))
            .then_some(())
    })
    .await;
    let decided = text_of(correlator);
    assert_eq!(
        value(
            &decided,
            "aurora_correlation_decisions_total",
            &[("outcome", "opened")]
        ),
        Some(1.0)
    );
    assert!(value(&decided, "aurora_alerts_processed_total", &grafana) >= Some(1.0));
    let rca = &stack.worker_metrics.rca_worker;
    eventually("the analysis counted as completed", DEADLINE, || async {
        let completed = value(
            &text_of(rca),
            "aurora_rca_analyses_total",
            &[("analyst", "builtin"), ("outcome", "completed")],
        );
        (completed == Some(1.0)).then_some(())
    })
    .await;
    // Both consumers' backlogs are sampled.
    for (registry, consumer) in [(correlator, "correlator"), (rca, "rca-worker")] {
        eventually("the consumer's backlog sampled", DEADLINE, || async {
            value(
                &text_of(registry),
                "aurora_consumer_pending",
                &[("consumer", consumer)],
            )
        })
        .await;
    }

    // The API times each request under its route pattern, not the concrete path.
    let listed = reqwest::Client::new()
        .get(format!("{}/api/incidents", stack.api_url))
        .bearer_auth(&owner.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let api = scrape(&stack.api_url).await;
    assert_eq!(
        value(
            &api,
            "aurora_http_request_duration_seconds_count",
            &[
                ("service", "api"),
                ("route", "/api/incidents"),
                ("status", "200")
            ]
        ),
        Some(1.0)
    );
}
