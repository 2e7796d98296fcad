//! Evidence from metrics against a real Prometheus (Debian's `prometheus`, which `make test`
//! installs) scraping an exporter this test runs and scripts: the service's memory climbs, then
//! its errors rise and the alert fires, while its CPU stays flat. The analyst must rank memory
//! first, cite the queries, and believe the memory pattern more.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_rca::{AlertContext, IncidentContext, KnowledgeBase, analyse};
use aurora_rca_worker::signals::MetricsProbe;
use aurora_settings::{PrometheusSettings, SignalTemplate};
use chrono::{TimeDelta, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// When the memory starts climbing and the errors start, in seconds after the script starts.
const MEMORY_CLIMBS_AT: f64 = 12.0;
const ERRORS_START_AT: f64 = 20.0;
/// When the alert fires.
const ALERT_AT: i64 = 22;

/// Serves `/metrics` from the script; the clock starts when `start` is called.
#[derive(Clone, Default)]
struct Exporter {
    started: Arc<Mutex<Option<Instant>>>,
}

impl Exporter {
    fn start(&self) {
        *self.started.lock().unwrap() = Some(Instant::now());
    }

    fn metrics(&self) -> String {
        let elapsed = self
            .started
            .lock()
            .unwrap()
            .map_or(0.0, |at| at.elapsed().as_secs_f64());
        let memory = 100e6 + (elapsed - MEMORY_CLIMBS_AT).max(0.0) * 20e6;
        let errors = ((elapsed - ERRORS_START_AT).max(0.0) * 10.0).floor();
        format!(
            "app_memory_bytes{{service=\"checkout\"}} {memory}\n\
             app_errors_total{{service=\"checkout\"}} {errors}\n\
             app_cpu_usage{{service=\"checkout\"}} 0.5\n"
        )
    }

    /// Answers every connection with the metrics, one request each.
    async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let exporter = self.clone();
            tokio::spawn(async move {
                let mut request = [0_u8; 4096];
                let _ = stream.read(&mut request).await;
                let body = exporter.metrics();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `query` on Prometheus until it answers a sample for which `accept` holds.
async fn until(prometheus: &str, query: &str, accept: impl Fn(f64) -> bool, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        let answer = client
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await;
        if let Ok(answer) = answer
            && let Ok(body) = answer.json::<serde_json::Value>().await
        {
            let value = body["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok());
            if value.is_some_and(&accept) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered `{query}` as wanted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_signal_that_moved_first_is_ranked_first_cited_and_raises_its_pattern() {
    let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        std::path::Path::new(&binary).exists(),
        "{binary} is missing: install Debian's `prometheus` package (`make test` does)"
    );
    let exporter = Exporter::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(exporter.clone().serve(listener));

    let dir = std::env::temp_dir().join(format!(
        "aurora-prometheus-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut server = tokio::process::Command::new(&binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let prometheus = format!("http://127.0.0.1:{port}");
    // Scraping first, so the window's baseline holds samples; then the script starts.
    until(
        &prometheus,
        r#"up{job="exporter"}"#,
        |v| v == 1.0,
        Duration::from_secs(60),
    )
    .await;
    // … and the error rate already has samples (zero), or it would read as a series that
    // appeared with the errors.
    until(
        &prometheus,
        r#"sum(rate(app_errors_total{service="checkout"}[5s]))"#,
        |_| true,
        Duration::from_secs(60),
    )
    .await;
    exporter.start();
    let script_start = Utc::now();
    let started_at = script_start + TimeDelta::seconds(ALERT_AT);
    let settings = PrometheusSettings {
        url: prometheus.clone(),
        users: vec!["alice".into()],
        bearer_token_env: None,
        before_secs: 20,
        after_secs: 10,
        step_secs: 1,
        timeout_secs: 5,
        signals: [
            ("cpu", r#"app_cpu_usage{service="{service}"}"#),
            ("memory", r#"app_memory_bytes{service="{service}"}"#),
            (
                "errors",
                r#"sum(rate(app_errors_total{service="{service}"}[5s]))"#,
            ),
        ]
        .into_iter()
        .map(|(name, query)| SignalTemplate {
            name: name.into(),
            query: query.into(),
        })
        .collect(),
    };
    // The window ends 10 s after the alert: wait until Prometheus holds samples that late.
    let window_end = (started_at + TimeDelta::seconds(11)).timestamp();
    until(
        &prometheus,
        r#"timestamp(app_cpu_usage{service="checkout"})"#,
        |at| at >= window_end as f64,
        Duration::from_secs(90),
    )
    .await;

    let expression = r#"sum(rate(app_errors_total{service="checkout"}[5s])) > 1"#;
    let alert = AlertContext {
        id: 1,
        source_type: "alertmanager".into(),
        title: "CheckoutHighErrorRate".into(),
        severity: "critical".into(),
        status: "firing".into(),
        service: Some("checkout".into()),
        environment: Some("production".into()),
        labels: Default::default(),
        started_at,
        url: Some(format!(
            "{prometheus}/graph?g0.expr={}&g0.tab=1",
            form_urlencoded::byte_serialize(expression.as_bytes()).collect::<String>()
        )),
        description: Some("5xx rate above 5% for 10 minutes".into()),
        runbook_url: None,
    };
    let probe = MetricsProbe::new(settings);
    assert!(
        probe.gather("mallory", &alert).await.is_none(),
        "a user the settings do not list queries nothing"
    );
    let evidence = probe
        .gather("alice", &alert)
        .await
        .expect("the alert carries its expression");
    server.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let names: Vec<&str> = evidence.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["memory", "errors", "cpu"], "{evidence:#?}");
    let memory = evidence.signals[0]
        .reading
        .movement()
        .expect("memory moved");
    let errors = evidence.signals[1]
        .reading
        .movement()
        .expect("errors moved");
    assert_eq!(
        evidence.signals[2].reading,
        aurora_rca::Reading::Still,
        "{evidence:#?}"
    );
    let offset = |at: chrono::DateTime<Utc>| (at - script_start).num_milliseconds() as f64 / 1000.0;
    assert!(
        (MEMORY_CLIMBS_AT - 1.0..MEMORY_CLIMBS_AT + 4.0).contains(&offset(memory.at)),
        "memory moved at {}",
        offset(memory.at)
    );
    assert!(
        (ERRORS_START_AT - 1.0..ERRORS_START_AT + 5.0).contains(&offset(errors.at)),
        "errors moved at {}",
        offset(errors.at)
    );
    let expression_moved = evidence
        .expression_reading
        .movement()
        .expect("the alert's expression moved");
    assert!(offset(expression_moved.at) >= ERRORS_START_AT - 1.0);
    assert_eq!(
        evidence.expression,
        r#"sum((sum(rate(app_errors_total{service="checkout"}[5s]))))"#
    );

    // The analyst: with the metrics, memory pressure is believed more than without them, and
    // its evidence cites the query.
    let knowledge = KnowledgeBase::builtin();
    let mut context = IncidentContext {
        alert,
        correlated: vec![],
        deployments: vec![],
        similar: vec![],
        commands: vec![],
        metrics: None,
    };
    context.alert.description = Some(
        "5xx rate above 5% for 10 minutes. Pods were OOMKilled while memory usage climbed.".into(),
    );
    let memory_confidence = |context: &IncidentContext| {
        analyse(context, &knowledge, Utc::now())
            .hypotheses
            .iter()
            .filter(|h| h.basis == aurora_rca::Basis::Pattern("memory-pressure".into()))
            .map(|h| h.confidence)
            .fold(0.0, f64::max)
    };
    let without = memory_confidence(&context);
    context.metrics = Some(evidence);
    let with = memory_confidence(&context);
    assert!(without > 0.0 && with > without, "{without} → {with}");
    let analysis = analyse(&context, &knowledge, Utc::now());
    let cited = analysis
        .hypotheses
        .iter()
        .find(|h| h.basis == aurora_rca::Basis::Pattern("memory-pressure".into()))
        .unwrap();
    assert!(
        cited
            .evidence
            .iter()
            .any(|e| e.contains("metrics support it")
                && e.contains(r#"app_memory_bytes{service="checkout"}"#)),
        "{:#?}",
        cited.evidence
    );
    assert!(
        analysis
            .thoughts
            .iter()
            .any(|(_, t)| t.contains("Standard signals that moved, earliest first: memory at")),
        "{:#?}",
        analysis.thoughts
    );
}
