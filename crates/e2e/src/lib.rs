//! The whole Aurora pipeline in one test process: ingress, correlator, RCA worker and API,
//! each built from its service's library exactly as its binary builds it, on port 0, over a
//! fresh database and fresh stream names.

pub mod harness;
pub mod http;
pub mod saas;
pub mod sse;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use aurora_correlator::Rules;
use aurora_db::secret_box::SecretBox;
use aurora_db::{integrations, users};
use aurora_domain::SourceType;
use aurora_ingress::{Clock, IngressState, SystemClock};
use aurora_runtime::Connections;
use aurora_settings::CorrelationSettings;
use aurora_testkit::{TestBus, TestDb};
use tokio_util::sync::CancellationToken;

/// A running stack. Dropping it stops the services, then drops the database and streams.
pub struct Stack {
    /// Base URL of the ingress, e.g. `http://127.0.0.1:41234`.
    pub ingress_url: String,
    /// Base URL of the API.
    pub api_url: String,
    /// Connections the services share, for assertions (and for extra workers a test starts:
    /// its registry is no service's).
    pub connections: Connections,
    /// The key the ingress opens signing secrets with.
    pub secret_box: SecretBox,
    /// The API's live-stream hub, for counting its subscriptions and connections.
    pub stream_hub: aurora_api::StreamHub,
    /// The workers' metrics (they serve them on their health port when run as services).
    pub worker_metrics: WorkerMetrics,
    shutdown: CancellationToken,
    // Dropped last, after the services stopped.
    bus: TestBus,
    db: TestDb,
}

/// The registries the workers count into.
pub struct WorkerMetrics {
    /// The correlator's.
    pub correlator: prometheus::Registry,
    /// The RCA worker's.
    pub rca_worker: prometheus::Registry,
}

/// A user made for a test.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Its id.
    pub id: String,
    /// Its API token.
    pub api_token: String,
}

impl Stack {
    /// Starts every service with the system clock and default correlation rules.
    pub async fn start() -> Self {
        Self::start_with(Arc::new(SystemClock), default_correlation()).await
    }

