//! The correlator's cost per alert as open incidents grow. One user's batch of 500 deliveries
//! (new alerts on 7,000 services: some open incidents, some correlate) is stored by
//! `Correlator::store` — the user's lock, the set-based loads, the decision and the multi-row
//! writes, in one transaction — at 100 and at 100,000 open incidents of that user, all in the
//! same environment and all inside the correlation window (the worst case: every one is a
//! potential candidate). The decision alone, with no database, is timed on the same state.
//! Run with `make bench`.

use std::time::{Duration, Instant};

use aurora_correlation::{Arrival, Needs, Receipt, Rules};
use aurora_correlator::Correlator;
use aurora_db::AsyncConnection;
use aurora_db::pool::SimpleAsyncConnection;
use aurora_domain::{
    AlertBatch, AlertStatus, Fingerprint, NormalizedAlert, Severity, SourceType, UserId,
};
use aurora_testkit::{TestBus, TestDb};
use chrono::Utc;

/// Deliveries per batch (a quarter of the correlator's default, `correlator.batch_max_messages`).
const BATCH: usize = 500;
/// Batches timed per size, after two of warm-up.
const ROUNDS: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rules = std::sync::Arc::new(Rules::new(aurora_e2e::default_correlation()));
    println!(
        "open incidents | batches of {BATCH} | store per batch p50 | p99 | per alert | decision alone per alert"
    );
    println!("---: | ---: | ---: | ---: | ---: | ---:");
    for open in [100_u32, 100_000] {
        let db = TestDb::new().await;
        let bus = TestBus::new().await;
        let mut conn = db.connect().await;
        let user = aurora_db::users::create(&mut conn, "bench")
            .await
            .unwrap()
            .user;
        // Spread over 5,000 services with updates in the last ten minutes.
        conn.batch_execute(&format!(
            "INSERT INTO incidents (user_id, source_type, source_alert_id, status, severity, alert_title, \
             alert_service, alert_environment, started_at, created_at, updated_at, affected_services) \
             SELECT '{id}', 'grafana', -i, 'investigating', 'high', 'Service svc-' || (i % 5000) || ' error rate', \
             'svc-' || (i % 5000), 'production', now(), now(), now() - random() * interval '10 minutes', \
             ARRAY['svc-' || (i % 5000)] FROM generate_series(1, {open}) AS i; ANALYZE incidents;",
            id = user.id
        ))
        .await
        .unwrap();
        let user = UserId::parse(user.id).unwrap();
        let correlator = Correlator::new(db.pool(), bus.bus.clone(), rules.clone());
        let mut timings = Vec::with_capacity(ROUNDS);
        let mut decisions = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS + 2 {
            let batches = batches(&user, round);
            let arrivals: Vec<Arrival<'_>> = batches
                .iter()
                .enumerate()
                .map(|(i, batch)| Arrival {
                    receipt: Receipt {
                        epoch: 1,
                        sequence: (round * BATCH + i) as i64 + 1,
                    },
                    batch,
                })
                .collect();
            decisions.push(decision_alone(&mut conn, &rules, &user, &arrivals).await);
            let started = Instant::now();
            correlator.store(&user, &arrivals).await.unwrap();
            if round >= 2 {
                timings.push(started.elapsed());
            }
        }
        timings.sort();
        decisions.sort();
        let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize];
        println!(
            "{open} | {ROUNDS} | {:.1?} | {:.1?} | {:.1?} | {:.1?}",
            at(0.5),
            at(0.99),
            at(0.5) / BATCH as u32,
            decisions[decisions.len() / 2] / BATCH as u32,
        );
    }
}

/// The decision on `arrivals` over the state the database holds now, without writing it.
async fn decision_alone(
    conn: &mut aurora_db::AsyncPgConnection,
    rules: &Rules,
    user: &UserId,
    arrivals: &[Arrival<'_>],
) -> Duration {
    let needs = Needs::of(rules, arrivals);
    let loaded = conn
        .transaction(async |conn| aurora_db::correlation::load(conn, user, &needs).await)
        .await
        .unwrap();
    let started = Instant::now();
    std::hint::black_box(aurora_correlation::decide(
        rules,
        &loaded.state,
        arrivals,
        Utc::now(),
    ));
    started.elapsed()
}

/// One batch of new alerts, one per delivery, on 7,000 services.
fn batches(user: &UserId, round: usize) -> Vec<AlertBatch> {
    (0..BATCH)
        .map(|i| {
            let n = round * BATCH + i;
            AlertBatch {
                delivery_id: format!("bench-{n}"),
                user_id: user.clone(),
                integration_id: uuid::Uuid::nil(),
                source_type: SourceType::Grafana,
                received_at: Utc::now(),
                alerts: vec![NormalizedAlert {
                    source_type: SourceType::Grafana,
                    fingerprint: Fingerprint::parse(format!("bench-{n}")).unwrap(),
                    status: AlertStatus::Firing,
                    severity: Severity::High,
                    title: format!("Service svc-{} latency", n % 7000),
                    service: Some(format!("svc-{}", n % 7000)),
                    environment: Some("production".into()),
                    started_at: Utc::now(),
                    labels: Default::default(),
                    url: None,
                    description: None,
                    runbook_url: None,
                }],
                deployment: None,
                raw_payload: serde_json::value::to_raw_value(&serde_json::json!({ "bench": n }))
                    .unwrap(),
            }
        })
        .collect()
}
