//! The notifier through the running stack, against local stand-ins for Slack, PagerDuty and a
//! webhook receiver: an incident's life makes one Slack message updated in place, one threaded
//! summary, one PagerDuty trigger and one resolve, and signed webhooks; an incident resolved
//! within `notify_after_secs` makes none; outages, throttling, interrupted sends and a second
//! replica announce nothing twice and lose nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aurora_db::notifications;
use aurora_domain::SourceType;
use aurora_e2e::saas::{Fault, Route, SLACK_TOKEN, StandIns};
use aurora_e2e::{Stack, TestNotifier, TestUser, eventually, http};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec-test";
const CHANNEL: &str = "C0ONCALL01";

/// `[notifications]` for `user`: one rule to Slack, PagerDuty and the `bridge` webhook, with
/// `extra` added to the rule.
fn notifications_toml(stand_ins: &StandIns, user: &TestUser, extra: &str) -> String {
    format!(
        r#"[notifications]
console_url = "https://aurora.example"
request_timeout_secs = 1
lease_secs = 3
[notifications.slack]
bot_token_env = "SLACK_TOKEN"
api_url = "{slack}"
[notifications.pagerduty]
events_url = "{pagerduty}"
[[notifications.webhooks]]
name = "bridge"
url = "{bridge}"
secret_env = "BRIDGE_SECRET"
[[notifications.routes]]
name = "oncall"
user = "{user}"
slack_channel = "{CHANNEL}"
pagerduty_routing_key_env = "PD_KEY"
webhooks = ["bridge"]
{extra}
"#,
        slack = stand_ins.slack_api(),
        pagerduty = stand_ins.pagerduty_url(),
        bridge = stand_ins.webhook_url("bridge"),
        user = user.id,
    )
}

/// A stack, a user with an Alertmanager integration (its token), the stand-ins, and a
/// notifier routing the user's incidents by one rule (with `rule_extra` added to it).
async fn scenario(rule_extra: &str) -> (Stack, TestUser, StandIns, String, TestNotifier) {
    let stack = Stack::start().await;
    let user = stack.user("oncall").await;
    let stand_ins = StandIns::start();
    let notifier = stack
        .start_notifier(&notifications_toml(&stand_ins, &user, rule_extra), SECRETS)
        .await;
    let token = stack
        .integration(&user, SourceType::Alertmanager, &[])
        .await;
    (stack, user, stand_ins, token, notifier)
}

const SECRETS: &[(&str, &str)] = &[
    ("SLACK_TOKEN", SLACK_TOKEN),
    ("PD_KEY", "R0UTINGKEY"),
    ("BRIDGE_SECRET", WEBHOOK_SECRET),
];

/// Sends one Alertmanager alert, firing or resolved.
async fn alert(stack: &Stack, token: &str, name: &str, service: &str, status: &str) {
    let body = json!({
        "version": "4", "status": status, "receiver": "aurora", "externalURL": "http://am",
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "service": service, "env": "production", "severity": "critical"},
            "annotations": {}, "startsAt": "2026-12-06T08:00:00Z",
            "endsAt": if status == "resolved" { "2026-12-06T08:30:00Z" } else { "0001-01-01T00:00:00Z" },
            "fingerprint": format!("{name}-{service}")
        }]
    });
    let (answer, _) = http::post_webhook(
        &stack.webhook_url(SourceType::Alertmanager),
        Some(token),
        body.to_string().as_bytes(),
        &[],
    )
    .await;
    assert_eq!(answer, StatusCode::ACCEPTED);
}

/// The user's incident titled `title`, once it exists.
async fn incident(stack: &Stack, user: &TestUser, title: &str) -> Value {
    let url = format!("{}/api/incidents?limit=100", stack.api_url);
    eventually(
        &format!("incident {title}"),
        Duration::from_secs(20),
        || async {
            let (_, page) = http::get_json(&url, Some(&user.api_token)).await;
            page["incidents"]
                .as_array()?
                .iter()
                .find(|i| i["alert_title"] == title)
                .cloned()
        },
    )
    .await
}

async fn incident_by_id(stack: &Stack, user: &TestUser, id: &str) -> Value {
    let (_, incident) = http::get_json(
        &format!("{}/api/incidents/{id}", stack.api_url),
        Some(&user.api_token),
    )
    .await;
    incident
}

