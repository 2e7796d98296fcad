//! No secret ever appears in a log line: every log of a run is captured (all levels, all
//! crates) while tokens and signing secrets are used rightly and wrongly, then searched.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_domain::{SourceType, UserId};
use aurora_e2e::http::{example, get_json, hmac_sha256_hex, post_webhook};
use aurora_e2e::{Stack, eventually};
use reqwest::StatusCode;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_used_in_a_run_appears_in_its_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let signing_secret = "s3cr3t-signing-value-7f3a";
    let token = stack
        .integration(&owner, SourceType::Grafana, &[signing_secret])
        .await;
    let url = stack.webhook_url(SourceType::Grafana);
    let body = example("grafana_unified_checkout_critical.json");
    let signature = [(
        "X-Grafana-Alerting-Signature",
        hmac_sha256_hex(signing_secret, &body),
    )];
    // Rightly: bearer, and the token in the query string as Splunk sends it.
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &signature).await.0,
        StatusCode::ACCEPTED
    );
    let in_query = format!("{url}?token={token}");
    assert_eq!(
        post_webhook(&in_query, None, &body, &signature).await.0,
        StatusCode::ACCEPTED
    );
    // Wrongly: a forged signature, a wrong token, a token as a Basic password.
    let forged = [(
        "X-Grafana-Alerting-Signature",
        hmac_sha256_hex("guess", &body),
    )];
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &forged).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong_token = "aur_whk_0123456789abcdef-not-a-real-token";
    assert_eq!(
        post_webhook(&url, Some(wrong_token), &body, &signature)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = get_json(
        &format!("{}/api/incidents", stack.api_url),
        Some(&owner.api_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let user = UserId::parse(owner.id.clone()).unwrap();
    eventually("the analysis", Duration::from_secs(30), || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let all = aurora_db::incidents::list_for_user(&mut conn, &user, 10)
            .await
            .unwrap();
        all.iter()
            .any(|i| i.aurora_status.as_deref() == Some("complete"))
            .then_some(())
    })
    .await;
    drop(stack);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("token=[redacted]"),
        "the access log ran and was captured"
    );
    assert!(logs.contains("webhook refused"), "refusals were logged");
    for (name, secret) in [
        ("webhook token", token.as_str()),
        ("API token", owner.api_token.as_str()),
        ("signing secret", signing_secret),
        ("wrong token", wrong_token),
    ] {
        assert!(!logs.contains(secret), "the {name} appears in the logs");
    }
}
