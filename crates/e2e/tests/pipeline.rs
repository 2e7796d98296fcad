//! End to end on real NATS JetStream and PostgreSQL: webhook → ingress → JetStream →
//! correlator → PostgreSQL → `incidents.created` → RCA worker → API.

use std::sync::Arc;
use std::time::Duration;

use aurora_db::{alerts, analysis, incidents};
use aurora_domain::{AlertBatch, SourceType, UserId};
use aurora_e2e::http::{example, get_json, hmac_sha256_hex as sign, post_webhook};
use aurora_e2e::{Stack, TestUser, eventually};
use aurora_ingress::FixedClock;

use reqwest::StatusCode;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

async fn user_incidents(stack: &Stack, user: &TestUser) -> Vec<incidents::Incident> {
    let mut conn = stack.connections.pool.get().await.unwrap();
    incidents::list_for_user(&mut conn, &UserId::parse(user.id.clone()).unwrap(), 100)
        .await
        .unwrap()
}

async fn alerts_stream_len(stack: &Stack) -> u64 {
    stack
        .bus()
        .stream_len(&stack.bus().bus.topology().alerts_stream())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grafana_alert_becomes_an_analyzed_incident_that_only_its_owner_sees() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let stranger = stack.user("stranger").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let body = example("grafana_unified_checkout_critical.json");
    let url = stack.webhook_url(SourceType::Grafana);

    let (status, receipt) = post_webhook(&url, Some(&token), &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["alerts"], 1);

    let incident = eventually("the incident", DEADLINE, || async {
        user_incidents(&stack, &owner).await.into_iter().next()
    })
    .await;
    assert_eq!(incident.user_id, owner.id);
    assert_eq!(incident.source_type, "grafana");
    assert_eq!(incident.severity.as_deref(), Some("critical"));
    assert_eq!(
        incident.alert_title.as_deref(),
        Some("CheckoutHighErrorRate")
    );
    assert_eq!(incident.alert_service.as_deref(), Some("checkout-api"));
    assert_eq!(incident.alert_environment.as_deref(), Some("production"));
    assert_eq!(
        incident.started_at.and_utc().to_rfc3339(),
        "2026-11-27T08:15:00+00:00"
    );
    assert_eq!(incident.affected_services, ["checkout-api"]);

    let mut conn = stack.connections.pool.get().await.unwrap();
    let stored = alerts::for_incident(&mut conn, incident.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, incident.source_alert_id);
    assert_eq!(
        aurora_db::alerts::raw_payload_of(&mut conn, stored[0].id)
            .await
            .unwrap(),
        Some(serde_json::from_slice::<Value>(&body).unwrap()),
        "raw payload kept"
    );
    let links = incidents::links(&mut conn, incident.id).await.unwrap();
    assert_eq!(
        (links.len(), links[0].strategy.as_str(), links[0].alert_id),
        (1, "primary", stored[0].id)
    );

    // The same notification again is a repeat: counted, nothing new.
    let (status, _) = post_webhook(&url, Some(&token), &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let repeated = eventually("the repeat to be counted", DEADLINE, || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let alert = alerts::get(&mut conn, incident.source_alert_id)
            .await
            .unwrap();
        (alert.occurrence_count == 2).then_some(alert)
    })
    .await;
    assert!(repeated.last_seen_at >= repeated.received_at);
    assert_eq!(
        user_incidents(&stack, &owner).await.len(),
        1,
        "a repeat opens no incident"
    );

    // The RCA worker analyses it once and says what the alert says.
    let analyzed = eventually("the analysis", DEADLINE, || async {
        let incident = user_incidents(&stack, &owner).await.remove(0);
        (incident.aurora_status.as_deref() == Some("complete")).then_some(incident)
    })
    .await;
    assert!(analyzed.analyzed_at.is_some());
    let session = analyzed.aurora_chat_session_id.expect("a chat session");
    let thoughts = analysis::thoughts(&mut conn, incident.id).await.unwrap();
    assert!(thoughts.len() >= 3, "{thoughts:?}");
    assert!(
        thoughts[0].content.contains("CheckoutHighErrorRate")
            && thoughts[0].content.contains("critical")
    );
    assert!(
        thoughts[1].content.contains("`checkout-api`")
            && thoughts[1].content.contains("`production`")
    );
    assert!(thoughts[2].content.contains("2026-11-27 08:15:00 UTC"));
    assert!(
        analyzed
            .aurora_summary
            .unwrap()
            .contains("CheckoutHighErrorRate")
    );
    assert_eq!(
        analysis::chat_messages(&mut conn, session)
            .await
            .unwrap()
            .len(),
        1
    );

    // The API shows it to its owner, and to nobody else.
    let incidents_url = format!("{}/api/incidents", stack.api_url);
    let (status, page) = get_json(&incidents_url, Some(&owner.api_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["incidents"][0]["id"], incident.id.to_string());
    assert_eq!(page["incidents"].as_array().unwrap().len(), 1);
    let detail_url = format!("{incidents_url}/{}", incident.id);
    let (status, detail) = get_json(&detail_url, Some(&owner.api_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["alert_title"], "CheckoutHighErrorRate");
    assert_eq!(detail["alerts"][0]["occurrence_count"], 2);
    assert_eq!(detail["correlations"][0]["strategy"], "primary");
    assert_eq!(detail["thoughts"].as_array().unwrap().len(), thoughts.len());
    assert!(detail["started_at"].as_str().unwrap().ends_with('Z'));

    let (status, body) = get_json(&detail_url, Some(&stranger.api_token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("incident not found"))
    );
    let (status, page) = get_json(&incidents_url, Some(&stranger.api_token)).await;
    assert_eq!(
        (status, page["incidents"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (status, _) = get_json(&incidents_url, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get_json(&incidents_url, Some("aur_api_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get_json(
        &format!("{incidents_url}/not-a-uuid"),
        Some(&owner.api_token),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for base in [&stack.ingress_url, &stack.api_url] {
        let (status, body) = get_json(&format!("{base}/readyz"), None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ready")),
            "{base}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_open_exactly_their_own_route_and_refusals_publish_nothing() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let grafana = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let alertmanager = stack
        .integration(&owner, SourceType::Alertmanager, &[])
        .await;
    let url = stack.webhook_url(SourceType::Grafana);
    let body = example("grafana_unified_checkout_critical.json");

    for (token, expected) in [
        (None, "missing credentials"),
        (Some("aur_whk_0000"), "invalid token"),
        (Some(owner.api_token.as_str()), "invalid token"),
        // Another route's token is as invalid here as a guess: nothing tells a stranger
        // which tokens exist.
        (Some(alertmanager.as_str()), "invalid token"),
    ] {
        let (status, answer) = post_webhook(&url, token, &body, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{answer}"
        );
    }
    let (status, answer) = post_webhook(&url, Some(&grafana), b"{not json", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("invalid Grafana payload"),
        "{answer}"
    );
    let (status, _) = post_webhook(&url, Some(&grafana), b"", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&grafana)
        .header("Content-Type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = vec![b' '; 1024 * 1024 + 1];
    let (status, answer) = post_webhook(&url, Some(&grafana), &huge, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let (status, answer) = post_webhook(
        &url,
        Some(&grafana),
        &example("grafana_contact_point_test.json"),
        &[],
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    assert_eq!(
        alerts_stream_len(&stack).await,
        0,
        "no refused or test request was published"
    );

    // A revoked token opens nothing.
    let revoked_owner = stack.user("revoked").await;
    let revoked = stack
        .integration(&revoked_owner, SourceType::Grafana, &[])
        .await;
    let mut conn = stack.db().connect().await;
    assert!(
        aurora_db::integrations::revoke(&mut conn, &revoked_owner.id, SourceType::Grafana)
            .await
            .unwrap()
            .is_some()
    );
    let (status, answer) = post_webhook(&url, Some(&revoked), &body, &[]).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid token"))
    );
    assert_eq!(alerts_stream_len(&stack).await, 0);

    // The token as a Basic password and as a query parameter work too.
    let basic = reqwest::Client::new()
        .post(&url)
        .basic_auth("grafana", Some(&grafana))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::ACCEPTED);
    let query = reqwest::Client::new()
        .post(format!("{url}?token={grafana}"))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::ACCEPTED);
    assert_eq!(alerts_stream_len(&stack).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_signatures_are_checked_when_the_integration_has_a_secret() {
    // The shared fixture with a timestamp was signed at 1655427084; the clock stands just after.
    let signed_at = chrono::DateTime::from_timestamp(1_655_427_084 + 60, 0).unwrap();
    let stack = Stack::start_with_clock(Arc::new(FixedClock(signed_at))).await;
    let owner = stack.user("owner").await;
    let token = stack
        .integration(
            &owner,
            SourceType::Grafana,
            &["old-secret", "grafana-fixture-secret"],
        )
        .await;
    let url = stack.webhook_url(SourceType::Grafana);

    // The repo's own payload, signed here: always runs.
    let body = example("grafana_unified_checkout_critical.json");
    let good = sign("grafana-fixture-secret", &body);
    assert_eq!(
        post_webhook(
            &url,
            Some(&token),
            &body,
            &[("X-Grafana-Alerting-Signature", good.clone())]
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let forged = sign("guessed", &body);
    assert_eq!(
        post_webhook(
            &url,
            Some(&token),
            &body,
            &[("X-Grafana-Alerting-Signature", forged)]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "missing signature"
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        post_webhook(
            &url,
            Some(&token),
            &tampered,
            &[("X-Grafana-Alerting-Signature", good)]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let stale_ts = (signed_at.timestamp() - 3600).to_string();
    let stale = sign(
        "grafana-fixture-secret",
        &[stale_ts.as_bytes(), b":", &body].concat(),
    );
    let headers = [
        ("X-Grafana-Alerting-Timestamp", stale_ts),
        ("X-Grafana-Alerting-Signature", stale),
    ];
    assert_eq!(
        post_webhook(&url, Some(&token), &body, &headers).await.0,
        StatusCode::UNAUTHORIZED,
        "stale timestamp"
    );
    assert_eq!(
        alerts_stream_len(&stack).await,
        1,
        "only the valid signature was published"
    );

    // The shared fixtures, signed by the vendor's algorithm, byte for byte.
    for name in [
        "unified_firing_two_alerts_docs.json",
        "unified_resolved_single.json",
    ] {
        let Some(fixture) = aurora_testkit::fixture("grafana", name) else {
            return;
        };
        let headers: Vec<(&str, String)> = fixture
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        assert_eq!(
            post_webhook(&url, Some(&token), &fixture.body, &headers)
                .await
                .0,
            StatusCode::ACCEPTED,
            "{name}"
        );
        let mut altered = fixture.body.clone();
        altered.push(b'\n');
        assert_eq!(
            post_webhook(&url, Some(&token), &altered, &headers).await.0,
            StatusCode::UNAUTHORIZED,
            "{name} altered"
        );
    }
    assert_eq!(alerts_stream_len(&stack).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_redelivered_after_commit_creates_nothing_twice_and_still_publishes() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let _ = token;
    let body = example("grafana_unified_checkout_critical.json");
    let headers = aurora_vendors::Headers::default();
    let received_at = chrono::Utc::now();
    let normalized = aurora_vendors::for_source(SourceType::Grafana)
        .unwrap()
        .normalize(aurora_vendors::WebhookRequest {
            headers: &headers,
            body: &body,
            received_at,
        })
        .unwrap();
    let mut conn = stack.db().connect().await;
    let integration = aurora_db::integrations::find_by_token(&mut conn, &token)
        .await
        .unwrap()
        .unwrap();
    let batch = AlertBatch {
        delivery_id: uuid::Uuid::now_v7().to_string(),
        user_id: UserId::parse(owner.id.clone()).unwrap(),
        integration_id: integration.id,
        source_type: SourceType::Grafana,
        received_at,
        alerts: normalized.alerts,
        deployment: None,
        raw_payload: serde_json::from_slice(&body).unwrap(),
    };
    let correlator = aurora_correlator::Correlator::new(
        stack.connections.pool.clone(),
        stack.connections.bus.clone(),
        std::sync::Arc::new(aurora_correlator::Rules::new(
            aurora_e2e::default_correlation(),
        )),
    );

    // The correlator committed, then died before publishing and acking.
    let user = batch.user_id.clone();
    let arrival = aurora_correlation::Arrival {
        receipt: aurora_correlation::Receipt {
            epoch: 1,
            sequence: 1,
        },
        batch: &batch,
    };
    let stored = correlator.store(&user, &[arrival]).await.unwrap();
    assert!(!stored.outcomes[0].already_processed);
    let incident_id = stored.outcomes[0].opened_incidents[0];
    let topology = stack.bus().bus.topology().clone();
    let created_subject = topology.incident_subject(aurora_bus::IncidentSubject::Created);
    assert!(
        stack
            .bus()
            .messages(&topology.incidents_stream(), &created_subject)
            .await
            .is_empty()
    );

    // JetStream redelivers: the work is found done, and the event goes out.
    for _ in 0..2 {
        let outcome = correlator
            .handle(&user, &[arrival])
            .await
            .unwrap()
            .remove(0);
        assert!(outcome.already_processed);
        assert_eq!(outcome.opened_incidents, [incident_id]);
    }
    let events = stack
        .bus()
        .messages(&topology.incidents_stream(), &created_subject)
        .await;
    assert_eq!(
        events.len(),
        1,
        "republishing is deduplicated by Nats-Msg-Id: {events:?}"
    );
    assert_eq!(events[0]["incident_id"], incident_id.to_string());
    let incidents = user_incidents(&stack, &owner).await;
    assert_eq!(incidents.len(), 1);
    let alert = alerts::get(&mut conn, incidents[0].source_alert_id)
        .await
        .unwrap();
    assert_eq!(alert.occurrence_count, 1, "a redelivery is not a repeat");
    // And the analysis that event starts still happens once.
    eventually("the analysis", DEADLINE, || async {
        let incident = user_incidents(&stack, &owner).await.remove(0);
        (incident.aurora_status.as_deref() == Some("complete")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_processed_becomes_a_dead_letter_and_blocks_nothing() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let bus = &stack.connections.bus;
    let subject = bus.topology().alert_subject(SourceType::Grafana);
    bus.publish_raw(subject.clone(), "garbage-1", b"not a delivery".to_vec())
        .await
        .unwrap();
    // A valid webhook after it is processed: the poison message does not block the stream.
    let (status, _) = post_webhook(
        &stack.webhook_url(SourceType::Grafana),
        Some(&token),
        &example("grafana_unified_checkout_critical.json"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the valid alert's incident", DEADLINE, || async {
        user_incidents(&stack, &owner).await.into_iter().next()
    })
    .await;
    let letters = eventually("the dead letter", DEADLINE, || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let letters = aurora_db::dead_letters::list(&mut conn, 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].subject.as_str(), letters[0].consumer.as_str()),
        (subject.as_str(), "correlator")
    );
    assert!(
        letters[0].reason.starts_with("cannot decode message"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].payload, b"not a delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotation_and_a_revocation_reach_an_ingress_that_cached_the_token_within_a_second()
{
    let stack = Stack::start().await;
    let owner = stack.user("rotating").await;
    let token = stack
        .integration(&owner, SourceType::Grafana, &["old-secret"])
        .await;
    let url = stack.webhook_url(SourceType::Grafana);
    let body = example("grafana_unified_checkout_critical.json");
    let signed = |secret: &str| vec![("X-Grafana-Alerting-Signature", sign(secret, &body))];
    let post =
        async |headers: &[(&str, String)]| post_webhook(&url, Some(&token), &body, headers).await.0;
    // Accepted once: the ingress now holds the integration and asks the database no more.
    assert_eq!(post(&signed("old-secret")).await, StatusCode::ACCEPTED);

    let bus = &stack.connections.bus;
    let mut conn = stack.db().connect().await;
    let rotated = aurora_db::integrations::replace_signing_secrets(
        &mut conn,
        &owner.id,
        SourceType::Grafana,
        &["new-secret".to_owned()],
        Some(&stack.secret_box),
    )
    .await
    .unwrap()
    .expect("a live integration");
    bus.announce_integration_change(&aurora_domain::IntegrationChanged {
        integration_id: rotated,
    })
    .await
    .unwrap();
    eventually(
        "the rotated-out secret refused",
        Duration::from_secs(1),
        || async { (post(&signed("old-secret")).await == StatusCode::UNAUTHORIZED).then_some(()) },
    )
    .await;
    assert_eq!(post(&signed("new-secret")).await, StatusCode::ACCEPTED);

    let revoked = aurora_db::integrations::revoke(&mut conn, &owner.id, SourceType::Grafana)
        .await
        .unwrap()
        .expect("a live integration");
    bus.announce_integration_change(&aurora_domain::IntegrationChanged {
        integration_id: revoked,
    })
    .await
    .unwrap();
    eventually(
        "the revoked token refused",
        Duration::from_secs(1),
        || async { (post(&signed("new-secret")).await == StatusCode::UNAUTHORIZED).then_some(()) },
    )
    .await;
}

/// A correlator consumer made by an earlier version keeps its place in the stream but takes
/// the current limit of unacknowledged messages, which NATS' default (1,000) would hold below
/// a batch of the default size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_from_an_earlier_version_is_raised_to_the_ack_pending_limit() {
    use async_nats::jetstream::consumer;

    let test_bus = aurora_testkit::TestBus::new().await;
    let bus = &test_bus.bus;
    let topology = bus.topology();
    let stream = bus
        .jetstream()
        .get_stream(topology.alerts_stream())
        .await
        .expect("the test's stream exists");
    let earlier = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("earlier".to_owned()),
            filter_subject: topology.all_alert_subjects(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("a consumer with NATS' defaults");
    assert!(earlier.cached_info().config.max_ack_pending < aurora_bus::MAX_ACK_PENDING);

    let mut raised = bus
        .durable_consumer(
            &topology.alerts_stream(),
            "earlier",
            topology.all_alert_subjects(),
            Duration::from_secs(30),
        )
        .await
        .expect("the consumer is found");
    let info = raised.info().await.expect("consumer info");
    assert_eq!(info.config.max_ack_pending, aurora_bus::MAX_ACK_PENDING);
    assert_eq!(
        info.created,
        earlier.cached_info().created,
        "the same consumer, not a new one"
    );
}
