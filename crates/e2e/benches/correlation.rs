//! The correlation step's cost per alert as open incidents grow: at 100 and at 100,000 open
//! incidents of one user, all in the same environment and all inside the correlation window
//! (the worst case: every one is a potential candidate). Run with `make bench`.

use std::time::{Duration, Instant};

use aurora_correlator::Rules;
use aurora_correlator::correlate::best_match;
use aurora_db::pool::SimpleAsyncConnection;
use aurora_domain::{AlertStatus, Fingerprint, NormalizedAlert, Severity, SourceType, UserId};
use aurora_testkit::TestDb;
use chrono::Utc;

/// Alerts correlated per size, after a warm-up.
const ALERTS: usize = 300;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rules = Rules::new(aurora_e2e::default_correlation());
    println!("open incidents | alerts | mean per alert | p50 | p99");
    println!("---: | ---: | ---: | ---: | ---:");
    for open in [100_u32, 100_000] {
        let db = TestDb::new().await;
        let mut conn = db.connect().await;
        let user = aurora_db::users::create(&mut conn, "bench")
            .await
            .unwrap()
            .user;
        // Spread over 5,000 services with updates in the last ten minutes.
        conn.batch_execute(&format!(
            "INSERT INTO incidents (user_id, source_type, source_alert_id, status, severity, alert_title, \
             alert_service, alert_environment, started_at, created_at, updated_at, affected_services) \
             SELECT '{id}', 'grafana', i, 'investigating', 'high', 'Service svc-' || (i % 5000) || ' error rate', \
             'svc-' || (i % 5000), 'production', now(), now(), now() - random() * interval '10 minutes', \
             ARRAY['svc-' || (i % 5000)] FROM generate_series(1, {open}) AS i; ANALYZE incidents;",
            id = user.id
        ))
        .await
        .unwrap();
        let user = UserId::parse(user.id).unwrap();
        let mut timings = Vec::with_capacity(ALERTS);
        for i in 0..ALERTS + 20 {
            let alert = NormalizedAlert {
                source_type: SourceType::Grafana,
                fingerprint: Fingerprint::parse(format!("bench-{i}")).unwrap(),
                status: AlertStatus::Firing,
                severity: Severity::High,
                title: format!("Service svc-{} latency", i % 7000),
                service: Some(format!("svc-{}", i % 7000)),
                environment: Some("production".into()),
                started_at: Utc::now(),
                labels: Default::default(),
                url: None,
            };
            let started = Instant::now();
            best_match(&mut conn, &rules, &user, &alert, Utc::now())
                .await
                .unwrap();
            if i >= 20 {
                timings.push(started.elapsed());
            }
        }
        timings.sort();
        let mean = timings.iter().sum::<Duration>() / timings.len() as u32;
        let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize];
        println!(
            "{open} | {ALERTS} | {mean:.2?} | {:.2?} | {:.2?}",
            at(0.5),
            at(0.99)
        );
    }
}
