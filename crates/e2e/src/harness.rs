//! The correlator's and RCA worker's steps called directly, without consumers, so a test
//! controls exactly what runs when.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aurora_correlation::{Arrival, Receipt};
use aurora_correlator::{Correlator, DeliveryOutcome, Rules};
use aurora_db::incidents::{self, Incident};
use aurora_db::users;
use aurora_domain::{
    AlertBatch, AlertStatus, Fingerprint, NormalizedAlert, Severity, SourceType, UserId,
};
use aurora_rca_worker::{Analyst, Investigator};
use aurora_settings::CorrelationSettings;
use aurora_testkit::{TestBus, TestDb};
use chrono::{DateTime, Utc};

/// A fresh database and streams, a user, and a correlator over them.
pub struct Harness {
    /// The database.
    pub db: TestDb,
    /// The streams.
    pub bus: TestBus,
    /// The correlator under test.
    pub correlator: Correlator,
    /// The user alerts belong to.
    pub user: UserId,
    /// The stream sequence the next delivery gets, as JetStream would number it.
    sequence: AtomicI64,
}

/// One alert as a test writes it.
#[derive(Debug, Clone)]
pub struct TestAlert {
    /// Sender.
    pub source: SourceType,
    /// Key.
    pub fingerprint: &'static str,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Title.
    pub title: &'static str,
    /// Service.
    pub service: Option<&'static str>,
    /// Environment.
    pub environment: Option<&'static str>,
}

impl TestAlert {
    /// A firing alert in production.
    pub fn firing(
        source: SourceType,
        fingerprint: &'static str,
        service: &'static str,
        title: &'static str,
    ) -> Self {
        Self {
            source,
            fingerprint,
            status: AlertStatus::Firing,
            title,
            service: Some(service),
            environment: Some("production"),
        }
    }

    /// The same alert, resolved.
    pub fn resolved(&self) -> Self {
        Self {
            status: AlertStatus::Resolved,
            ..self.clone()
        }
    }

    /// The same alert in another environment.
    pub fn in_environment(&self, environment: Option<&'static str>) -> Self {
        Self {
            environment,
            ..self.clone()
        }
    }
}

impl Harness {
    /// With default rules.
    pub async fn new() -> Self {
        Self::with_rules(crate::default_correlation()).await
    }

    /// With these rules.
    pub async fn with_rules(settings: CorrelationSettings) -> Self {
        let db = TestDb::new().await;
        let bus = TestBus::new().await;
        let mut conn = db.connect().await;
        let user = users::create(&mut conn, "owner").await.expect("user").user;
        let correlator =
            Correlator::new(db.pool(), bus.bus.clone(), Arc::new(Rules::new(settings)));
        Self {
            correlator,
            user: UserId::parse(user.id).expect("valid id"),
            db,
            bus,
            sequence: AtomicI64::new(1),
        }
    }

    /// An RCA worker's investigator with `analyst`, over the harness' database (a pool for
    /// the analyses, another for lease renewals) and streams.
    pub fn investigator(&self, analyst: Analyst) -> Investigator {
        Investigator::new(
            self.db.pool(),
            self.db.pool(),
            self.bus.bus.clone(),
            Arc::new(analyst),
        )
    }

    /// A delivery of these alerts, received now.
    pub fn batch(&self, alerts: &[TestAlert]) -> AlertBatch {
        self.batch_at(alerts, Utc::now())
    }

    /// A delivery of these alerts, received at `at`.
    pub fn batch_at(&self, alerts: &[TestAlert], at: DateTime<Utc>) -> AlertBatch {
        AlertBatch {
            delivery_id: uuid::Uuid::now_v7().to_string(),
            user_id: self.user.clone(),
            integration_id: uuid::Uuid::new_v4(),
            source_type: alerts[0].source,
            received_at: at,
            alerts: alerts
                .iter()
                .map(|a| NormalizedAlert {
                    source_type: a.source,
                    fingerprint: Fingerprint::parse(a.fingerprint).expect("valid"),
                    status: a.status,
                    severity: Severity::High,
                    title: a.title.to_owned(),
                    service: a.service.map(str::to_owned),
                    environment: a.environment.map(str::to_owned),
                    started_at: at,
                    labels: BTreeMap::new(),
                    url: None,
                    description: None,
                    runbook_url: None,
                })
                .collect(),
            deployment: None,
            raw_payload: serde_json::value::to_raw_value(&serde_json::json!({ "test": true }))
                .expect("JSON"),
        }
    }

    /// `batch` as the next delivery off the stream: its receipt comes after every earlier
    /// one's.
    pub fn arrival<'a>(&self, batch: &'a AlertBatch) -> Arrival<'a> {
        Arrival {
            receipt: Receipt {
                epoch: 1,
                sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
            },
            batch,
        }
    }

    /// Sends one alert through the correlator.
    pub async fn send(&self, alert: &TestAlert) -> DeliveryOutcome {
        self.handle(&self.batch(std::slice::from_ref(alert))).await
    }

    /// Sends one delivery through the correlator, as the next off the stream.
    pub async fn handle(&self, batch: &AlertBatch) -> DeliveryOutcome {
        self.correlator
            .handle(&self.user, &[self.arrival(batch)])
            .await
            .expect("handled")
            .remove(0)
    }

    /// The user's incidents, merged ones too, newest first.
    pub async fn incidents(&self) -> Vec<Incident> {
        let mut conn = self.db.connect().await;
        incidents::list_for_user(&mut conn, &self.user, 100)
            .await
            .expect("listed")
    }
}
