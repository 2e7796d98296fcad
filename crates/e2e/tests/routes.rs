//! Every vendor route through the running ingress: a real payload goes all the way, signed
//! routes check their signatures, a replayed delivery is harmless, and nothing a sender can
//! send gets a 500.

use std::time::Duration;

use aurora_db::{alerts, deployments, incidents};
use aurora_domain::{SourceType, UserId};
use aurora_e2e::http::{example, get_json, hmac_sha256_hex as sign_hex, post_typed, post_webhook};
use aurora_e2e::{Stack, TestUser, eventually};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;

const DEADLINE: Duration = Duration::from_secs(30);

/// A payload of the repo's own for each route, and what it should leave behind.
const ROUTE_EXAMPLES: &[(SourceType, &str)] = &[
    (
        SourceType::Grafana,
        "grafana_unified_checkout_critical.json",
    ),
    (SourceType::Alertmanager, "alertmanager_group_mixed.json"),
    (
        SourceType::Datadog,
        "datadog_custom_template_triggered.json",
    ),
    (SourceType::Netdata, "netdata_alarm_older_field_names.json"),
    (
        SourceType::Pagerduty,
        "pagerduty_incident_triggered_p2.json",
    ),
    (SourceType::Splunk, "splunk_saved_search_with_severity.json"),
    (
        SourceType::Jenkins,
        "jenkins_notification_plugin_failure.json",
    ),
    (SourceType::Cloudbees, "jenkins_flat_plugin_unstable.json"),
    (SourceType::Dynatrace, "dynatrace_cloudevent_wrapped.json"),
    (SourceType::Bigpanda, "bigpanda_incident_active.json"),
];