    /// Starts every service; the ingress checks signature timestamps against `clock`.
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::start_with(clock, default_correlation()).await
    }

    /// Starts every service, the API's live stream with these limits.
    pub async fn start_with_stream_limits(limits: aurora_api::StreamLimits) -> Self {
        Self::launch(Arc::new(SystemClock), default_correlation(), limits).await
    }

    /// Starts every service with these correlation rules; the ingress checks signature
    /// timestamps against `clock`.
    pub async fn start_with(clock: Arc<dyn Clock>, correlation: CorrelationSettings) -> Self {
        Self::launch(clock, correlation, default_stream_limits()).await
    }

    async fn launch(
        clock: Arc<dyn Clock>,
        correlation: CorrelationSettings,
        stream_limits: aurora_api::StreamLimits,
    ) -> Self {
        let db = TestDb::new().await;
        let bus = TestBus::new().await;
        let connections = Connections::new(db.pool(), bus.bus.clone());
        let shutdown = CancellationToken::new();

        let secret_box =
            SecretBox::from_base64(&SecretBox::generate_key()).expect("a generated key is valid");
        let ingress_state = IngressState {
            secret_box: Some(secret_box.clone()),
            pool: connections.pool.clone(),
            bus: connections.bus.clone(),
            clock,
            limits: aurora_ingress::RequestLimits::default(),
            metrics: aurora_ingress::IngressMetrics::new(&prometheus::Registry::new()),
            auth_failures: aurora_ingress::ClientFailures::new(0, Duration::from_secs(60)),
            signature_tolerance: Duration::from_secs(300),
            integrations: aurora_ingress::IntegrationCache::new(
                Duration::from_secs(60),
                Duration::from_secs(300),
            ),
            rate_limiter: aurora_ingress::RateLimiter::new(
                std::num::NonZeroU32::new(1000).expect("non-zero"),
                std::num::NonZeroU32::new(2000).expect("non-zero"),
            ),
        };
        aurora_ingress::follow_changes(
            connections.bus.clone(),
            ingress_state.integrations.clone(),
            shutdown.clone(),
        )
        .await
        .expect("the ingress hears integration changes");
        let (ingress_url, ingress) = listen();
        let ingress = aurora_ingress_service::server(
            ingress_state,
            aurora_vendors::all(),
            connections.readiness(),
            ingress,
        )
        .expect("the ingress starts");
        let (api_url, api) = listen();
        let stream_hub = aurora_api::StreamHub::new(connections.bus.clone(), stream_limits);
        let api = aurora_api::server(
            Connections::new(connections.pool.clone(), connections.bus.clone()),
            stream_hub.clone(),
            connections.readiness(),
            api,
        )
        .expect("the API starts");
        for server in [ingress, api] {
            let handle = server.handle();
            let stop = shutdown.clone();
            tokio::spawn(server);
            tokio::spawn(async move {
                stop.cancelled().await;
                handle.stop(false).await;
            });
        }
        let analyst = aurora_rca_worker::Analyst {
            dependencies: correlation.dependencies.clone(),
            ..aurora_rca_worker::Analyst::builtin()
        };
        // Each service counts into a registry of its own, as in its own process.
        let correlator = Connections::new(connections.pool.clone(), connections.bus.clone());
        let rca_worker = Connections::new(connections.pool.clone(), connections.bus.clone());
        let worker_metrics = WorkerMetrics {
            correlator: correlator.metrics.clone(),
            rca_worker: rca_worker.metrics.clone(),
        };
        spawn_worker(
            "correlator",
            aurora_correlator::run(
                correlator,
                Arc::new(Rules::new(correlation)),
                default_batching(),
                shutdown.clone(),
            ),
        );
        spawn_worker(
            "rca-worker",
            aurora_rca_worker::run(rca_worker, db.pool(), Arc::new(analyst), shutdown.clone()),
        );
        Self {
            ingress_url,
            api_url,
            connections,
            secret_box,
            stream_hub,
            worker_metrics,
            shutdown,
            bus,
            db,
        }
    }

    /// The test's bus, for counting and reading messages.
    pub fn bus(&self) -> &TestBus {
        &self.bus
    }

    /// The test's database.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// Creates a user.
    pub async fn user(&self, name: &str) -> TestUser {
        let mut conn = self.db.connect().await;
        let created = users::create(&mut conn, name).await.expect("user created");
        TestUser {
            id: created.user.id,
            api_token: created.api_token,
        }
    }

    /// Sends one firing Alertmanager alert, starting now, in `production`, with the
    /// integration `token`; asserts the ingress took it (202).
    pub async fn fire(
        &self,
        token: &str,
        fingerprint: &str,
        title: &str,
        service: &str,
        severity: &str,
    ) {
        self.alertmanager(token, "firing", fingerprint, title, service, severity)
            .await;
    }

    /// Sends the resolve of an alert [`Stack::fire`] sent.
    pub async fn resolve(
        &self,
        token: &str,
        fingerprint: &str,
        title: &str,
        service: &str,
        severity: &str,
    ) {
        self.alertmanager(token, "resolved", fingerprint, title, service, severity)
            .await;
    }

    async fn alertmanager(
        &self,
        token: &str,
        status: &str,
        fingerprint: &str,
        title: &str,
        service: &str,
        severity: &str,
    ) {
        let body = serde_json::json!({
            "version": "4", "status": status, "receiver": "aurora", "externalURL": "http://am",
            "alerts": [{
                "status": status, "fingerprint": fingerprint,
                "labels": {"alertname": title, "service": service, "env": "production", "severity": severity},
                "annotations": {}, "startsAt": chrono::Utc::now().to_rfc3339(),
            }]
        });
        let (status, _) = http::post_webhook(
            &self.webhook_url(SourceType::Alertmanager),
            Some(token),
            body.to_string().as_bytes(),
            &[],
        )
        .await;
        assert_eq!(
            status,
            reqwest::StatusCode::ACCEPTED,
            "the alert {title} was taken"
        );
    }

    /// Sends one firing Alertmanager alert per `(name, service, environment, severity)` for
    /// `user` and waits until each is an analysed incident (so nothing more happens to them
    /// under the test); answers their ids, in the same order.
    pub async fn analysed_incidents(
        &self,
        user: &TestUser,
        alerts: &[(&str, &str, &str, &str)],
    ) -> Vec<String> {
        use reqwest::StatusCode;
        let token = self.integration(user, SourceType::Alertmanager, &[]).await;
        for (name, service, environment, severity) in alerts {
            let body = serde_json::json!({
                "version": "4", "status": "firing", "receiver": "aurora", "externalURL": "http://am",
                "alerts": [{
                    "status": "firing",
                    "labels": {"alertname": name, "service": service, "env": environment, "severity": severity},
                    "annotations": {}, "startsAt": "2026-11-27T08:00:00Z", "fingerprint": format!("{name}-{service}-{environment}")
                }]
            });
            let (status, _) = http::post_webhook(
                &self.webhook_url(SourceType::Alertmanager),
                Some(&token),
                body.to_string().as_bytes(),
                &[],
            )
            .await;
            assert_eq!(status, StatusCode::ACCEPTED);
        }
        let url = format!("{}/api/incidents?limit=100", self.api_url);
        let page = eventually("the incidents", Duration::from_secs(30), || async {
            let (_, page) = http::get_json(&url, Some(&user.api_token)).await;
            let incidents = page["incidents"].as_array()?;
            // Analysed, so their status no longer changes under the test.
            let settled = incidents.iter().all(|i| i["aurora_status"] == "complete");
            (incidents.len() == alerts.len() && settled).then_some(page.clone())
        })
        .await;
        alerts
            .iter()
            .map(|(name, ..)| {
                let found = page["incidents"]
                    .as_array()
                    .expect("a page of incidents")
                    .iter()
                    .find(|i| i["alert_title"] == *name)
                    .expect("each alert is an incident");
                found["id"].as_str().expect("an id").to_owned()
            })
            .collect()
    }

    /// Creates an integration and answers its webhook token.
    pub async fn integration(
        &self,
        user: &TestUser,
        source: SourceType,
        secrets: &[&str],
    ) -> String {
        let mut conn = self.db.connect().await;
        let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
        integrations::create(
            &mut conn,
            &user.id,
            source,
            &secrets,
            Some(&self.secret_box),
        )
        .await
        .expect("integration created")
        .token
    }

    /// Starts a notifier (another replica with each call) whose `[notifications]` settings are
    /// `notifications_toml`, reading the secrets its destinations name from `secrets`; answers
    /// once its consumer exists, so every incident event from then on reaches it.
    pub async fn start_notifier(
        &self,
        notifications_toml: &str,
        secrets: &[(&str, &str)],
    ) -> TestNotifier {
        let settings = settings_with(notifications_toml);
        let secrets: std::collections::HashMap<String, String> = secrets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let destinations =
            aurora_notifier::Destinations::from_settings(&settings.notifications, |name| {
                secrets.get(name).cloned()
            })
            .expect("the notifier's destinations");
        let router = aurora_notifier::Router::new(settings.notifications.routes.clone());
        let connections = Connections::new(self.db.pool(), self.bus.bus.clone());
        let metrics = connections.metrics.clone();
        let stop = self.shutdown.child_token();
        let task = tokio::spawn(aurora_notifier::run(
            connections,
            Arc::new(router),
            Arc::new(destinations),
            stop.clone(),
        ));
        let topology = self.bus.bus.topology();
        eventually(
            "the notifier's consumer",
            Duration::from_secs(10),
            || async {
                self.bus
                    .bus
                    .consumer_backlog(&topology.incidents_stream(), aurora_bus::Topology::NOTIFIER)
                    .await
                    .ok()
            },
        )
        .await;
        TestNotifier {
            stop,
            task: Some(task),
            metrics,
        }
    }

    /// The URL of a source's webhook route.
    pub fn webhook_url(&self, source: SourceType) -> String {
        format!("{}{}", self.ingress_url, aurora_vendors::route_path(source))
    }
}

