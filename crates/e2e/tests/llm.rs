//! The language-model analyst against a small OpenAI-compatible server started by the test
//! (the one permitted stand-in: no provider is reachable here): streamed thoughts, a tool call
//! that runs a configured command and is cited, the summary; and the fallback when it fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};
use aurora_db::{analysis, incidents};
use aurora_domain::{SourceType, UserId};
use aurora_e2e::harness::{Harness, TestAlert};
use aurora_rca_worker::commands::CommandRunner;
use aurora_rca_worker::llm::LlmAnalyst;
use aurora_rca_worker::{Analyst, InvestigationOutcome};
use serde_json::{Value, json};

/// How the stand-in server behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// First asks for `df -h /`, then answers with a summary.
    UsesTool,
    /// Always fails with 500.
    Fails,
    /// As `UsesTool`, but holds its first answer until the test opens the gate.
    HoldsFirstRound,
}

struct Server {
    mode: Mode,
    requests: AtomicUsize,
    /// The messages of every request, in order.
    seen: std::sync::Mutex<Vec<Value>>,
    /// Opened by the test, for `HoldsFirstRound`.
    gate: tokio::sync::Notify,
}

fn sse(chunks: &[Value]) -> HttpResponse {
    let mut body = String::new();
    for chunk in chunks {
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .body(body)
}

fn content(text: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {"content": text}}]})
}

async fn completions(server: web::Data<Server>, request: web::Json<Value>) -> HttpResponse {
    let round = server.requests.fetch_add(1, Ordering::SeqCst);
    server
        .seen
        .lock()
        .unwrap()
        .push(request["messages"].clone());
    match server.mode {
        Mode::Fails => return HttpResponse::InternalServerError().body("upstream overloaded"),
        Mode::HoldsFirstRound if round == 0 => server.gate.notified().await,
        _ => {}
    }
    assert_eq!(request["stream"], true);
    let answered_tool = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "tool");
    if !answered_tool {
        let tools = &request["tools"][0]["function"]["parameters"]["properties"]["command"]["enum"];
        assert_eq!(
            tools,
            &json!(["df -h /"]),
            "only the configured commands are offered"
        );
        return sse(&[
            content("Checking disk usage first.\n"),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "run_diagnostic", "arguments": "{\"command\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"df -h /\"}"}}]}, "finish_reason": "tool_calls"}]}),
        ]);
    }
    let tool_output = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tool_output.contains("Filesystem"),
        "the model reads the command output: {tool_output}"
    );
    sse(&[
        content("The df output shows the root volume nearly full.\nThe disk is filling.\n"),
        content(
            "## What happened\nDiskFull on postgres.\n## Likely root cause\n1. WAL filling the volume — 80%\n",
        ),
        content(
            "## Evidence\n- command `df -h /` output\n## Next steps\n1. Free space on the volume\n",
        ),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 1234}}),
    ])
}

async fn start(mode: Mode) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        mode,
        requests: AtomicUsize::new(0),
        seen: Default::default(),
        gate: tokio::sync::Notify::new(),
    });
    let data = web::Data::from(server.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let http = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/chat/completions", web::post().to(completions))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(http);
    (url, server)
}

/// With a `df` runbook for `user`'s disk alerts.
fn analyst(base_url: String, attempts: u32, user: &UserId) -> Analyst {
    let runbook = aurora_settings::Runbook::try_from(aurora_settings::RunbookSpec {
        name: "disk".into(),
        user: user.to_string(),
        match_terms: vec!["disk".into()],
        pattern: Some("disk-exhaustion".into()),
        commands: vec![vec!["df".into(), "-h".into(), "/".into()]],
        ..Default::default()
    })
    .unwrap();
    let limits = aurora_settings::CommandLimits {
        timeout_secs: 10,
        output_cap_bytes: 65536,
        max_concurrent: 2,
        env_allowlist: vec!["PATH".into()],
    };
    Analyst {
        commands: CommandRunner::new(vec![runbook], limits),
        llm: Some(LlmAnalyst::new(aurora_settings::LlmSettings {
            base_url,
            model: "test-model".into(),
            api_key_env: None,
            max_tokens: 20_000,
            max_tool_calls: 2,
            timeout_secs: 30,
            attempts,
        })),
        ..Analyst::builtin()
    }
}