async fn incident_titles(stack: &Stack, user: &TestUser) -> Vec<String> {
    let mut conn = stack.connections.pool.get().await.unwrap();
    let user = UserId::parse(user.id.clone()).unwrap();
    incidents::list_for_user(&mut conn, &user, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| i.alert_title)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_takes_a_real_payload_all_the_way() {
    let stack = Stack::start().await;
    // One user per route, so the alerts cannot correlate with one another.
    let mut owners = Vec::new();
    for (source, name) in ROUTE_EXAMPLES {
        let owner = stack.user(&format!("owner-{source}")).await;
        let token = stack.integration(&owner, *source, &[]).await;
        let (status, receipt) = post_webhook(
            &stack.webhook_url(*source),
            Some(&token),
            &example(name),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{source}: {receipt}");
        owners.push(owner);
    }
    let expected = [
        "CheckoutHighErrorRate",
        "DiskFull",
        "Checkout p99 latency above 2s",
        "web-3 needs attention, system.cpu, cpu utilization = 97%",
        "Checkout latency SLO burn",
        "Orders API 503 burst on api-7",
        "Build 42 of payments-api-deploy failed",
        "Build 7 of inventory-service is unstable",
        "Failure rate increase",
        "search-api: Error rate",
    ];
    for ((owner, title), (source, _)) in owners.iter().zip(expected).zip(ROUTE_EXAMPLES) {
        let titles = eventually(&format!("the {source} incident"), DEADLINE, || async {
            let titles = incident_titles(&stack, owner).await;
            (!titles.is_empty()).then_some(titles)
        })
        .await;
        assert_eq!(
            titles,
            [title],
            "{source}: the resolved entry of a group opens nothing"
        );
    }
    let mut conn = stack.connections.pool.get().await.unwrap();
    let jenkins = UserId::parse(owners[6].id.clone()).unwrap();
    let builds = deployments::for_service(&mut conn, &jenkins, "payments-api-deploy", 10)
        .await
        .unwrap();
    assert_eq!(builds.len(), 1);
    assert_eq!(
        (builds[0].result.as_str(), builds[0].build_number.as_deref()),
        ("failure", Some("42"))
    );
    assert_eq!(builds[0].environment.as_deref(), Some("production"));
    let cloudbees = UserId::parse(owners[7].id.clone()).unwrap();
    let unstable = deployments::for_service(&mut conn, &cloudbees, "inventory-service", 10)
        .await
        .unwrap();
    assert_eq!(
        (
            unstable[0].source_type.as_str(),
            unstable[0].result.as_str()
        ),
        ("cloudbees", "unstable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_routes_verify_pagerduty_and_aurora_signatures() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;

    // Jenkins: the pipeline snippet's X-Aurora-Signature over `timestamp.body`.
    let jenkins = stack
        .integration(&owner, SourceType::Jenkins, &["ci-secret"])
        .await;
    let url = stack.webhook_url(SourceType::Jenkins);
    let body = example("jenkins_notification_plugin_failure.json");
    let aurora_signed = |secret: &str, timestamp: i64| {
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&body);
        [
            ("X-Aurora-Timestamp", timestamp.to_string()),
            (
                "X-Aurora-Signature",
                format!("sha256={}", sign_hex(secret, &message)),
            ),
        ]
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post_webhook(
            &url,
            Some(&jenkins),
            &body,
            &aurora_signed("ci-secret", now)
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let untimestamped = [(
        "X-Aurora-Signature",
        format!("sha256={}", sign_hex("ci-secret", &body)),
    )];
    for refused in [
        aurora_signed("guess", now).to_vec(),
        // A request captured an hour ago, replayed.
        aurora_signed("ci-secret", now - 3600).to_vec(),
        untimestamped.to_vec(),
        Vec::new(),
    ] {
        assert_eq!(
            post_webhook(&url, Some(&jenkins), &body, &refused).await.0,
            StatusCode::UNAUTHORIZED,
            "{refused:?}"
        );
    }
    // An integration that opted into the old form takes it (its CI cannot send a timestamp).
    let mut conn = stack.db().connect().await;
    let changed = aurora_db::integrations::set_signature_timestamp(
        &mut conn,
        &owner.id,
        SourceType::Jenkins,
        Some("optional"),
    )
    .await
    .unwrap()
    .expect("the integration is live");
    stack
        .bus()
        .bus
        .announce_integration_change(&aurora_domain::IntegrationChanged {
            integration_id: changed,
        })
        .await
        .unwrap();
    eventually("the opt-in applied by the ingress", DEADLINE, || async {
        let (status, _) = post_webhook(&url, Some(&jenkins), &body, &untimestamped).await;
        (status == StatusCode::ACCEPTED).then_some(())
    })
    .await;

    // PagerDuty: several v1= signatures during a rotation, any one valid.
    let secret = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
    let pagerduty = stack
        .integration(&owner, SourceType::Pagerduty, &["rotated-out", secret])
        .await;
    let url = stack.webhook_url(SourceType::Pagerduty);
    let own = example("pagerduty_incident_triggered_p2.json");
    let rotating = [(
        "X-PagerDuty-Signature",
        format!("v1={},v1={}", sign_hex("old", &own), sign_hex(secret, &own)),
    )];
    assert_eq!(
        post_webhook(&url, Some(&pagerduty), &own, &rotating)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let stale_only = [(
        "X-PagerDuty-Signature",
        format!("v1={}", sign_hex("old", &own)),
    )];
    assert_eq!(
        post_webhook(&url, Some(&pagerduty), &own, &stale_only)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // The signed shared fixture, byte for byte, with the secret from the fixtures README.
    let Some(fixture) =
        aurora_testkit::fixture("pagerduty", "incident_priority_updated_signed.json")
    else {
        return;
    };
    let headers: Vec<(&str, String)> = fixture
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let (status, answer) = post_webhook(&url, Some(&pagerduty), &fixture.body, &headers).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("ignored")),
        "verified; a priority change opens nothing"
    );
    for position in [0, fixture.body.len() / 2, fixture.body.len() - 1] {
        let mut altered = fixture.body.clone();
        altered[position] ^= 0x01;
        assert_eq!(
            post_webhook(&url, Some(&pagerduty), &altered, &headers)
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "byte {position} changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_pagerduty_delivery_is_accepted_and_stored_once() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Pagerduty, &[]).await;
    let url = stack.webhook_url(SourceType::Pagerduty);
    let body = example("pagerduty_incident_triggered_p2.json");
    let delivery = [(
        "X-Webhook-Id",
        "0c5fe1c6-1a0a-4b8e-9b0a-5d9f0e2d6c11".to_owned(),
    )];
    for _ in 0..2 {
        let (status, receipt) = post_webhook(&url, Some(&token), &body, &delivery).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(
            receipt["delivery_id"],
            "0c5fe1c6-1a0a-4b8e-9b0a-5d9f0e2d6c11"
        );
    }
    let stream = stack.bus().bus.topology().alerts_stream();
    assert_eq!(
        stack.bus().stream_len(&stream).await,
        1,
        "the retry was dropped by its Nats-Msg-Id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datadog_takes_a_form_encoded_body_and_keeps_it_as_json() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Datadog, &[]).await;
    // Datadog's "Encode as form": the template's fields as form fields.
    let form = b"title=%5BTriggered+on+%7Bservice%3Acheckout%2Cenv%3Aprod%7D%5D+Latency+high\
&alert_id=88123456&date=1764230000000";
    let form_type = "application/x-www-form-urlencoded";
    let (status, receipt) = post_typed(
        &stack.webhook_url(SourceType::Datadog),
        Some(&token),
        form_type,
        form,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    let user = UserId::parse(owner.id.clone()).unwrap();
    let incident = eventually("the incident", DEADLINE, || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        incidents::list_for_user(&mut conn, &user, 10)
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(
        (
            incident.alert_title.as_deref(),
            incident.alert_service.as_deref()
        ),
        (Some("Latency high"), Some("checkout"))
    );
    let mut conn = stack.connections.pool.get().await.unwrap();
    let stored = alerts::for_incident(&mut conn, incident.id).await.unwrap();
    let payload = alerts::raw_payload_of(&mut conn, stored[0].id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        payload["alert_id"], "88123456",
        "the form kept as the JSON object it was read as"
    );
    // Other routes take JSON only.
    let netdata = stack.integration(&owner, SourceType::Netdata, &[]).await;
    let (status, _) = post_typed(
        &stack.webhook_url(SourceType::Netdata),
        Some(&netdata),
        form_type,
        b"alert=cpu&severity=critical",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netdata_challenge_is_answered_with_the_signing_secret() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack
        .integration(&owner, SourceType::Netdata, &["netdata-challenge-secret"])
        .await;
    let url = stack.webhook_url(SourceType::Netdata);
    let challenge = format!("{url}?crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553");
    // base64(HMAC-SHA256("netdata-challenge-secret", crc_token)), computed with Python's hmac.
    let expected = "sha256=SgSl6aczJUa2G9h0BuEgXhbAOMPiRcO7fSU4Aw6RNoE=";
    let (status, answer) = get_json(&challenge, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, serde_json::json!({ "response_token": expected }));
    // The integration token in the URL, as a webhook URL without headers carries it.
    let (status, answer) = get_json(&format!("{challenge}&token={token}"), None).await;
    assert_eq!(
        (status, answer["response_token"].as_str()),
        (StatusCode::OK, Some(expected))
    );
    // Authenticated like a delivery; nothing to answer without a token or a secret.
    assert_eq!(get_json(&challenge, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get_json(&url, Some(&token)).await.0,
        StatusCode::BAD_REQUEST,
        "no crc_token"
    );
    let unsigned_owner = stack.user("unsigned").await;
    let unsigned = stack
        .integration(&unsigned_owner, SourceType::Netdata, &[])
        .await;
    let (status, answer) = get_json(&challenge, Some(&unsigned)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("no signing secret")),
        "{answer}"
    );
    // Routes of vendors that send no challenge take no GET.
    let grafana = stack.integration(&owner, SourceType::Grafana, &[]).await;
    assert_eq!(
        get_json(&stack.webhook_url(SourceType::Grafana), Some(&grafana))
            .await
            .0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_sender_sends_gets_a_500() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let mut runner = TestRunner::deterministic();
    for (source, name) in ROUTE_EXAMPLES {
        let token = stack.integration(&owner, *source, &[]).await;
        let url = stack.webhook_url(*source);
        let base: serde_json::Value = serde_json::from_slice(&example(name)).unwrap();
        let mut bodies: Vec<Vec<u8>> = vec![
            b"{".to_vec(),
            vec![0xff, 0xfe],
            b"null".to_vec(),
            b"[]".to_vec(),
        ];
        for _ in 0..12 {
            let arbitrary = aurora_testkit::json::arbitrary_json()
                .new_tree(&mut runner)
                .unwrap()
                .current();
            bodies.push(serde_json::to_vec(&arbitrary).unwrap());
            let mutated = aurora_testkit::json::mutated(base.clone())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            bodies.push(serde_json::to_vec(&mutated).unwrap());
        }
        for body in bodies {
            let (status, answer) = post_webhook(&url, Some(&token), &body, &[]).await;
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::ACCEPTED,
                    StatusCode::BAD_REQUEST
                ]
                .contains(&status),
                "{source} answered {status} {answer} to {}",
                String::from_utf8_lossy(&body)
            );
            if status == StatusCode::BAD_REQUEST {
                assert!(
                    answer["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{answer}"
                );
            }
        }
    }
}

/// An ingress of the test's own over the stack's database and bus, with `configure` applied to
/// the stack's usual state; answers its base URL.
fn own_ingress(stack: &Stack, configure: impl FnOnce(&mut aurora_ingress::IngressState)) -> String {
    let mut state = aurora_ingress::IngressState {
        pool: stack.connections.pool.clone(),
        bus: stack.connections.bus.clone(),
        clock: std::sync::Arc::new(aurora_ingress::SystemClock),
        limits: aurora_ingress::RequestLimits::default(),
        metrics: aurora_ingress::IngressMetrics::new(&prometheus::Registry::new()),
        auth_failures: aurora_ingress::ClientFailures::new(0, Duration::from_secs(60)),
        signature_tolerance: Duration::from_secs(300),
        rate_limiter: aurora_ingress::RateLimiter::new(
            std::num::NonZeroU32::new(1000).unwrap(),
            std::num::NonZeroU32::new(1000).unwrap(),
        ),
        secret_box: Some(stack.secret_box.clone()),
        integrations: aurora_ingress::IntegrationCache::new(
            Duration::from_secs(60),
            Duration::from_secs(300),
        ),
    };
    configure(&mut state);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = aurora_ingress_service::server(
        state,
        aurora_vendors::all(),
        stack.connections.readiness(),
        listener,
    )
    .unwrap();
    tokio::spawn(server);
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_failure_limit_is_refused_unknown_tokens_but_known_ones_pass() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let known = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let other = stack.user("other").await;
    let unknown_yet = stack.integration(&other, SourceType::Grafana, &[]).await;
    let base = own_ingress(&stack, |state| {
        state.auth_failures = aurora_ingress::ClientFailures::new(3, Duration::from_secs(60));
    });
    let url = format!("{base}/api/grafana/alerts");
    let body = example("grafana_unified_checkout_critical.json");
    assert_eq!(
        post_webhook(&url, Some(&known), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
    for guess in ["aur_whk_guess1", "aur_whk_guess2", "aur_whk_guess3"] {
        let (status, answer) = post_webhook(&url, Some(guess), &body, &[]).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid token"))
        );
    }
    let (status, answer) = post_webhook(&url, Some("aur_whk_guess4"), &body, &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{answer}"
    );
    // A valid token this ingress has not seen yet is not even looked up from this address...
    assert_eq!(
        post_webhook(&url, Some(&unknown_yet), &body, &[]).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...while a sender it knows, sharing the address behind a balancer, is not locked out.
    assert_eq!(
        post_webhook(&url, Some(&known), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_its_time_limit_gets_408_and_a_strangers_is_never_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let base = own_ingress(&stack, |state| {
        state.limits.body_read_timeout = Duration::from_secs(1);
    });
    let address = base.trim_start_matches("http://").to_owned();
    let send_part = |token: String| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let head = format!(
                "POST /api/grafana/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"alerts\":"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let started = std::time::Instant::now();
            let mut answer = vec![0; 1024];
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
                .await
                .expect("answered before the body was complete")
                .unwrap();
            (
                String::from_utf8_lossy(&answer[..read]).into_owned(),
                started.elapsed(),
            )
        }
    };
    let (answer, waited) = send_part(token).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    let (answer, _) = send_part("aur_whk_stranger".to_owned()).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_over_the_alert_limit_gets_413_naming_the_limit_and_publishes_nothing() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack
        .integration(&owner, SourceType::Alertmanager, &[])
        .await;
    let alert = |index: usize| {
        serde_json::json!({
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": format!("node-{index}")},
            "annotations": {},
            "startsAt": "2026-11-30T07:00:00Z",
            "fingerprint": format!("{index:016x}"),
        })
    };
    let group = |count: usize| {
        serde_json::to_vec(&serde_json::json!({
            "version": "4",
            "status": "firing",
            "receiver": "aurora",
            "groupKey": "{}:{alertname=\"DiskFull\"}",
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull"},
            "alerts": (0..count).map(alert).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let url = stack.webhook_url(SourceType::Alertmanager);
    let (status, answer) = post_webhook(&url, Some(&token), &group(1001), &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("at most 1000"),
        "{answer}"
    );
    assert_eq!(
        stack
            .bus()
            .stream_len(&stack.bus().bus.topology().alerts_stream())
            .await,
        0
    );
    let (status, answer) = post_webhook(&url, Some(&token), &group(1000), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // The group's body is stored once, and every one of its alerts refers to it.
    let counts = async || {
        use aurora_db::schema::{alerts, raw_payloads};
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut conn = stack.connections.pool.get().await.unwrap();
        let references: Vec<Option<i64>> = alerts::table
            .select(alerts::raw_payload_id)
            .load(&mut conn)
            .await
            .unwrap();
        let distinct: std::collections::BTreeSet<_> = references.iter().collect();
        let alerts = (references.len() as i64, distinct.len() as i64);
        let payloads: i64 = raw_payloads::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        (alerts, payloads)
    };
    let (alerts, payloads) = eventually("the group stored", DEADLINE, || async {
        let counts = counts().await;
        (counts.0.0 == 1000).then_some(counts)
    })
    .await;
    assert_eq!((alerts.1, payloads), (1, 1), "one body for 1000 alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_gets_no_fallback_so_an_answer_on_its_way_cannot_be_outrun() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    // One connection, and every token asked about again on each webhook.
    let pool = aurora_db::pool::build(
        stack.db().url(),
        aurora_db::pool::PoolOptions {
            max_size: 1,
            statement_timeout: Duration::from_secs(10),
            application_name: "aurora-test-slow".to_owned(),
            timeout: Duration::from_millis(300),
        },
    )
    .unwrap();
    let busy = pool.clone();
    let base = own_ingress(&stack, |state| {
        state.pool = pool;
        state.integrations =
            aurora_ingress::IntegrationCache::new(Duration::ZERO, Duration::from_secs(300));
    });
    let url = format!("{base}/api/grafana/alerts");
    let body = example("grafana_unified_checkout_critical.json");
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &[]).await.0,
        StatusCode::ACCEPTED,
        "vouched for by the database, so within the fallback from now on"
    );
    // PostgreSQL is there but cannot answer in time: 503 and a retry, not the old answer.
    let held = busy.get().await.unwrap();
    let (status, answer) = post_webhook(&url, Some(&token), &body, &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    drop(held);
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let noisy = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let quiet = stack
        .integration(&owner, SourceType::Alertmanager, &[])
        .await;
    // An ingress of its own with a tiny limit: 1 per second, 2 at once.
    let base = own_ingress(&stack, |state| {
        state.rate_limiter = aurora_ingress::RateLimiter::new(
            std::num::NonZeroU32::new(1).unwrap(),
            std::num::NonZeroU32::new(2).unwrap(),
        );
    });
    let body = example("grafana_unified_checkout_critical.json");
    let url = format!("{base}/api/grafana/alerts");
    assert_eq!(
        post_webhook(&url, Some(&noisy), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_webhook(&url, Some(&noisy), &body, &[]).await.0,
        StatusCode::ACCEPTED
    );
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&noisy)
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("too many webhooks")
    );
    let other = example("alertmanager_group_mixed.json");
    assert_eq!(
        post_webhook(
            &format!("{base}/api/alertmanager/alerts"),
            Some(&quiet),
            &other,
            &[]
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack
            .bus()
            .stream_len(&stack.bus().bus.topology().alerts_stream())
            .await,
        3,
        "the refused webhook was not published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_huge_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start().await;
    let address = stack.ingress_url.trim_start_matches("http://").to_owned();

    // Half a request head, then silence: the server answers 408 and closes within its timeout.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST /api/grafana/alerts HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        aurora_ingress_service::CLIENT_REQUEST_TIMEOUT * 3,
        slow.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the connection was closed");
    assert!(started.elapsed() < aurora_ingress_service::CLIENT_REQUEST_TIMEOUT * 2);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A 200 KiB header, over actix's 128 KiB request-head limit, is refused before any work.
    let huge = "x".repeat(200 * 1024);
    let response = reqwest::Client::new()
        .post(stack.webhook_url(SourceType::Grafana))
        .header("X-Padding", huge)
        .body("{}")
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ),
        // Some stacks reset the connection instead of answering: refused either way.
        Err(err) => assert!(
            err.is_request() || err.is_connect() || err.to_string().contains("connection"),
            "{err}"
        ),
    }
    assert_eq!(
        stack
            .bus()
            .stream_len(&stack.bus().bus.topology().alerts_stream())
            .await,
        0
    );
}