/// A notifier a test started.
pub struct TestNotifier {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Its metrics.
    pub metrics: prometheus::Registry,
}

impl TestNotifier {
    /// Stops it as SIGTERM does (its sends in flight finish) and waits until it has.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("the notifier ran")
                .expect("the notifier stopped cleanly");
        }
    }
}

impl Drop for TestNotifier {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Settings with no configuration but `toml` (a file's text).
pub fn settings_with(toml: &str) -> aurora_settings::Settings {
    let path = std::env::temp_dir().join(format!("aurora-e2e-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, toml).expect("a temporary settings file");
    let settings =
        aurora_settings::Settings::load_from(Some(path.clone()), Some(Default::default()));
    let _ = std::fs::remove_file(&path);
    settings.expect("valid settings")
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The correlation rules a deployment gets with no configuration.
pub fn default_correlation() -> CorrelationSettings {
    aurora_settings::Settings::load_from(None, Some(Default::default()))
        .expect("the defaults are valid")
        .correlation
}

/// The API's live-stream limits with no configuration.
pub fn default_stream_limits() -> aurora_api::StreamLimits {
    let settings = aurora_settings::Settings::load_from(None, Some(Default::default()))
        .expect("the defaults are valid");
    aurora_api::StreamLimits::from(&settings.api)
}

/// How a correlator with no configuration takes deliveries off the stream.
pub fn default_batching() -> aurora_bus::Batching {
    let settings = aurora_settings::Settings::load_from(None, Some(Default::default()))
        .expect("the defaults are valid");
    aurora_correlator::batching(&settings.correlator)
}

fn listen() -> (String, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    (url, listener)
}

fn spawn_worker(
    name: &'static str,
    work: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(err) = work.await {
            panic!("{name} stopped: {err:#}");
        }
    });
}

/// Polls `check` until it answers `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
