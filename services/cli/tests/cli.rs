//! The `aurora` binary as scripts use it, against a fresh database.

use std::path::Path;
use std::process::{Command, Output};

use aurora_testkit::TestDb;
use serde_json::Value;

/// A fixed test key (32 bytes, base64), so the test can open what the CLI sealed.
const TEST_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn aurora(db: Option<&TestDb>, args: &[&str]) -> Output {
    aurora_with_input(db, args, "")
}

/// Runs `aurora` with `input` on its standard input (signing secrets never go in argv).
fn aurora_with_input(db: Option<&TestDb>, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_aurora"));
    command
        .args(args)
        .env("AURORA__INGRESS__PUBLIC_URL", "https://alerts.example.com/")
        .env("AURORA__SECRETS__ENCRYPTION_KEY", TEST_KEY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(db) = db {
        command.env("AURORA__DATABASE__URL", db.url());
    }
    let mut child = command.spawn().expect("the binary runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .expect("the binary reads its input");
    child.wait_with_output().expect("the binary runs")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_integrations_are_created_once_with_tokens_printed_once() {
    let db = TestDb::new().await;
    let user = json(&aurora(Some(&db), &["user", "create", "alice", "--json"]));
    assert_eq!(user["user"], "alice");
    assert!(user["api_token"].as_str().unwrap().starts_with("aur_api_"));
    assert_eq!(
        user["api_token"].as_str().unwrap().len(),
        "aur_api_".len() + 64,
        "256 random bits"
    );

    let again = aurora(Some(&db), &["user", "create", "alice"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already exists"));

    let integration = json(&aurora_with_input(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "alice",
            "--source",
            "grafana",
            "--signing-secret-file",
            "-",
            "--json",
        ],
        "s3cret\n",
    ));
    assert_eq!(integration["source"], "grafana");
    assert_eq!(
        integration["url"],
        "https://alerts.example.com/api/grafana/alerts"
    );
    assert!(
        integration["token"]
            .as_str()
            .unwrap()
            .starts_with("aur_whk_")
    );

    let duplicate = aurora(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "alice",
            "--source",
            "grafana",
        ],
    );
    assert_eq!(duplicate.status.code(), Some(2));
    assert!(
        stderr(&duplicate).contains("already has a live grafana integration"),
        "{}",
        stderr(&duplicate)
    );
    let unknown_source = aurora(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "alice",
            "--source",
            "nagios",
        ],
    );
    assert_eq!(unknown_source.status.code(), Some(2));
    assert!(stderr(&unknown_source).contains("unknown source `nagios`"));
    let unknown_user = aurora(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "bob",
            "--source",
            "splunk",
        ],
    );
    assert_eq!(unknown_user.status.code(), Some(2));
    assert!(stderr(&unknown_user).contains("no user named `bob`"));

    // Without a key, a signing secret is refused rather than stored in clear.
    let secret_file = std::env::temp_dir().join(format!("aurora-cli-key-{}", std::process::id()));
    std::fs::write(&secret_file, "x\n").unwrap();
    let without_key = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args([
            "integration",
            "create",
            "--user",
            "alice",
            "--source",
            "pagerduty",
            "--signing-secret-file",
            secret_file.to_str().unwrap(),
        ])
        .env("AURORA__DATABASE__URL", db.url())
        .env_remove("AURORA__SECRETS__ENCRYPTION_KEY")
        .output()
        .unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    assert_eq!(without_key.status.code(), Some(2));
    assert!(
        stderr(&without_key).contains("AURORA__SECRETS__ENCRYPTION_KEY"),
        "{}",
        stderr(&without_key)
    );

    // Revoking stops the token and frees the source for a new integration.
    let revoked = aurora(
        Some(&db),
        &[
            "integration",
            "revoke",
            "--user",
            "alice",
            "--source",
            "grafana",
        ],
    );
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let again = aurora(
        Some(&db),
        &[
            "integration",
            "revoke",
            "--user",
            "alice",
            "--source",
            "grafana",
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    let mut check = db.connect().await;
    let old =
        aurora_db::integrations::find_by_token(&mut check, integration["token"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert!(old.revoked_at.is_some());
    assert!(
        json(&aurora(
            Some(&db),
            &[
                "integration",
                "create",
                "--user",
                "alice",
                "--source",
                "grafana",
                "--json"
            ]
        ))["token"]
            .is_string()
    );

    // Tokens are stored only as hashes.
    let mut conn = db.connect().await;
    let token = integration["token"].as_str().unwrap();
    let found = aurora_db::integrations::find_by_token(&mut conn, token)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.signing_secrets[0].starts_with("enc:v2:"),
        "sealed at rest: {:?}",
        found.signing_secrets
    );
    let key = aurora_db::secret_box::SecretBox::from_base64(TEST_KEY).unwrap();
    assert_eq!(found.open_secrets(&key).unwrap(), ["s3cret"]);
    assert!(
        !format!("{found:?}").contains("s3cret"),
        "Debug hides secrets"
    );
}

#[test]
fn normalize_prints_one_object_and_exits_2_for_a_body_it_cannot_take() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/vendors/tests/examples/grafana_unified_checkout_critical.json");
    let result = json(&aurora(
        None,
        &[
            "normalize",
            "--source",
            "grafana",
            example.to_str().unwrap(),
        ],
    ));
    assert_eq!(result["deployment"], Value::Null);
    let alert = &result["alerts"][0];
    for field in [
        "source_type",
        "fingerprint",
        "status",
        "severity",
        "title",
        "service",
        "environment",
        "started_at",
        "labels",
        "url",
    ] {
        assert!(alert.get(field).is_some(), "field {field} in {alert}");
    }
    assert_eq!(alert["started_at"], "2026-11-27T08:15:00Z");

    let dir = std::env::temp_dir().join(format!("aurora-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"receiver": "x"}"#).unwrap();
    let refused = aurora(
        None,
        &["normalize", "--source", "grafana", bad.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("missing field `alerts`"),
        "{}",
        stderr(&refused)
    );
    assert!(refused.stdout.is_empty());
    let missing = aurora(
        None,
        &[
            "normalize",
            "--source",
            "grafana",
            dir.join("absent.json").to_str().unwrap(),
        ],
    );
    assert_eq!(missing.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_and_replayed_on_their_subject() {
    let db = TestDb::new().await;
    let bus = aurora_testkit::TestBus::new().await;
    let subject = bus
        .bus
        .topology()
        .alert_subject(aurora_domain::SourceType::Grafana);
    let mut conn = db.connect().await;
    let id = aurora_db::dead_letters::record(
        &mut conn,
        &aurora_db::dead_letters::NewDeadLetter {
            stream: &bus.bus.topology().alerts_stream(),
            subject: &subject,
            consumer: "correlator",
            reason: "cannot decode message: expected value",
            payload: br#"{"replay":"me"}"#,
            deliveries: 1,
        },
    )
    .await
    .unwrap();
    let with_bus = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aurora"))
            .args(args)
            .env("AURORA__DATABASE__URL", db.url())
            .env("AURORA__NATS__URL", &bus.url)
            .env("AURORA__NATS__PREFIX", &bus.prefix)
            .output()
            .unwrap()
    };
    let listed = json(&with_bus(&["dead-letters", "list", "--json"]));
    assert_eq!(listed["dead_letters"][0]["id"], id);
    assert_eq!(
        listed["dead_letters"][0]["reason"],
        "cannot decode message: expected value"
    );
    let replayed = with_bus(&["dead-letters", "replay", &id.to_string()]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let messages = bus
        .messages(&bus.bus.topology().alerts_stream(), &subject)
        .await;
    assert_eq!(messages, [serde_json::json!({"replay": "me"})]);
    assert!(
        aurora_db::dead_letters::get(&mut conn, id)
            .await
            .unwrap()
            .unwrap()
            .replayed_at
            .is_some()
    );
    let missing = with_bus(&["dead-letters", "replay", "999999"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_rotate_and_revoke_and_only_the_newest_opens_the_api() {
    let db = TestDb::new().await;
    let created = json(&aurora(Some(&db), &["user", "create", "carol", "--json"]));
    let first = created["api_token"].as_str().unwrap().to_owned();
    let mut conn = db.connect().await;
    let opens = async |conn: &mut aurora_db::AsyncPgConnection, token: &str| {
        aurora_db::users::find_by_api_token(conn, token)
            .await
            .unwrap()
            .is_some()
    };
    assert!(opens(&mut conn, &first).await);
    let rotated = json(&aurora(
        Some(&db),
        &["user", "rotate-token", "carol", "--json"],
    ));
    let second = rotated["api_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(
        !opens(&mut conn, &first).await,
        "the old token stopped working"
    );
    assert!(opens(&mut conn, &second).await);
    let revoked = aurora(Some(&db), &["user", "revoke-token", "carol"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(!opens(&mut conn, &second).await);
    assert!(!String::from_utf8_lossy(&revoked.stdout).contains("aur_api_"));
    let unknown = aurora(Some(&db), &["user", "rotate-token", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_secrets_come_from_a_file_and_survive_a_key_rotation() {
    let db = TestDb::new().await;
    json(&aurora(Some(&db), &["user", "create", "dave", "--json"]));
    let dir = std::env::temp_dir().join(format!("aurora-cli-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets");
    std::fs::write(&file, "first\n\n  second  \n").unwrap();
    let created = json(&aurora(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "dave",
            "--source",
            "jenkins",
            "--signing-secret-file",
            file.to_str().unwrap(),
            "--signature-timestamp",
            "optional",
            "--json",
        ],
    ));
    let token = created["token"].as_str().unwrap().to_owned();
    let mut conn = db.connect().await;
    let stored = async |conn: &mut aurora_db::AsyncPgConnection| {
        aurora_db::integrations::find_by_token(conn, &token)
            .await
            .unwrap()
            .unwrap()
    };
    let before = stored(&mut conn).await;
    assert_eq!(before.signature_timestamp.as_deref(), Some("optional"));
    let old_key = aurora_db::secret_box::SecretBox::from_base64(TEST_KEY).unwrap();
    assert_eq!(before.open_secrets(&old_key).unwrap(), ["first", "second"]);
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let refused = aurora(
        Some(&db),
        &[
            "integration",
            "secrets",
            "--user",
            "dave",
            "--source",
            "jenkins",
            "--signing-secret-file",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("holds no signing secret"),
        "{}",
        stderr(&refused)
    );

    // The key rotates: the new key seals, the old one is kept only to open.
    let new_key = aurora_db::secret_box::SecretBox::generate_key();
    let rotate = |previous: &str| {
        Command::new(env!("CARGO_BIN_EXE_aurora"))
            .args(["secrets", "rotate-key"])
            .env("AURORA__DATABASE__URL", db.url())
            .env("AURORA__SECRETS__ENCRYPTION_KEY", &new_key)
            .env("AURORA__SECRETS__PREVIOUS_ENCRYPTION_KEYS", previous)
            .output()
            .unwrap()
    };
    let without_old = rotate("");
    assert_eq!(
        without_old.status.code(),
        Some(2),
        "the old key is needed to open"
    );
    assert!(stderr(&without_old).contains("previous_encryption_keys"));
    let rotated = rotate(TEST_KEY);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("1 integration(s)"));
    let after = stored(&mut conn).await;
    let new_only = aurora_db::secret_box::SecretBox::from_base64(&new_key).unwrap();
    assert_eq!(after.open_secrets(&new_only).unwrap(), ["first", "second"]);
    assert!(
        after.open_secrets(&old_key).is_err(),
        "nothing left under the old key"
    );

    let set = aurora(
        Some(&db),
        &[
            "integration",
            "signature-timestamp",
            "--user",
            "dave",
            "--source",
            "jenkins",
            "default",
        ],
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let pointless = aurora(
        Some(&db),
        &[
            "integration",
            "signature-timestamp",
            "--user",
            "dave",
            "--source",
            "datadog",
            "required",
        ],
    );
    assert_eq!(pointless.status.code(), Some(2));
    assert!(
        stderr(&pointless).contains("carry no timestamp"),
        "{}",
        stderr(&pointless)
    );
    assert_eq!(stored(&mut conn).await.signature_timestamp, None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_notifications_are_listed_with_their_reason_and_retried() {
    let db = TestDb::new().await;
    let (_, incident) = db.user_with_incident("dave").await;
    let mut conn = db.connect().await;
    use aurora_db::notifications::{self, NewDelivery, NewTarget};
    notifications::record(
        &mut conn,
        &[NewTarget {
            incident_id: incident,
            target: "webhook:bridge".into(),
            endpoint: "webhook:bridge".into(),
            rule: "oncall".into(),
            notify_after: std::time::Duration::ZERO,
        }],
        &[NewDelivery {
            incident_id: incident,
            target: "webhook:bridge".into(),
            endpoint: "webhook:bridge".into(),
            action: "event",
            event_key: "created".into(),
            event_type: "incident.created".into(),
        }],
    )
    .await
    .unwrap();
    let claimed = notifications::claim(
        &mut conn,
        "webhook:bridge",
        10,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    notifications::dead(&mut conn, &claimed[0], "HTTP 410: gone")
        .await
        .unwrap();

    let listed = json(&aurora(Some(&db), &["notifications", "failed", "--json"]));
    assert_eq!(listed["failed"][0]["id"], claimed[0].id);
    assert_eq!(listed["failed"][0]["last_error"], "HTTP 410: gone");
    assert_eq!(listed["failed"][0]["target"], "webhook:bridge");
    let retried = aurora(
        Some(&db),
        &["notifications", "retry", &claimed[0].id.to_string()],
    );
    assert!(retried.status.success(), "{}", stderr(&retried));
    let due = notifications::claim(
        &mut conn,
        "webhook:bridge",
        10,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(due.len(), 1, "due again");
    let listed = json(&aurora(Some(&db), &["notifications", "failed", "--json"]));
    assert_eq!(listed["failed"], serde_json::json!([]));
    let missing = aurora(Some(&db), &["notifications", "retry", "999999"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn silences_are_created_listed_and_expired_and_bad_ones_exit_2() {
    let db = TestDb::new().await;
    json(&aurora(Some(&db), &["user", "create", "dana", "--json"]));
    let created = json(&aurora(
        Some(&db),
        &[
            "silence",
            "create",
            "--user",
            "dana",
            "--matcher",
            "service=checkout",
            "--matcher",
            "severity!~critical|high",
            "--duration",
            "2h",
            "--comment",
            "database upgrade",
            "--on-expiry",
            "drop",
            "--json",
        ],
    ));
    let silence = &created["silence"];
    let id = silence["id"].as_str().unwrap().to_owned();
    assert_eq!(silence["on_expiry"], "drop");
    assert_eq!(silence["created_by"], "dana");
    assert_eq!(
        silence["matchers"],
        serde_json::json!([
            {"field": "service", "op": "=", "value": "checkout"},
            {"field": "severity", "op": "!~", "value": "critical|high"},
        ])
    );
    let listed = json(&aurora(
        Some(&db),
        &["silence", "list", "--user", "dana", "--json"],
    ));
    assert_eq!(listed["silences"][0]["id"], id.as_str());
    let people = aurora(Some(&db), &["silence", "list", "--user", "dana"]);
    let text = String::from_utf8_lossy(&people.stdout);
    assert!(
        text.contains("service=checkout, severity!~critical|high"),
        "{text}"
    );

    let expired = aurora(Some(&db), &["silence", "expire", "--user", "dana", &id]);
    assert!(expired.status.success(), "{}", stderr(&expired));
    let listed = json(&aurora(
        Some(&db),
        &["silence", "list", "--user", "dana", "--json"],
    ));
    assert_eq!(
        listed["silences"],
        serde_json::json!([]),
        "expired ones are left out"
    );
    let all = json(&aurora(
        Some(&db),
        &[
            "silence",
            "list",
            "--user",
            "dana",
            "--include-expired",
            "--json",
        ],
    ));
    assert_eq!(all["silences"][0]["id"], id.as_str());
    let again = aurora(Some(&db), &["silence", "expire", "--user", "dana", &id]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already ended"));

    for (args, says) in [
        (
            vec!["--matcher", "host=db-1", "--duration", "1h"],
            "unknown field `host`",
        ),
        (
            vec!["--matcher", "service=x", "--duration", "soon"],
            "invalid `duration`",
        ),
        (vec!["--matcher", "service=x"], "`ends_at` or `duration`"),
    ] {
        let mut full = vec!["silence", "create", "--user", "dana", "--comment", "why"];
        full.extend(args);
        let refused = aurora(Some(&db), &full);
        assert_eq!(refused.status.code(), Some(2), "{full:?}");
        assert!(
            stderr(&refused).contains(says),
            "{full:?}: {}",
            stderr(&refused)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_are_expected_and_dropped_and_bad_intervals_exit_2() {
    let db = TestDb::new().await;
    json(&aurora(Some(&db), &["user", "create", "erin", "--json"]));
    json(&aurora(
        Some(&db),
        &[
            "integration",
            "create",
            "--user",
            "erin",
            "--source",
            "alertmanager",
            "--json",
        ],
    ));
    let heartbeat = |extra: &[&str]| {
        let mut args = vec![
            "integration",
            "heartbeat",
            "--user",
            "erin",
            "--source",
            "alertmanager",
            "--alert",
            "Watchdog",
        ];
        args.extend(extra);
        aurora(Some(&db), &args)
    };
    let set = heartbeat(&["--every", "5m"]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(String::from_utf8_lossy(&set.stdout).contains("at least every 5m"));
    let mut conn = db.connect().await;
    let user = aurora_db::users::find_by_name(&mut conn, "erin")
        .await
        .unwrap()
        .unwrap();
    let expected =
        aurora_db::heartbeats::for_user(&mut conn, &aurora_domain::UserId::parse(user.id).unwrap())
            .await
            .unwrap();
    assert_eq!(expected.len(), 1);
    assert_eq!(expected[0].alert_name, "Watchdog");

    let too_short = heartbeat(&["--every", "1s"]);
    assert_eq!(too_short.status.code(), Some(2));
    assert!(
        stderr(&too_short).contains("at least 5s"),
        "{}",
        stderr(&too_short)
    );
    let off = heartbeat(&["--off"]);
    assert!(off.status.success(), "{}", stderr(&off));
    let again = heartbeat(&["--off"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("expects no `Watchdog`"));
    let no_integration = aurora(
        Some(&db),
        &[
            "integration",
            "heartbeat",
            "--user",
            "erin",
            "--source",
            "grafana",
            "--alert",
            "W",
            "--every",
            "5m",
        ],
    );
    assert_eq!(no_integration.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_says_what_would_go_and_deletes_it() {
    let db = TestDb::new().await;
    let dry = json(&aurora(
        Some(&db),
        &["retention", "run", "--dry-run", "--json"],
    ));
    assert_eq!(
        dry,
        serde_json::json!({"dry_run": true, "incidents": 0, "alerts": 0, "raw_payloads": 0,
                           "noise_counts": 0})
    );
    let text = aurora(Some(&db), &["retention", "run", "--dry-run"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("Would delete 0 resolved or merged incident(s) (after 365 days)"),
        "{text}"
    );
    let forever = {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aurora"));
        command
            .args(["retention", "run"])
            .env("AURORA__DATABASE__URL", db.url())
            .env("AURORA__RETENTION__ALERTS_DAYS", "0");
        command.output().unwrap()
    };
    assert!(forever.status.success(), "{}", stderr(&forever));
    assert!(String::from_utf8_lossy(&forever.stdout).contains("resolved alert(s) (kept for ever)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn correlation_replay_reads_proposed_settings_and_refuses_bad_ones() {
    let db = TestDb::new().await;
    json(&aurora(Some(&db), &["user", "create", "finn", "--json"]));
    let dir = std::env::temp_dir().join(format!("aurora-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let proposed = dir.join("proposed.toml");
    std::fs::write(&proposed, "[correlation]\nthreshold = 0.3\n").unwrap();
    let invalid = dir.join("invalid.toml");
    std::fs::write(&invalid, "[correlation]\nthreshold = 2.0\n").unwrap();
    let replay = |since: &str, config: &Path, json: bool| {
        let mut args = vec![
            "correlation",
            "replay",
            "--user",
            "finn",
            "--since",
            since,
            "--config",
            config.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        aurora(Some(&db), &args)
    };
    let report = json(&replay("7d", &proposed, true));
    assert_eq!(report["alerts"], 0);
    assert_eq!(report["merges"], serde_json::json!([]));
    let text = replay("24h", &proposed, false);
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("Replayed 0 alert(s) of finn"));
    let bad_since = replay("last week", &proposed, false);
    assert_eq!(bad_since.status.code(), Some(2));
    assert!(stderr(&bad_since).contains("invalid --since"));
    let bad_config = replay("7d", &invalid, false);
    assert_eq!(bad_config.status.code(), Some(2));
    assert!(
        stderr(&bad_config).contains("correlation.threshold"),
        "{}",
        stderr(&bad_config)
    );
    let missing = replay("7d", &dir.join("none.toml"), false);
    assert_eq!(missing.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
