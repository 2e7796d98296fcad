//! Worker time of one analysis by the built-in analyst (no commands): claim, context from
//! PostgreSQL, analysis, thoughts, suggestions and summary written — and the analysis step
//! alone. Run with `make bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_domain::SourceType;
use aurora_e2e::harness::{Harness, TestAlert};
use aurora_rca_worker::{Analyst, Investigator};

const INCIDENTS: usize = 100;
const TITLES: [&str; 5] = [
    "Disk / is 95% full",
    "5xx error rate above 5%",
    "p99 latency above 2s",
    "Pod crash looping",
    "Quarterly report missing",
];
const SERVICES: [&str; 5] = [
    "postgres",
    "checkout-api",
    "search",
    "payments-api",
    "reporting",
];

fn stats(mut timings: Vec<Duration>) -> String {
    timings.sort();
    let mean = timings.iter().sum::<Duration>() / timings.len() as u32;
    let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize];
    format!("{mean:.2?} | {:.2?} | {:.2?}", at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut whole = Vec::new();
    let mut step = Vec::new();
    let h = Harness::new().await;
    let investigator = Investigator::new(
        h.db.pool(),
        h.db.pool(),
        h.bus.bus.clone(),
        Arc::new(Analyst::builtin()),
    );
    let knowledge = aurora_rca::KnowledgeBase::builtin();
    for i in 0..INCIDENTS {
        let alert = TestAlert {
            fingerprint: Box::leak(format!("bench-{i}").into_boxed_str()),
            environment: Some(Box::leak(format!("env-{i}").into_boxed_str())),
            ..TestAlert::firing(SourceType::Grafana, "x", SERVICES[i % 5], TITLES[i % 5])
        };
        let incident_id = h.send(&alert).await.opened_incidents[0];
        let started = Instant::now();
        investigator.investigate(incident_id).await.unwrap();
        whole.push(started.elapsed());
        let mut conn = h.db.connect().await;
        let incident = aurora_db::incidents::get(&mut conn, incident_id)
            .await
            .unwrap();
        let context = aurora_rca_worker::context::gather(&mut conn, &incident, &Default::default())
            .await
            .unwrap();
        let started = Instant::now();
        std::hint::black_box(aurora_rca::analyse(
            &context,
            &knowledge,
            chrono::Utc::now(),
        ));
        step.push(started.elapsed());
    }
    println!("built-in analysis, {INCIDENTS} incidents | mean | p50 | p99");
    println!("--- | ---: | ---: | ---:");
    println!(
        "worker time (claim, context, thoughts, summary) | {}",
        stats(whole)
    );
    println!("analysis step alone | {}", stats(step));
    println!(
        "analysis step, a storm: {STORM_ALERTS} correlated alerts with long descriptions | {}",
        stats(storm(&knowledge))
    );
}

/// Alerts in the storm incident, as many as correlation lets one incident hold by default.
const STORM_ALERTS: usize = 200;

/// The analysis step on the largest incident correlation builds by default: every alert with
/// its own 2,000-character description (Splunk results, log lines), stating a cause.
fn storm(knowledge: &aurora_rca::KnowledgeBase) -> Vec<Duration> {
    let started = chrono::Utc::now();
    let alert = |i: usize| aurora_rca::AlertContext {
        id: i as i32,
        source_type: "splunk".into(),
        title: format!("{} on host-{i}", TITLES[i % TITLES.len()]),
        severity: "high".into(),
        status: "firing".into(),
        service: Some(SERVICES[i % SERVICES.len()].into()),
        environment: Some("production".into()),
        labels: [("host".to_owned(), format!("host-{i}"))].into(),
        started_at: started,
        url: None,
        description: Some(format!(
            "status=503 count={i} uri=/checkout/{i} because the upstream connection pool is exhausted; {}",
            "upstream timed out while reading the response header from upstream ".repeat(28)
        )),
        runbook_url: None,
    };
    let context = aurora_rca::IncidentContext {
        alert: alert(0),
        correlated: (1..STORM_ALERTS).map(alert).collect(),
        deployments: vec![],
        similar: vec![],
        commands: vec![],
        metrics: None,
    };
    (0..20)
        .map(|_| {
            let began = Instant::now();
            std::hint::black_box(aurora_rca::analyse(&context, knowledge, started));
            began.elapsed()
        })
        .collect()
}