fn disk_full() -> TestAlert {
    TestAlert::firing(
        SourceType::Alertmanager,
        "disk-full-db-1",
        "postgres",
        "DiskFull",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_streams_thoughts_runs_a_configured_command_and_writes_the_summary() {
    let (url, server) = start(Mode::UsesTool).await;
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(analyst(url, 3, &h.user));
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::Completed
    );
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        2,
        "one round for the tool call, one for the answer"
    );

    let mut conn = h.db.connect().await;
    let thoughts: Vec<String> = analysis::thoughts(&mut conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.content)
        .collect();
    for expected in [
        "Checking disk usage first.",
        "The model runs `df -h /`.",
        "The disk is filling.",
    ] {
        assert!(
            thoughts.iter().any(|t| t == expected),
            "{expected:?} in {thoughts:?}"
        );
    }
    let finished = thoughts
        .iter()
        .find(|t| {
            t.starts_with("The language-model analyst finished: 1 diagnostic command(s), about ")
        })
        .unwrap();
    let tokens: u64 = finished
        .split("about ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        tokens > 1234,
        "the reported 1,234 of the last round plus an estimate of the first: {tokens}"
    );
    let runs = analysis::command_runs(&mut conn, incident_id)
        .await
        .unwrap();
    assert_eq!((runs.len(), runs[0].exit_code), (1, Some(0)));
    let incident = incidents::get(&mut conn, incident_id).await.unwrap();
    let summary = incident.aurora_summary.unwrap();
    assert!(
        summary.starts_with("## What happened\nDiskFull on postgres."),
        "{summary}"
    );
    assert!(summary.contains("## Evidence\n- command `df -h /` output"));
    assert_eq!(incident.status, "analyzed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_joining_while_the_model_works_is_given_to_it_as_new_context() {
    let (url, server) = start(Mode::HoldsFirstRound).await;
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(analyst(url, 3, &h.user));
    let running = tokio::spawn(async move { investigator.investigate(incident_id).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.requests.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the model was never asked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The first round is held: the alert joins while the model works.
    let joining = TestAlert::firing(
        SourceType::Grafana,
        "pg-replica",
        "postgres",
        "PostgreSQL replication lag 300s",
    );
    assert!(h.send(&joining).await.opened_incidents.is_empty());
    server.gate.notify_one();
    assert_eq!(
        running.await.unwrap().unwrap(),
        InvestigationOutcome::Completed
    );

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "one round for the tool call, one for the answer"
    );
    let told = |messages: &Value| {
        messages.as_array().unwrap().iter().any(|m| {
            m["role"] == "user"
                && m["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("New alerts joined the incident")
                && m["content"]
                    .as_str()
                    .unwrap()
                    .contains("PostgreSQL replication lag 300s")
        })
    };
    assert!(!told(&seen[0]) && told(&seen[1]), "{seen:#?}");
    let mut conn = h.db.connect().await;
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(thoughts.iter().any(|t| t.content.starts_with(
        "1 alert(s) joined the incident while the analysis ran: \"PostgreSQL replication lag 300s\""
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_falls_back_to_the_built_in_analyst_and_says_so() {
    let (url, server) = start(Mode::Fails).await;
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(analyst(url, 2, &h.user));
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::Completed
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 2, "retried once");

    let mut conn = h.db.connect().await;
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    let fallback = thoughts
        .iter()
        .find(|t| t.kind == "error")
        .expect("the failure is a thought");
    assert!(
        fallback.content.contains("HTTP 500")
            && fallback
                .content
                .contains("falling back to the built-in analyst"),
        "{}",
        fallback.content
    );
    let summary = incidents::get(&mut conn, incident_id)
        .await
        .unwrap()
        .aurora_summary
        .unwrap();
    let cause = summary.split("## Likely root cause").nth(1).unwrap();
    assert!(
        cause
            .trim_start()
            .starts_with("1. Logs, temporary files or database WAL"),
        "built-in summary: {summary}"
    );
    assert!(
        summary.contains("command `df -h /` (exit 0)"),
        "the fallback ran the runbook: {summary}"
    );
}