/// Waits until the incident was routed and none of its deliveries is pending.
async fn settled(stack: &Stack, incident: &str) {
    let id: uuid::Uuid = incident.parse().expect("an incident id");
    eventually(
        "the incident's deliveries to settle",
        Duration::from_secs(30),
        || async {
            let mut conn = stack.db().connect().await;
            let targets = notifications::targets_of(&mut conn, &[id]).await.ok()?;
            // Routed first: before the notifier took the incident's first event there is
            // nothing pending, and nothing settled either.
            let mut pending = targets.is_empty();
            for (_, target, _) in targets {
                pending |= notifications::newest_pending(&mut conn, id, &target, None)
                    .await
                    .ok()?
                    .is_some();
            }
            (!pending).then_some(())
        },
    )
    .await;
}

/// The webhooks received about `incident`: (type, delivery id), checking each signature.
fn webhooks_about(stand_ins: &StandIns, incident: &str) -> Vec<(String, String)> {
    stand_ins
        .recorded()
        .webhooks
        .iter()
        .filter_map(|received| {
            let body: Value = serde_json::from_slice(&received.body).expect("JSON");
            if body["incident"]["id"] != json!(incident) {
                return None;
            }
            let timestamp = &received.headers["x-aurora-timestamp"];
            let mut signed = format!("{timestamp}.").into_bytes();
            signed.extend_from_slice(&received.body);
            assert_eq!(
                received.headers["x-aurora-signature"],
                format!("sha256={}", http::hmac_sha256_hex(WEBHOOK_SECRET, &signed)),
                "the signature covers the timestamp and the body"
            );
            let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().expect("seconds");
            assert!(age.abs() < 300, "a fresh timestamp");
            assert_eq!(
                received.headers["x-aurora-event"],
                body["type"].as_str().unwrap()
            );
            Some((
                body["type"].as_str().expect("a type").to_owned(),
                received.headers["x-aurora-delivery"].clone(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_life_is_one_slack_message_updated_in_place_one_summary_one_page_and_signed_webhooks()
 {
    let (stack, user, stand_ins, token, notifier) = scenario("").await;
    // Each destination fails first: throttled, down, erroring.
    stand_ins.fail_next(Route::SlackPost, Fault::Status(429, Some(1)));
    stand_ins.fail_next(Route::PagerDuty, Fault::Status(503, None));
    stand_ins.fail_next(Route::Webhook, Fault::Status(500, None));

    alert(&stack, &token, "CheckoutErrors", "checkout", "firing").await;
    let opened = incident(&stack, &user, "CheckoutErrors").await;
    let id = opened["id"].as_str().expect("an id").to_owned();
    // Announced everywhere once each destination recovered, while the incident is open (an
    // incident that is already resolved when PagerDuty comes back is not paged).
    eventually(
        "the announcement at every destination",
        Duration::from_secs(20),
        || async {
            let recorded = stand_ins.recorded();
            (recorded.slack_messages_of(&id).len() == 1
                && recorded.pagerduty_actions(&id) == ["trigger"]
                && !recorded.webhooks.is_empty())
            .then_some(())
        },
    )
    .await;
    alert(&stack, &token, "CheckoutLatency", "checkout", "firing").await;
    eventually(
        "the analysis and the correlated alert",
        Duration::from_secs(30),
        || async {
            let incident = incident_by_id(&stack, &user, &id).await;
            (incident["aurora_status"] == "complete" && incident["correlated_alert_count"] == 1)
                .then_some(())
        },
    )
    .await;
    alert(&stack, &token, "CheckoutErrors", "checkout", "resolved").await;
    alert(&stack, &token, "CheckoutLatency", "checkout", "resolved").await;
    eventually(
        "the incident to resolve",
        Duration::from_secs(20),
        || async {
            (incident_by_id(&stack, &user, &id).await["status"] == "resolved").then_some(())
        },
    )
    .await;
    eventually(
        "the resolve to reach every destination",
        Duration::from_secs(30),
        || async {
            let recorded = stand_ins.recorded();
            let message = recorded.slack_messages_of(&id).first().copied()?.clone();
            let resolved_webhook = resolved_webhook_received(&recorded, &id);
            (message.text.contains("Resolved")
                && recorded
                    .pagerduty_actions(&id)
                    .contains(&"resolve".to_owned())
                && resolved_webhook)
                .then_some(())
        },
    )
    .await;
    settled(&stack, &id).await;

    let recorded = stand_ins.recorded();
    let messages = recorded.slack_messages_of(&id);
    assert_eq!(messages.len(), 1, "one Slack message per incident");
    let message = messages[0].clone();
    assert_eq!(message.channel, CHANNEL);
    assert!(
        message.updates >= 1,
        "updated in place: {} updates",
        message.updates
    );
    let blocks = message.blocks.to_string();
    for expected in [
        "Resolved",
        "*Alerts*\\n2",
        "Likely cause",
        "checkout",
        "https://aurora.example/incidents/",
    ] {
        assert!(
            blocks.contains(expected),
            "{expected} missing from the message: {blocks}"
        );
    }
    let replies = recorded.replies_to(&message.ts);
    assert_eq!(replies.len(), 1, "one threaded summary");
    assert!(replies[0].blocks.to_string().contains("Likely root cause"));
    assert_eq!(recorded.pagerduty_actions(&id), ["trigger", "resolve"]);
    let trigger = recorded
        .pagerduty
        .iter()
        .find(|e| e["dedup_key"] == json!(id))
        .unwrap();
    assert_eq!(trigger["routing_key"], "R0UTINGKEY");
    assert_eq!(trigger["payload"]["severity"], "critical");
    // The 429's Retry-After was obeyed before posting again.
    let posts = &recorded.arrivals[&Route::SlackPost];
    assert!(
        posts[1] - posts[0] >= Duration::from_millis(950),
        "{:?}",
        posts[1] - posts[0]
    );

    let webhooks = webhooks_about(&stand_ins, &id);
    let types: HashSet<&str> = webhooks.iter().map(|(t, _)| t.as_str()).collect();
    for expected in [
        "incident.created",
        "incident.correlated",
        "incident.analyzed",
        "incident.resolved",
    ] {
        assert!(types.contains(expected), "{expected} missing: {types:?}");
    }
    let ids: HashSet<&str> = webhooks.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(ids.len(), webhooks.len(), "each event delivered once");

    let stored = incident_by_id(&stack, &user, &id).await;
    assert_eq!(stored["slack_message_ts"], json!(message.ts));
    assert_eq!(stored["slack_channel"], CHANNEL);
    let scraped = prometheus::TextEncoder::new()
        .encode_to_string(&notifier.metrics.gather())
        .unwrap();
    let retried = scraped
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"aurora_notifier_deliveries_total{destination="slack",outcome="retried"} "#,
            )
        })
        .and_then(|count| count.parse::<u64>().ok());
    assert!(retried >= Some(1), "the 429 counted as a retry: {scraped}");
    notifier.stop().await;
}

/// Whether the webhook received `incident.resolved` for `incident`.
fn resolved_webhook_received(recorded: &aurora_e2e::saas::Recorded, incident: &str) -> bool {
    recorded.webhooks.iter().any(|received| {
        let body: Value = serde_json::from_slice(&received.body).unwrap_or_default();
        body["incident"]["id"] == json!(incident) && body["type"] == "incident.resolved"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolved_within_notify_after_is_never_announced() {
    let (stack, user, stand_ins, token, _notifier) = scenario("notify_after_secs = 4").await;

    let sent = Instant::now();
    alert(&stack, &token, "DiskBlip", "storage", "firing").await;
    let blip = incident(&stack, &user, "DiskBlip").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alert(&stack, &token, "DiskBlip", "storage", "resolved").await;
    // Another incident, left open: announced once the delay has passed.
    alert(&stack, &token, "CheckoutDown", "checkout", "firing").await;
    let open = incident(&stack, &user, "CheckoutDown").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the open incident's announcement",
        Duration::from_secs(20),
        || async { (stand_ins.recorded().slack_messages_of(&open).len() == 1).then_some(()) },
    )
    .await;
    let announced_after = stand_ins.recorded().arrivals[&Route::SlackPost][0] - sent;
    assert!(
        announced_after >= Duration::from_secs(4),
        "announced after {announced_after:?}"
    );
    assert_eq!(
        incident_by_id(&stack, &user, &blip).await["status"],
        "resolved"
    );
    settled(&stack, &blip).await;

    let recorded = stand_ins.recorded();
    assert!(
        recorded.slack_messages_of(&blip).is_empty(),
        "no Slack message"
    );
    assert!(recorded.pagerduty_actions(&blip).is_empty(), "no page");
    assert!(webhooks_about(&stand_ins, &blip).is_empty(), "no webhook");
    let skipped: i64 = count_in_state(&stack, &blip, "skipped").await;
    assert!(
        skipped >= 3,
        "its deliveries were skipped, not lost: {skipped}"
    );
}

async fn count_in_state(stack: &Stack, incident: &str, state: &str) -> i64 {
    use aurora_db::schema::notification_deliveries as d;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = stack.db().connect().await;
    d::table
        .filter(d::incident_id.eq(incident.parse::<uuid::Uuid>().unwrap()))
        .filter(d::state.eq(state))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_outage_neither_slows_the_pipeline_nor_loses_the_message_and_a_refusal_is_kept() {
    let (stack, user, stand_ins, token, _notifier) = scenario("").await;
    for _ in 0..100 {
        stand_ins.fail_next(Route::SlackPost, Fault::Status(503, None));
    }
    // The webhook receiver is gone for good.
    stand_ins.fail_next(Route::Webhook, Fault::Status(410, None));

    alert(&stack, &token, "PaymentsDown", "payments", "firing").await;
    let id = incident(&stack, &user, "PaymentsDown").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the analysis, while Slack is down",
        Duration::from_secs(30),
        || async {
            (incident_by_id(&stack, &user, &id).await["aurora_status"] == "complete").then_some(())
        },
    )
    .await;
    assert!(
        stand_ins.recorded().slack.is_empty(),
        "Slack was down throughout"
    );
    assert!(
        stand_ins.recorded().pagerduty_actions(&id) == ["trigger"],
        "PagerDuty is not held up by Slack"
    );
    stand_ins.clear_faults();
    eventually(
        "the message once Slack is back",
        Duration::from_secs(30),
        || async { (stand_ins.recorded().slack_messages_of(&id).len() == 1).then_some(()) },
    )
    .await;
    let mut conn = stack.db().connect().await;
    let failed = notifications::dead_deliveries(&mut conn, 10).await.unwrap();
    let refused = failed
        .iter()
        .find(|d| d.target == "webhook:bridge")
        .expect("the refused webhook is kept as failed");
    assert!(
        refused.last_error.as_deref().unwrap().contains("HTTP 410"),
        "{refused:?}"
    );
    assert!(notifications::revive(&mut conn, refused.id).await.unwrap());
    eventually("the revived webhook", Duration::from_secs(20), || async {
        webhooks_about(&stand_ins, &id)
            .iter()
            .any(|(t, _)| t == "incident.created")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_never_came_is_found_not_posted_again() {
    let (stack, user, stand_ins, token, _notifier) = scenario("").await;
    // Slack posts the message but answers after the notifier gave up (1 s).
    stand_ins.fail_next(Route::SlackPost, Fault::Slow(Duration::from_secs(3)));
    alert(&stack, &token, "QueueBacklog", "orders", "firing").await;
    let id = incident(&stack, &user, "QueueBacklog").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the analysis summary in the thread",
        Duration::from_secs(30),
        || async {
            let recorded = stand_ins.recorded();
            let message = recorded.slack_messages_of(&id).first().copied()?.clone();
            (recorded.replies_to(&message.ts).len() == 1).then_some(())
        },
    )
    .await;
    settled(&stack, &id).await;
    let recorded = stand_ins.recorded();
    let messages = recorded.slack_messages_of(&id);
    assert_eq!(
        messages.len(),
        1,
        "the timed-out post was found, not repeated"
    );
    assert!(
        messages[0].updates >= 1,
        "later changes update that message"
    );
    let ts = messages[0].ts.clone();
    assert_eq!(
        incident_by_id(&stack, &user, &id).await["slack_message_ts"],
        json!(ts)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_notifier_replicas_announce_each_incident_once() {
    let stack = Stack::start().await;
    let user = stack.user("oncall").await;
    let stand_ins = StandIns::start();
    let toml = notifications_toml(&stand_ins, &user, "");
    let first = stack.start_notifier(&toml, SECRETS).await;
    let second = stack.start_notifier(&toml, SECRETS).await;
    let services = ["search", "cart", "billing", "auth", "images", "email"];
    let token = stack
        .integration(&user, SourceType::Alertmanager, &[])
        .await;
    for service in services {
        alert(&stack, &token, &format!("{service}Down"), service, "firing").await;
    }
    let mut ids = Vec::new();
    for service in services {
        ids.push(
            incident(&stack, &user, &format!("{service}Down")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        eventually("each summary", Duration::from_secs(40), || async {
            let recorded = stand_ins.recorded();
            let message = recorded.slack_messages_of(id).first().copied()?.clone();
            (recorded.replies_to(&message.ts).len() == 1).then_some(())
        })
        .await;
        settled(&stack, id).await;
    }
    let recorded = stand_ins.recorded();
    for id in &ids {
        assert_eq!(recorded.slack_messages_of(id).len(), 1);
        assert_eq!(recorded.pagerduty_actions(id), ["trigger"]);
    }
    for id in &ids {
        let webhooks = webhooks_about(&stand_ins, id);
        let unique: HashSet<&String> = webhooks.iter().map(|(_, d)| d).collect();
        assert_eq!(unique.len(), webhooks.len(), "no webhook delivered twice");
        assert!(webhooks.iter().any(|(t, _)| t == "incident.analyzed"));
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_whose_answer_never_came_is_resolved_and_a_deleted_message_is_posted_again() {
    let (stack, user, stand_ins, token, _notifier) = scenario("").await;
    // PagerDuty opens the alert but answers after the notifier gave up (1 s).
    stand_ins.fail_next(Route::PagerDuty, Fault::Slow(Duration::from_secs(2)));
    // Someone deleted the incident's Slack message before its first update.
    stand_ins.fail_next(Route::SlackUpdate, Fault::SlackError("message_not_found"));
    alert(&stack, &token, "CacheEvictions", "cache", "firing").await;
    let id = incident(&stack, &user, "CacheEvictions").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the trigger to be under way",
        Duration::from_secs(20),
        || async {
            stand_ins
                .recorded()
                .arrivals
                .contains_key(&Route::PagerDuty)
                .then_some(())
        },
    )
    .await;
    // Resolved while the trigger's answer is still missing.
    alert(&stack, &token, "CacheEvictions", "cache", "resolved").await;
    eventually(
        "PagerDuty's alert to be resolved",
        Duration::from_secs(30),
        || async {
            (stand_ins
                .recorded()
                .pagerduty_actions(&id)
                .last()
                .map(String::as_str)
                == Some("resolve"))
            .then_some(())
        },
    )
    .await;
    eventually(
        "the message posted again",
        Duration::from_secs(30),
        || async { (stand_ins.recorded().slack_messages_of(&id).len() == 2).then_some(()) },
    )
    .await;
    settled(&stack, &id).await;
    let recorded = stand_ins.recorded();
    let reposted = recorded.slack_messages_of(&id)[1].clone();
    assert!(reposted.text.contains("Resolved"), "{}", reposted.text);
    assert_eq!(
        incident_by_id(&stack, &user, &id).await["slack_message_ts"],
        json!(reposted.ts),
        "the incident points at the message that exists"
    );
}

/// A destination's deliveries go one at a time even when a lower id commits late (another
/// replica recorded it): the claim leases the destination, not the row. And an attempt whose
/// lease lapsed cannot settle the delivery another attempt now holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delivery_at_a_time_per_destination_whatever_the_commit_order() {
    use aurora_db::notifications::{NewDelivery, NewTarget};
    use diesel_async::RunQueryDsl;
    let db = aurora_testkit::TestDb::new().await;
    let (_, incident) = db.user_with_incident("eve").await;
    let mut conn = db.connect().await;
    let target = format!("slack:{CHANNEL}");
    let delivery = |event_key: &str| NewDelivery {
        incident_id: incident,
        target: target.clone(),
        endpoint: "slack".into(),
        action: "sync",
        event_key: event_key.into(),
        event_type: "incident.correlated".into(),
    };
    notifications::record(
        &mut conn,
        &[NewTarget {
            incident_id: incident,
            target: target.clone(),
            endpoint: "slack".into(),
            rule: "oncall".into(),
            notify_after: Duration::ZERO,
        }],
        &[delivery("20")],
    )
    .await
    .unwrap();
    let lease = Duration::from_secs(30);
    let first = notifications::claim(&mut conn, "slack", 10, lease)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Another replica's row, numbered lower but committed only now.
    diesel::sql_query(
        "INSERT INTO notification_deliveries \
             (id, incident_id, target, endpoint, action, event_key, event_type, next_attempt_at) \
         VALUES ($1, $2, $3, 'slack', 'sync', 'created', 'incident.created', now())",
    )
    .bind::<diesel::sql_types::BigInt, _>(first[0].id - 1_000)
    .bind::<diesel::sql_types::Uuid, _>(incident)
    .bind::<diesel::sql_types::Text, _>(&target)
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(
        notifications::claim(&mut conn, "slack", 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "nothing else is sent to the destination while one delivery is"
    );
    notifications::retry_later(&mut conn, &first[0], Duration::ZERO, "HTTP 503", false)
        .await
        .unwrap();
    let next = notifications::claim(&mut conn, "slack", 10, lease)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].event_key, "created",
        "the oldest goes first once the lease is free"
    );

    // The lease lapses; another attempt claims the same delivery; the first one's result no
    // longer counts.
    diesel::sql_query("UPDATE notification_targets SET locked_until = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    let again = notifications::claim(&mut conn, "slack", 10, lease)
        .await
        .unwrap();
    assert_eq!((again.len(), again[0].id), (1, next[0].id));
    notifications::dead(&mut conn, &next[0], "stale attempt")
        .await
        .unwrap();
    assert!(
        notifications::claim(&mut conn, "slack", 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "the stale attempt neither settled the delivery nor freed the destination"
    );
    notifications::delivered(&mut conn, &again[0], None, None)
        .await
        .unwrap();
    let last = notifications::claim(&mut conn, "slack", 10, lease)
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].event_key, "20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_doubt_is_still_made_when_slack_refuses_the_search() {
    let (stack, user, stand_ins, token, _notifier) = scenario("").await;
    // The answer never comes, and the app lacks the scope to read the channel's history.
    stand_ins.fail_next(Route::SlackPost, Fault::Slow(Duration::from_secs(3)));
    stand_ins.fail_next(Route::SlackHistory, Fault::SlackError("missing_scope"));
    alert(&stack, &token, "ReplicaLag", "orders-db", "firing").await;
    let id = incident(&stack, &user, "ReplicaLag").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    settled(&stack, &id).await;
    assert!(!stand_ins.recorded().slack_messages_of(&id).is_empty());
    assert_eq!(
        count_in_state(&stack, &id, "dead").await,
        0,
        "a refused search does not lose the announcement"
    );
}

/// Deliveries to a destination removed from the settings are failed, with the reason, when a
/// notifier starts, instead of waiting forever for a loop that no longer exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_to_a_removed_destination_are_failed_not_left_waiting() {
    use aurora_db::notifications::{NewDelivery, NewTarget};
    let db = aurora_testkit::TestDb::new().await;
    let (_, incident) = db.user_with_incident("frank").await;
    let mut conn = db.connect().await;
    for endpoint in ["webhook:retired", "slack"] {
        let target = if endpoint == "slack" {
            format!("slack:{CHANNEL}")
        } else {
            endpoint.to_owned()
        };
        notifications::record(
            &mut conn,
            &[NewTarget {
                incident_id: incident,
                target: target.clone(),
                endpoint: endpoint.into(),
                rule: "oncall".into(),
                notify_after: Duration::ZERO,
            }],
            &[NewDelivery {
                incident_id: incident,
                target,
                endpoint: endpoint.into(),
                action: if endpoint == "slack" { "sync" } else { "event" },
                event_key: "created".into(),
                event_type: "incident.created".into(),
            }],
        )
        .await
        .unwrap();
    }
    let abandoned = notifications::abandon_unserved(&mut conn, &["slack".to_owned()])
        .await
        .unwrap();
    assert_eq!(abandoned, 1);
    let failed = notifications::dead_deliveries(&mut conn, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target, "webhook:retired");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no notifier sends to webhook:retired"),
        "{failed:?}"
    );
    let served = notifications::claim(&mut conn, "slack", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        served.len(),
        1,
        "the served destination's delivery is untouched"
    );
}

/// The message an interrupted post left is found however many messages came after it (the
/// search follows Slack's cursors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_doubt_is_found_behind_a_busy_channels_newer_messages() {
    let (stack, user, stand_ins, token, _notifier) = scenario("").await;
    stand_ins.fail_next(Route::SlackPost, Fault::Slow(Duration::from_secs(3)));
    alert(&stack, &token, "DiskFull", "ledger", "firing").await;
    let id = incident(&stack, &user, "DiskFull").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        "the post whose answer will not come",
        Duration::from_secs(20),
        || async { (stand_ins.recorded().slack_messages_of(&id).len() == 1).then_some(()) },
    )
    .await;
    // More than one page of newer messages before the notifier looks (its retry is ≥ 2 s
    // after its 1 s timeout).
    stand_ins.chatter(CHANNEL, 450);
    settled(&stack, &id).await;
    assert_eq!(
        stand_ins.recorded().slack_messages_of(&id).len(),
        1,
        "found on a later page, not posted again"
    );
}
