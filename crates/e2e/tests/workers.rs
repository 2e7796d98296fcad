//! The correlator's and the RCA worker's steps called directly, without the consumers, so a
//! test controls exactly what runs when.

use std::collections::BTreeMap;

use aurora_correlator::Correlator;
use aurora_db::{alerts, analysis, events, incidents, users};
use aurora_domain::{
    AlertBatch, AlertStatus, Fingerprint, NormalizedAlert, Severity, SourceType, UserId,
};
use aurora_rca_worker::{InvestigationOutcome, Investigator};
use aurora_testkit::{TestBus, TestDb};
use chrono::Utc;

struct Workers {
    db: TestDb,
    _bus: TestBus,
    correlator: Correlator,
    user: UserId,
}

impl Workers {
    async fn new() -> Self {
        let db = TestDb::new().await;
        let bus = TestBus::new().await;
        let mut conn = db.connect().await;
        let user = users::create(&mut conn, "owner").await.unwrap().user;
        let rules = std::sync::Arc::new(aurora_correlator::Rules::new(
            aurora_e2e::default_correlation(),
        ));
        let correlator = Correlator::new(db.pool(), bus.bus.clone(), rules);
        Self {
            correlator,
            user: UserId::parse(user.id).unwrap(),
            db,
            _bus: bus,
        }
    }

    fn batch(&self, status: AlertStatus) -> AlertBatch {
        let alert = NormalizedAlert {
            source_type: SourceType::Alertmanager,
            fingerprint: Fingerprint::parse("disk-full-db-1").unwrap(),
            status,
            severity: Severity::Medium,
            title: "DiskFull".into(),
            service: Some("postgres".into()),
            environment: Some("production".into()),
            started_at: Utc::now(),
            labels: BTreeMap::new(),
            url: None,
        };
        AlertBatch {
            delivery_id: uuid::Uuid::now_v7().to_string(),
            user_id: self.user.clone(),
            integration_id: uuid::Uuid::new_v4(),
            source_type: SourceType::Alertmanager,
            received_at: Utc::now(),
            alerts: vec![alert],
            deployment: None,
            raw_payload: serde_json::json!({"status": status.as_str()}),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_closes_the_open_alert_and_a_later_firing_is_a_new_alert() {
    let w = Workers::new().await;
    let opened = w
        .correlator
        .handle(&w.batch(AlertStatus::Firing))
        .await
        .unwrap();
    let [incident_id] = opened.opened_incidents[..] else {
        panic!("one incident")
    };

    let resolved = w
        .correlator
        .handle(&w.batch(AlertStatus::Resolved))
        .await
        .unwrap();
    assert!(resolved.opened_incidents.is_empty());
    let mut conn = w.db.connect().await;
    let stored = alerts::for_incident(&mut conn, incident_id).await.unwrap();
    assert_eq!(
        stored.len(),
        1,
        "the resolve updated the open alert, it stored no new row"
    );
    assert_eq!(stored[0].status, "resolved");
    assert!(stored[0].resolved_at.is_some());
    let kinds: Vec<_> = events::for_incident(&mut conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "alert_resolved"]);

    let again = w
        .correlator
        .handle(&w.batch(AlertStatus::Firing))
        .await
        .unwrap();
    assert_eq!(again.opened_incidents.len(), 1, "nothing is open any more");
    assert_ne!(again.opened_incidents[0], incident_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_for_an_alert_never_seen_is_kept_but_opens_nothing() {
    let w = Workers::new().await;
    let outcome = w
        .correlator
        .handle(&w.batch(AlertStatus::Resolved))
        .await
        .unwrap();
    assert!(outcome.opened_incidents.is_empty());
    let (_, processed) = w
        .correlator
        .store(&w.batch(AlertStatus::Resolved))
        .await
        .unwrap();
    let mut conn = w.db.connect().await;
    let alert = alerts::get(&mut conn, processed[0].alert_id).await.unwrap();
    assert_eq!(
        (alert.status.as_str(), alert.incident_id),
        ("resolved", None)
    );
    assert!(
        incidents::list_for_user(&mut conn, &w.user, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_for_one_incident_analyse_it_once() {
    let w = Workers::new().await;
    let opened = w
        .correlator
        .handle(&w.batch(AlertStatus::Firing))
        .await
        .unwrap();
    let incident_id = opened.opened_incidents[0];
    let first = Investigator::new(w.db.pool());
    let second = Investigator::new(w.db.pool());
    let (a, b) = tokio::join!(
        first.investigate(incident_id),
        second.investigate(incident_id)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| *o == InvestigationOutcome::AlreadyClaimed);
    assert_eq!(
        outcomes,
        [
            InvestigationOutcome::Completed,
            InvestigationOutcome::AlreadyClaimed
        ]
    );

    let mut conn = w.db.connect().await;
    let incident = incidents::get(&mut conn, incident_id).await.unwrap();
    assert_eq!(incident.aurora_status.as_deref(), Some("complete"));
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert_eq!(
        thoughts.len(),
        3,
        "one analysis' thoughts, not two: {thoughts:?}"
    );
    let kinds: Vec<_> = events::for_incident(&mut conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "analysis_started", "analysis_completed"]);
    // A redelivered event later finds the work done.
    assert_eq!(
        first.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::AlreadyClaimed
    );
}
