//! Correlation and incident lifecycle scenarios on real PostgreSQL and NATS: incidents,
//! counts, services, strategies and published events.

use std::collections::HashMap;
use std::time::Duration;

use aurora_bus::IncidentSubject;
use aurora_db::{alerts, events, incidents};
use aurora_domain::SourceType;
use aurora_e2e::harness::{Harness, TestAlert};
use aurora_e2e::{Stack, default_correlation, eventually};

fn alert(
    source: SourceType,
    fingerprint: &'static str,
    service: &'static str,
    title: &'static str,
) -> TestAlert {
    TestAlert::firing(source, fingerprint, service, title)
}

async fn published(h: &Harness, subject: IncidentSubject) -> Vec<serde_json::Value> {
    h.bus.incident_messages(subject).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_alerts_on_one_service_from_two_vendors_are_one_incident() {
    let h = Harness::new().await;
    let first = h
        .send(&alert(
            SourceType::Grafana,
            "g-5xx",
            "checkout-api",
            "Checkout 5xx rate above 5%",
        ))
        .await;
    let incident_id = first.opened_incidents[0];
    for (source, key, title) in [
        (
            SourceType::Datadog,
            "dd-latency",
            "Checkout p99 latency above 2s",
        ),
        (
            SourceType::Grafana,
            "g-saturation",
            "Checkout pods CPU saturated",
        ),
    ] {
        let outcome = h.send(&alert(source, key, "checkout-api", title)).await;
        assert!(outcome.opened_incidents.is_empty(), "{title} joined");
        assert_eq!(outcome.changes.len(), 1, "one correlated event");
    }
    let incidents = h.incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        (
            incidents[0].correlated_alert_count,
            incidents[0].affected_services.clone()
        ),
        (2, vec!["checkout-api".to_owned()])
    );
    let mut conn = h.db.connect().await;
    let links = incidents::links(&mut conn, incident_id).await.unwrap();
    let strategies: Vec<_> = links.iter().map(|l| l.strategy.as_str()).collect();
    assert_eq!(strategies, ["primary", "service", "service"]);
    assert!(
        links[1]
            .reason
            .starts_with("same service checkout-api as 1 alert in the last"),
        "{}",
        links[1].reason
    );
    assert!(
        links[2]
            .reason
            .starts_with("same service checkout-api as 2 alerts"),
        "{}",
        links[2].reason
    );
    assert!(links[1].score >= 0.6);
    let correlated = published(&h, IncidentSubject::Correlated).await;
    assert_eq!(correlated.len(), 2);
    assert_eq!(correlated[0]["incident_id"], incident_id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_alert_in_production_and_staging_is_two_incidents_and_unrelated_services_are_separate()
 {
    let h = Harness::new().await;
    let cpu = alert(SourceType::Grafana, "cpu-prod", "checkout-api", "High CPU");
    h.send(&cpu).await;
    let staging = TestAlert {
        fingerprint: "cpu-staging",
        ..cpu.in_environment(Some("staging"))
    };
    assert_eq!(
        h.send(&staging).await.opened_incidents.len(),
        1,
        "another environment"
    );
    let unknown = TestAlert {
        fingerprint: "cpu-unknown",
        ..cpu.in_environment(None)
    };
    assert_eq!(
        h.send(&unknown).await.opened_incidents.len(),
        1,
        "unknown matches only unknown"
    );
    let search = alert(
        SourceType::Grafana,
        "search-lag",
        "search-indexer",
        "Index lag above 10 min",
    );
    assert_eq!(
        h.send(&search).await.opened_incidents.len(),
        1,
        "unrelated service"
    );
    assert_eq!(h.incidents().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependent_services_per_the_topology_are_one_incident() {
    let mut rules = default_correlation();
    rules.dependencies =
        HashMap::from([("checkout-api".to_owned(), vec!["payments-api".to_owned()])]);
    let h = Harness::with_rules(rules).await;
    let incident_id = h
        .send(&alert(
            SourceType::Datadog,
            "pay-errors",
            "payments-api",
            "Card processor errors",
        ))
        .await
        .opened_incidents[0];
    let outcome = h
        .send(&alert(
            SourceType::Grafana,
            "co-timeouts",
            "checkout-api",
            "Timeouts to upstream",
        ))
        .await;
    assert!(outcome.opened_incidents.is_empty());
    let mut conn = h.db.connect().await;
    let links = incidents::links(&mut conn, incident_id).await.unwrap();
    assert_eq!(links[1].strategy, "topology");
    assert_eq!(
        links[1].reason,
        "checkout-api is 1 hop from payments-api in the dependency graph"
    );
    let incident = incidents::get(&mut conn, incident_id).await.unwrap();
    assert_eq!(incident.affected_services, ["payments-api", "checkout-api"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_resolves_when_all_its_alerts_resolve() {
    let h = Harness::new().await;
    let a = alert(SourceType::Grafana, "a", "checkout-api", "Checkout 5xx");
    let b = alert(SourceType::Grafana, "b", "checkout-api", "Checkout latency");
    let incident_id = h.send(&a).await.opened_incidents[0];
    h.send(&b).await;
    assert!(
        h.send(&a.resolved()).await.changes.is_empty(),
        "one alert still fires"
    );
    assert_eq!(h.incidents().await[0].status, "investigating");
    let last = h.send(&b.resolved()).await;
    assert_eq!(last.changes.len(), 1);
    let incident = h.incidents().await.remove(0);
    assert_eq!(
        (incident.id, incident.status.as_str()),
        (incident_id, "resolved")
    );
    assert!(incident.resolved_at.is_some());
    let resolved = published(&h, IncidentSubject::Resolved).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["change"], "resolved");
    // A resolved incident takes no new alerts.
    let c = alert(
        SourceType::Grafana,
        "c",
        "checkout-api",
        "Checkout 5xx again",
    );
    assert_eq!(h.send(&c).await.opened_incidents.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flap_reopens_its_incident_and_a_later_recurrence_opens_a_linked_one() {
    let h = Harness::new().await;
    let a = alert(SourceType::Alertmanager, "disk", "postgres", "DiskFull");
    let incident_id = h.send(&a).await.opened_incidents[0];
    h.send(&a.resolved()).await;
    assert_eq!(h.incidents().await[0].status, "resolved");
    let flap = h.send(&a).await;
    assert!(flap.opened_incidents.is_empty(), "within the flap window");
    let incident = h.incidents().await.remove(0);
    assert_eq!(
        (incident.id, incident.status.as_str(), incident.resolved_at),
        (incident_id, "investigating", None)
    );
    let mut conn = h.db.connect().await;
    let alert_row = alerts::get(&mut conn, incident.source_alert_id)
        .await
        .unwrap();
    assert_eq!(
        (alert_row.status.as_str(), alert_row.occurrence_count),
        ("firing", 2)
    );
    assert_eq!(
        published(&h, IncidentSubject::Updated).await.len(),
        1,
        "reopened"
    );

    // With no flap window, the next firing after a resolve is a recurrence.
    let mut rules = default_correlation();
    rules.flap_window_secs = 0;
    let h = Harness::with_rules(rules).await;
    let earlier = h.send(&a).await.opened_incidents[0];
    h.send(&a.resolved()).await;
    tokio::time::sleep(Duration::from_millis(5)).await; // resolved_at must lie in the past
    let later = h.send(&a).await.opened_incidents[0];
    assert_ne!(earlier, later);
    let mut conn = h.db.connect().await;
    let new_events = events::for_incident(&mut conn, later).await.unwrap();
    assert!(
        new_events
            .iter()
            .any(|e| e.kind == "recurrence_of" && e.detail["incident_id"] == earlier.to_string())
    );
    let old_events = events::for_incident(&mut conn, earlier).await.unwrap();
    assert!(
        old_events
            .iter()
            .any(|e| e.kind == "recurred_as" && e.detail["incident_id"] == later.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_resolve_closes_silent_alerts_of_sources_that_never_resolve() {
    let mut rules = default_correlation();
    rules.sources.insert(
        "splunk".into(),
        aurora_settings::SourceOverrides {
            auto_resolve_secs: Some(0),
            ..Default::default()
        },
    );
    let h = Harness::with_rules(rules).await;
    h.send(&alert(
        SourceType::Splunk,
        "orders-503",
        "orders-api",
        "Orders API 503 burst",
    ))
    .await;
    h.send(&alert(SourceType::Grafana, "cpu", "search", "High CPU"))
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await; // silent for longer than 0 s
    assert_eq!(
        aurora_correlator::auto_resolve::sweep(&h.correlator)
            .await
            .unwrap(),
        1
    );
    let statuses: HashMap<String, String> = h
        .incidents()
        .await
        .into_iter()
        .map(|i| (i.source_type, i.status))
        .collect();
    assert_eq!(statuses["splunk"], "resolved");
    assert_eq!(
        statuses["grafana"], "investigating",
        "only sources with a timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_correlators_fed_200_related_alerts_at_once_make_one_incident_with_199_attached() {
    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    // A second replica on the same durable consumer.
    let rules = std::sync::Arc::new(aurora_correlator::Rules::new(default_correlation()));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let replica = tokio::spawn(aurora_correlator::run(
        stack.connections.clone(),
        rules,
        aurora_e2e::default_batching(),
        shutdown.clone(),
    ));
    let user = aurora_domain::UserId::parse(owner.id.clone()).unwrap();
    let bus = &stack.connections.bus;
    let subject = bus.topology().alert_subject(SourceType::Grafana);
    for i in 0..200 {
        let batch = aurora_domain::AlertBatch {
            delivery_id: format!("load-{i}"),
            user_id: user.clone(),
            integration_id: uuid::Uuid::new_v4(),
            source_type: SourceType::Grafana,
            received_at: chrono::Utc::now(),
            alerts: vec![aurora_domain::NormalizedAlert {
                source_type: SourceType::Grafana,
                fingerprint: aurora_domain::Fingerprint::parse(format!("pod-{i}")).unwrap(),
                status: aurora_domain::AlertStatus::Firing,
                severity: aurora_domain::Severity::High,
                title: format!("checkout pod {i} restarting"),
                service: Some("checkout-api".into()),
                environment: Some("production".into()),
                started_at: chrono::Utc::now(),
                labels: Default::default(),
                url: None,
                description: None,
                runbook_url: None,
            }],
            deployment: None,
            raw_payload: serde_json::value::to_raw_value(&serde_json::json!({})).unwrap(),
        };
        bus.publish(subject.clone(), &batch.message_id(), &batch)
            .await
            .unwrap();
    }
    let mut conn = stack.connections.pool.get().await.unwrap();
    let incident = eventually("200 alerts correlated", Duration::from_secs(60), || async {
        let mut conn = stack.connections.pool.get().await.unwrap();
        let all = incidents::list_for_user(&mut conn, &user, 10)
            .await
            .unwrap();
        (all.iter().map(|i| i.correlated_alert_count).sum::<i32>() + all.len() as i32 == 200)
            .then_some(all)
    })
    .await;
    assert_eq!(incident.len(), 1, "exactly one incident");
    assert_eq!(incident[0].correlated_alert_count, 199);
    assert_eq!(
        incidents::links(&mut conn, incident[0].id)
            .await
            .unwrap()
            .len(),
        200
    );
    shutdown.cancel();
    replica.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_and_its_resolve_processed_in_reverse_order_by_two_replicas_leave_the_alert_resolved()
 {
    use aurora_correlation::{Arrival, Receipt};
    let h = Harness::new().await;
    // A second replica: its own correlator on the same database and streams.
    let replica = aurora_correlator::Correlator::new(
        h.db.pool(),
        h.bus.bus.clone(),
        std::sync::Arc::new(aurora_correlator::Rules::new(default_correlation())),
    );
    let bus = &h.bus.bus;
    let topology = bus.topology();
    let epoch = bus.stream_epoch(&topology.alerts_stream()).await.unwrap();
    // JetStream accepts the deliveries in the order given; the receipt is its sequence.
    let accept = async |batch: &aurora_domain::AlertBatch| Receipt {
        epoch,
        sequence: bus
            .publish(
                topology.alert_subject(batch.source_type),
                &batch.message_id(),
                batch,
            )
            .await
            .unwrap()
            .sequence as i64,
    };
    let disk = alert(SourceType::Alertmanager, "disk", "postgres", "DiskFull");
    let (firing, resolve) = (
        h.batch(std::slice::from_ref(&disk)),
        h.batch(&[disk.resolved()]),
    );
    let (fired, resolved) = (accept(&firing).await, accept(&resolve).await);

    // The resolve reaches one replica first; the firing reaches the other afterwards (it
    // was redelivered after a crash).
    replica
        .handle(
            &h.user,
            &[Arrival {
                receipt: resolved,
                batch: &resolve,
            }],
        )
        .await
        .unwrap();
    let late = h
        .correlator
        .handle(
            &h.user,
            &[Arrival {
                receipt: fired,
                batch: &firing,
            }],
        )
        .await
        .unwrap()
        .remove(0);
    assert!(
        late.opened_incidents.is_empty(),
        "a stale firing opens nothing"
    );
    assert!(h.incidents().await.is_empty());
    let mut conn = h.db.connect().await;
    let row = alerts::get(&mut conn, late.alerts[0]).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.incident_id),
        ("resolved", None),
        "the last webhook accepted was the resolve"
    );
    assert!(published(&h, IncidentSubject::Created).await.is_empty());

    // With an incident open: a repeat accepted after a resolve, processed before it, keeps
    // the alert firing and its incident open.
    let cpu = alert(SourceType::Alertmanager, "cpu", "checkout-api", "HighCPU");
    let opened = h
        .handle(&h.batch(std::slice::from_ref(&cpu)))
        .await
        .opened_incidents[0];
    let (resolve, repeat) = (
        h.batch(&[cpu.resolved()]),
        h.batch(std::slice::from_ref(&cpu)),
    );
    let (resolved, repeated) = (accept(&resolve).await, accept(&repeat).await);
    let fired = replica
        .handle(
            &h.user,
            &[Arrival {
                receipt: repeated,
                batch: &repeat,
            }],
        )
        .await
        .unwrap()
        .remove(0);
    let stale = h
        .correlator
        .handle(
            &h.user,
            &[Arrival {
                receipt: resolved,
                batch: &resolve,
            }],
        )
        .await
        .unwrap()
        .remove(0);
    assert!(stale.changes.is_empty(), "a stale resolve resolves nothing");
    let row = alerts::get(&mut conn, fired.alerts[0]).await.unwrap();
    assert_eq!((row.status.as_str(), row.occurrence_count), ("firing", 2));
    let incident = incidents::get(&mut conn, opened).await.unwrap();
    assert_eq!(incident.status, "investigating");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_incident_resolves_when_the_alerts_of_both_resolve() {
    use aurora_db::AsyncConnection;
    let h = Harness::new().await;
    let disk = alert(SourceType::Alertmanager, "disk", "postgres", "DiskFull");
    let cpu = alert(SourceType::Grafana, "cpu", "search", "High CPU");
    let target = h.send(&disk).await.opened_incidents[0];
    let source = h.send(&cpu).await.opened_incidents[0];
    let mut conn = h.db.connect().await;
    let user = h.user.clone();
    conn.transaction(async |conn| {
        aurora_db::lock_user(conn, &user).await?;
        let target = incidents::get(conn, target).await?;
        let source = incidents::get(conn, source).await?;
        aurora_db::merge::merge(conn, &target, &source, "one outage", aurora_db::time::now()).await
    })
    .await
    .unwrap();
    // Both alerts now fire in the target: it resolves with the second resolve, not the first.
    assert!(
        h.send(&disk.resolved()).await.changes.is_empty(),
        "cpu still fires"
    );
    assert_eq!(h.send(&cpu.resolved()).await.changes.len(), 1);
    let resolved = incidents::get(&mut conn, target).await.unwrap();
    assert_eq!(resolved.status, "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_postgresql_refuses_holds_back_no_other_delivery_of_its_batch() {
    let h = Harness::new().await;
    let good = h.batch(&[alert(
        SourceType::Grafana,
        "good",
        "checkout-api",
        "Checkout 5xx",
    )]);
    // A title PostgreSQL cannot store (a NUL character): this delivery fails on every attempt.
    let mut bad = h.batch(&[alert(SourceType::Grafana, "bad", "search", "Index lag")]);
    bad.alerts[0].title = "Index\u{0}lag".to_owned();
    let bus = &h.bus.bus;
    for batch in [&bad, &good] {
        bus.publish(
            bus.topology().alert_subject(batch.source_type),
            &batch.message_id(),
            batch,
        )
        .await
        .unwrap();
    }
    // Both are on the stream before the correlator starts, so they come in one batch.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let correlator = tokio::spawn(aurora_correlator::run(
        aurora_runtime::Connections::new(h.db.pool(), bus.clone()),
        std::sync::Arc::new(aurora_correlator::Rules::new(default_correlation())),
        aurora_e2e::default_batching(),
        shutdown.clone(),
    ));
    let opened = eventually(
        "the good delivery stored",
        Duration::from_secs(10),
        || async {
            let incidents = h.incidents().await;
            (!incidents.is_empty()).then_some(incidents)
        },
    )
    .await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].alert_title.as_deref(), Some("Checkout 5xx"));
    shutdown.cancel();
    correlator.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_postgresql_refuses_is_poison_at_once_and_stores_nothing() {
    let h = Harness::new().await;
    // A NUL reaches the correlator only from a sender that bypassed the normalizers (they
    // remove it); PostgreSQL refuses it in TEXT, so no retry could ever store it.
    let mut batch = h.batch(&[alert(SourceType::Grafana, "nul-1", "api", "disk full")]);
    batch.alerts[0].title = "disk\0full".to_owned();
    let refused = h
        .correlator
        .handle(&h.user, &[h.arrival(&batch)])
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, aurora_bus::HandlerError::Poison(_)),
        "{refused:?}"
    );
    assert!(h.incidents().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_but_never_published_is_published_by_the_relay_once() {
    use aurora_db::AsyncConnection;
    let h = Harness::new().await;
    let incident = h
        .send(&alert(
            SourceType::Grafana,
            "outbox-1",
            "api",
            "5xx rate high",
        ))
        .await
        .opened_incidents[0];
    let pool = h.db.pool();
    let bus = &h.bus.bus;
    let relay = || aurora_correlator::outbox::relay_once(&pool, bus, chrono::TimeDelta::zero());
    assert_eq!(
        relay().await.unwrap(),
        0,
        "the correlator's own events are covered"
    );
    // A writer commits a change with its event, then dies before publishing it.
    let mut conn = h.db.connect().await;
    let recorded = conn
        .transaction(async |conn| {
            events::record(
                conn,
                incident,
                "resolved",
                serde_json::json!({ "by": "ops" }),
            )
            .await
        })
        .await
        .unwrap();
    assert!(
        published(&h, IncidentSubject::Resolved)
            .await
            .iter()
            .all(|m| m["event_id"] != recorded.id)
    );
    assert_eq!(relay().await.unwrap(), 1);
    let resolved = published(&h, IncidentSubject::Resolved).await;
    assert_eq!(
        resolved
            .iter()
            .filter(|m| m["event_id"] == recorded.id && m["incident_id"] == incident.to_string())
            .count(),
        1
    );
    assert_eq!(relay().await.unwrap(), 0, "marked: relayed once");

    // A writer that did publish but died before marking: the relay's copy is dropped.
    let second = events::record(&mut conn, incident, "reopened", serde_json::json!({}))
        .await
        .unwrap();
    let message = aurora_domain::IncidentChanged {
        change: aurora_domain::IncidentChange::Updated,
        incident_id: incident,
        user_id: h.user.clone(),
        event_id: second.id,
        occurred_at: chrono::Utc::now(),
    };
    bus.publish_incident_change(&message).await.unwrap();
    assert_eq!(relay().await.unwrap(), 1);
    let updated = published(&h, IncidentSubject::Updated).await;
    assert_eq!(
        updated
            .iter()
            .filter(|m| m["event_id"] == second.id)
            .count(),
        1,
        "JetStream dropped the relay's duplicate"
    );

    // An incident no delivery opened (a silence's end): its `created` waits in the outbox, and
    // the relay announces it as incidents.created (JetStream keeps one per incident).
    events::record(
        &mut conn,
        incident,
        "created",
        serde_json::json!({ "alert_id": 1, "source_type": "grafana", "title": "5xx rate high" }),
    )
    .await
    .unwrap();
    assert_eq!(relay().await.unwrap(), 1, "announced as created");
    let announced = published(&h, IncidentSubject::Created).await;
    assert_eq!(
        announced
            .iter()
            .filter(|m| m["incident_id"] == incident.to_string())
            .count(),
        1
    );
    assert_eq!(relay().await.unwrap(), 0);
}
