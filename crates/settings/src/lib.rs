//! Aurora's configuration: built-in defaults, then a TOML file, then environment variables.
//!
//! The file is `$AURORA_CONFIG` when set, else `aurora.toml` in the working directory when it
//! exists. Environment variables are `AURORA__<SECTION>__<KEY>`, e.g.
//! `AURORA__DATABASE__URL`. Every setting, with its default:
//!
//! | setting | default | meaning |
//! | --- | --- | --- |
//! | `database.url` | `postgres://postgres@127.0.0.1:5432/aurora` | PostgreSQL |
//! | `database.pool_size` | `10` | connections per process (the rca-worker opens 2 more, its own, for lease renewals, so they never wait behind analyses) |
//! | `database.statement_timeout_ms` | `10000` | server-side statement limit |
//! | `database.pool_timeout_ms` | `5000` | longest a caller waits for a pooled connection, or for a new one to open; then it fails instead of hanging |
//! | `database.liveness_after_secs` | `120` | a worker or the API that could not reach PostgreSQL this long (over a probe connection of its own: a busy pool does not count) answers `/healthz` with 503, so it is restarted (`0`: never; the ingress never, as it serves known tokens without PostgreSQL) |
//! | `nats.url` | `nats://127.0.0.1:4222` | NATS with JetStream |
//! | `nats.prefix` | empty | prefix for stream and subject names (isolated test or tenant) |
//! | `nats.stream_replicas` | `1` | copies of each stream JetStream keeps when it creates them: `3` on a three-node cluster, so an acknowledged alert survives losing a node |
//! | `ingress.bind` | `127.0.0.1:8080` | webhook listener |
//! | `ingress.public_url` | `http://127.0.0.1:8080` | base of webhook URLs printed for users |
//! | `ingress.body_limit_bytes` | `1048576` | larger bodies get 413 |
//! | `ingress.body_read_timeout_secs` | `10` | a body not received this long after its request head gets 408 |
//! | `ingress.max_alerts_per_delivery` | `1000` | a delivery with more alerts gets 413 |
//! | `ingress.auth_failures_per_minute` | `30` | failed authentications per client address; past it, tokens the ingress does not already know get 429 for the rest of the minute (`0`: no limit) |
//! | `ingress.trusted_proxy_hops` | `0` | load balancers in front whose `X-Forwarded-For` entry names the client (`0`: the peer address is the client) |
//! | `ingress.signature_tolerance_secs` | `300` | oldest signed timestamp accepted |
//! | `ingress.rate_limit_per_second`, `ingress.rate_limit_burst` | `100`, `500` | per integration token and ingress process; more get 429 |
//! | `ingress.auth_fallback_secs` | `300` | while PostgreSQL cannot answer, a token it vouched for this recently is still accepted; `0` turns this off |
//! | `ingress.auth_cache_secs` | `60` | an ingress asks PostgreSQL about a token again after this long; revocations and secret rotations reach it at once over the bus |
//! | `api.bind` | `127.0.0.1:8081` | incidents API listener |
//! | `api.stream_queue` | `256` | live-stream events waiting for one connection; a reader that falls this far behind is disconnected (it reconnects with `Last-Event-ID`) |
//! | `api.stream_connections_per_user` | `10` | live streams one user may hold open on one API process; more get 429 |
//! | `correlator.bind` | `127.0.0.1:8082` | correlator health and readiness |
//! | `correlator.batch_max_messages`, `correlator.batch_max_wait_ms` | `2000`, `5` | deliveries decided together, and how long a batch waits to fill |
//! | `rca_worker.bind` | `127.0.0.1:8083` | RCA worker health and readiness |
//! | `telemetry.log_format` | `text` | `text` or `json` |
//! | `telemetry.log_filter` | `info` | `tracing` filter directives |
//! | `telemetry.otlp_endpoint` | unset | OTLP/HTTP endpoint for traces |
//! | `secrets.encryption_key` | unset | base64 32-byte key sealing signing secrets at rest; needed once any integration has one |
//! | `secrets.previous_encryption_keys` | unset | comma-separated keys that sealed secrets before the current one (opened, never used to seal) until `aurora secrets rotate-key` |
//! | `correlation.window_secs` | `900` | open incidents updated this recently are candidates |
//! | `correlation.threshold` | `0.6` | combined score at which an alert joins an incident |
//! | `correlation.max_alerts_per_incident` | `200` | a full incident takes no more alerts |
//! | `correlation.flap_window_secs` | `600` | a resolved alert firing again this soon reopens its incident |
//! | `correlation.resolve_policy` | `all` | `all`, `first` or `never` of the incident's alerts resolve it |
//! | `correlation.deployment_window_secs` | `7200` | deployments this recent count as causes |
//! | `correlation.hop_decay`, `correlation.max_hops` | `0.5`, `3` | topology score per extra hop, and the farthest hop |
//! | `correlation.weights.{service,topology,similarity,time,deployment}` | `0.7, 0.6, 0.5, 0.3, 0.4` | what each strategy alone can contribute |
//! | `correlation.dependencies` | empty | service → the services it calls (`checkout-api = ["payments-api"]`) |
//! | `correlation.sources.<source>.{threshold,window_secs,auto_resolve_secs}` | unset | per-source overrides; auto-resolve for sources that never send resolves |
//! | `rca.knowledge_files` | `[]` | users' failure-pattern files, added to the built-in ones |
//! | `rca.max_concurrent_per_user`, `rca.analysis_budget_secs` | `3`, `300` | analyses per user at once (at least 1; more wait `idle`); longest an analysis may run |
//! | `rca.claim_idle_after_secs` | `2` | an incident still `idle` this long after it opened (it waited for one of its user's slots, or its event was set aside) is claimed by the next worker with a free slot that looks (every 5 s, and whenever one of its analyses ends) and finds its user a free slot |
//! | `rca.commands.{timeout_secs,output_cap_bytes,max_concurrent,env_allowlist}` | `30`, `65536`, `4`, `PATH LANG LC_ALL TZ` | limits on diagnostic commands |
//! | `rca.llm.{base_url,model,api_key_env,max_tokens,max_tool_calls,timeout_secs,attempts}` | unset | a language-model analyst (OpenAI-compatible); `20000`, `4`, `120`, `3` |
//! | `rca.prometheus.{url,users,bearer_token_env,before_secs,after_secs,step_secs,timeout_secs,signals}` | unset | a Prometheus the analyst reads evidence from, for the listed users' incidents only; `1800`, `300`, `15`, `5`, and the signals cpu, memory, restarts, errors, latency, saturation (PromQL templates with `{service}`, `{environment}`, `{labels.<name>}`) |
//! | `retention.{raw_payloads_days,alerts_days,resolved_incidents_days}` | `30`, `180`, `365` | how long raw bodies, resolved alerts and resolved or merged incidents are kept (`0`: for ever) |
//! | `retention.{batch_size,interval_secs}` | `1000`, `300` | rows deleted per statement; how often a correlator deletes what is due |
//! | `notifier.bind` | `127.0.0.1:8084` | notifier health and readiness |
//! | `notifications.console_url` | `http://127.0.0.1:8081` | messages link to `<console_url>/incidents/<id>` |
//! | `notifications.{max_attempts,request_timeout_secs,lease_secs}` | `12`, `10`, `60` | attempts per delivery (backoff from 2 s to 10 min, or the destination's `Retry-After`) before it is kept as failed; longest request; when a delivery whose notifier died is tried again |
//! | `notifications.slack.{bot_token_env,api_url}` | unset, `https://slack.com/api` | Slack's Web API: the variable holding the bot token |
//! | `notifications.pagerduty.events_url` | `https://events.pagerduty.com/v2/enqueue` | PagerDuty's Events API v2 |
//! | `notifications.webhooks` | none | `[[notifications.webhooks]]` name, url, secret_env (the variable holding its signing secret) |
//! | `notifications.routes` | none | `[[notifications.routes]]` name, user (required), services, environments, severities, sources (empty: any), notify_after_secs (`0`), slack_channel (an ID), pagerduty_routing_key_env, webhooks (names), continue (`false`: the first matching rule of the user decides) |
//! | `rca.runbooks` | none | `[[rca.runbooks]]` name, user (required: runs only for that user's incidents), match_terms, pattern, commands (argument lists; with `ssh`, a placeholder only as the host), placeholder_patterns (placeholder → regex its whole value must match; default `[A-Za-z0-9._:/-]{1,253}`) |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use config::{Config, Environment, File};
use secrecy::SecretString;
use serde::Deserialize;

mod notifications;
mod runbooks;

pub use notifications::{
    NotificationRoute, NotificationSettings, PagerDutySettings, SlackSettings, WebhookEndpoint,
};

pub use runbooks::{
    DEFAULT_PLACEHOLDER_PATTERN, Piece, PlaceholderPattern, Runbook, RunbookError, RunbookSpec,
    pieces,
};

/// Every setting of every service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// NATS.
    pub nats: NatsSettings,
    /// Webhook ingress.
    pub ingress: IngressSettings,
    /// Incidents API.
    pub api: ApiSettings,
    /// Correlator.
    pub correlator: CorrelatorSettings,
    /// RCA worker.
    pub rca_worker: ListenSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// How alerts become incidents.
    pub correlation: CorrelationSettings,
    /// Root-cause analysis.
    pub rca: RcaSettings,
    /// Keys for secrets at rest.
    #[serde(default)]
    pub secrets: SecretsSettings,
    /// Notifier: health and readiness listener.
    pub notifier: ListenSettings,
    /// Where incidents are announced.
    pub notifications: NotificationSettings,
    /// How long what is done is kept.
    pub retention: RetentionSettings,
}

/// How long what is done is kept, in days (`0`: for ever). A correlator deletes what is due in
/// small batches; `aurora retention run --dry-run` says what would go.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// Raw webhook bodies, counted from their receipt; their alerts stay.
    pub raw_payloads_days: u32,
    /// Resolved alerts not in an open incident, counted from their resolve (with their
    /// delivery records and the hourly noise figures of that age).
    pub alerts_days: u32,
    /// Resolved and merged incidents, counted from their resolve (with their analysis,
    /// timeline and notifications).
    pub resolved_incidents_days: u32,
    /// Rows deleted per statement, so no lock is held long.
    pub batch_size: u32,
    /// How often a correlator looks for what is due.
    pub interval_secs: u64,
}

/// Keys for secrets at rest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecretsSettings {
    /// 32 bytes, base64: seals integrations' signing secrets in the database. Set it from the
    /// environment (`AURORA__SECRETS__ENCRYPTION_KEY`), never in a file in the repository.
    pub encryption_key: Option<SecretString>,
    /// Keys that sealed secrets before the current one, comma-separated: still opened, never
    /// used to seal; kept until `aurora secrets rotate-key` sealed everything again.
    pub previous_encryption_keys: Option<SecretString>,
}

impl SecretsSettings {
    /// The keys in clear: the current one and the previous ones, comma-separated.
    pub fn keys(&self) -> (Option<&str>, Option<&str>) {
        use secrecy::ExposeSecret;
        (
            self.encryption_key
                .as_ref()
                .map(ExposeSecret::expose_secret),
            self.previous_encryption_keys
                .as_ref()
                .map(ExposeSecret::expose_secret),
        )
    }
}

/// Root-cause analysis settings.
#[derive(Debug, Clone, Deserialize)]
pub struct RcaSettings {
    /// Knowledge files (TOML, the shape of `crates/rca/knowledge.toml`) that add failure
    /// patterns or replace built-in ones by id.
    pub knowledge_files: Vec<String>,
    /// Analyses one user may have running at once; more wait, `idle`, for a sweep to claim
    /// them once a slot is free.
    pub max_concurrent_per_user: i64,
    /// Incidents `idle` this long after they opened are claimed by the workers' sweeps (every
    /// 5 s) as soon as their user has a free slot: those that waited for a slot, and any whose
    /// `incidents.created` event was never handled.
    pub claim_idle_after_secs: u64,
    /// An analysis running longer is stopped (`error`) by whichever worker notices.
    pub analysis_budget_secs: u64,
    /// Limits on diagnostic commands.
    pub commands: CommandLimits,
    /// Diagnostic commands to run for matching alerts of their user; none unless configured.
    /// Each is checked as it loads (`Runbook::try_from`).
    #[serde(default)]
    pub runbooks: Vec<Runbook>,
    /// A language-model analyst; the built-in analyst alone when unset.
    #[serde(default)]
    pub llm: Option<LlmSettings>,
    /// A Prometheus to read evidence from; none is queried when unset.
    #[serde(default)]
    pub prometheus: Option<PrometheusSettings>,
}

/// The Prometheus the analyst queries when an alert carries its expression (Alertmanager's and
/// Grafana's `generatorURL`): that expression and the service's standard signals around the
/// alert's start.
#[derive(Debug, Clone, Deserialize)]
pub struct PrometheusSettings {
    /// Its base URL, e.g. `http://prometheus:9090`.
    pub url: String,
    /// The users whose alerts may query it. An alert's expression is the sender's PromQL, run
    /// as it is: list only users entitled to every series this Prometheus holds.
    pub users: Vec<String>,
    /// The environment variable holding a bearer token for it, if it needs one (the token
    /// itself never sits in a file).
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// How far before the alert's start to look, in seconds; the first quarter of the window
    /// is taken as the baseline.
    #[serde(default = "default_prometheus_before")]
    pub before_secs: u64,
    /// How far after the alert's start to look, in seconds.
    #[serde(default = "default_prometheus_after")]
    pub after_secs: u64,
    /// Resolution of the range queries, in seconds.
    #[serde(default = "default_prometheus_step")]
    pub step_secs: u64,
    /// Longest one query may take, in seconds.
    #[serde(default = "default_prometheus_timeout")]
    pub timeout_secs: u64,
    /// The standard signals, as PromQL templates: `{service}`, `{environment}` and
    /// `{labels.<name>}` are filled from the alert (a signal whose placeholder has no value, or
    /// a value that is not a plain name, is skipped). Knowledge patterns name the signals that
    /// support them.
    #[serde(default = "default_signals")]
    pub signals: Vec<SignalTemplate>,
}

/// Most points one range query may ask for (Prometheus refuses more than 11,000).
const MAX_POINTS: u64 = 11_000;
/// The longest window, either side of the alert's start: a week.
const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

impl PrometheusSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let fail = |detail: &str| Err(SettingsError(format!("rca.prometheus: {detail}")));
        if self.users.is_empty() {
            return fail("`users` must list the users whose alerts may query it");
        }
        if self.timeout_secs == 0 || self.step_secs == 0 {
            return fail("timeout_secs and step_secs must be at least 1");
        }
        if self.before_secs > MAX_WINDOW_SECS || self.after_secs > MAX_WINDOW_SECS {
            return fail("before_secs and after_secs must be at most a week (604800)");
        }
        if (self.before_secs + self.after_secs) / self.step_secs > MAX_POINTS {
            return fail("the window holds more than 11,000 steps: raise step_secs");
        }
        if self.before_secs < 4 * self.step_secs {
            return fail("before_secs must span at least 4 steps, or there is no baseline");
        }
        // The baseline is the window's first quarter: it must end before the alert started.
        if self.after_secs > 3 * self.before_secs {
            return fail(
                "after_secs must be at most 3 × before_secs, or the baseline holds the alert",
            );
        }
        Ok(())
    }
}

/// A standard signal's query.
#[derive(Debug, Clone, Deserialize)]
pub struct SignalTemplate {
    /// Its name, as patterns refer to it (`cpu`, `memory`, `restarts`, `errors`, `latency`,
    /// `saturation`).
    pub name: String,
    /// The PromQL template.
    pub query: String,
}

fn default_prometheus_before() -> u64 {
    1800
}
fn default_prometheus_after() -> u64 {
    300
}
fn default_prometheus_step() -> u64 {
    15
}
fn default_prometheus_timeout() -> u64 {
    5
}

/// The usual series of Kubernetes (cAdvisor, kube-state-metrics) and HTTP services.
fn default_signals() -> Vec<SignalTemplate> {
    [
        ("cpu", r#"sum(rate(container_cpu_usage_seconds_total{container="{service}"}[2m]))"#),
        ("memory", r#"sum(container_memory_working_set_bytes{container="{service}"})"#),
        // Restarts within the last 5 minutes, not the lifetime count, which a few more barely move.
        ("restarts", r#"sum(increase(kube_pod_container_status_restarts_total{container="{service}"}[5m]))"#),
        ("errors", r#"sum(rate(http_requests_total{service="{service}",code=~"5.."}[2m]))"#),
        ("latency", r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="{service}"}[2m])))"#),
        ("saturation", r#"sum(rate(container_cpu_cfs_throttled_periods_total{container="{service}"}[2m]))"#),
    ]
    .into_iter()
    .map(|(name, query)| SignalTemplate {
        name: name.to_owned(),
        query: query.to_owned(),
    })
    .collect()
}

/// An OpenAI-compatible chat-completions endpoint (OpenAI, Azure, Ollama, vLLM, llama.cpp).
#[derive(Debug, Clone, Deserialize)]
pub struct LlmSettings {
    /// Up to and including the version, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// The environment variable holding the API key (the key itself never sits in a file).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Most tokens one analysis may use (prompt and completion, all rounds).
    #[serde(default = "default_llm_tokens")]
    pub max_tokens: u64,
    /// Most diagnostic commands the model may call.
    #[serde(default = "default_llm_tool_calls")]
    pub max_tool_calls: u32,
    /// Longest one analysis may take, in seconds.
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    /// Attempts per request when the endpoint fails (with exponential backoff).
    #[serde(default = "default_llm_attempts")]
    pub attempts: u32,
}

fn default_llm_tokens() -> u64 {
    20_000
}
fn default_llm_tool_calls() -> u32 {
    4
}
fn default_llm_timeout() -> u64 {
    120
}
fn default_llm_attempts() -> u32 {
    3
}

/// Limits every diagnostic command runs under.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandLimits {
    /// Killed after this long.
    pub timeout_secs: u64,
    /// Output kept, in bytes (stdout then stderr).
    pub output_cap_bytes: usize,
    /// Commands one worker runs at once.
    pub max_concurrent: usize,
    /// The only environment variables a command sees (taken from the worker's environment).
    pub env_allowlist: Vec<String>,
}

/// How alerts are grouped into incidents and when incidents resolve.
#[derive(Debug, Clone, Deserialize)]
pub struct CorrelationSettings {
    /// Open incidents updated within this many seconds are candidates.
    pub window_secs: u64,
    /// Combined score at which an alert joins the best candidate.
    pub threshold: f64,
    /// An incident holding this many alerts takes no more.
    pub max_alerts_per_incident: i32,
    /// A resolved alert firing again within this many seconds reopens its incident.
    pub flap_window_secs: u64,
    /// Which of an incident's alerts must resolve for it to resolve.
    pub resolve_policy: ResolvePolicy,
    /// Deployments this many seconds before an alert count as likely causes.
    pub deployment_window_secs: u64,
    /// Topology score multiplier per hop beyond the first.
    pub hop_decay: f64,
    /// Farthest dependency hop that still correlates.
    pub max_hops: u32,
    /// The most each strategy alone contributes to the combined score.
    pub weights: StrategyWeights,
    /// Service → the services it depends on (calls).
    #[serde(default)]
    pub dependencies: HashMap<String, Vec<String>>,
    /// Per-source overrides, keyed by source name.
    #[serde(default)]
    pub sources: HashMap<String, SourceOverrides>,
}

/// The most each strategy alone contributes, in [0, 1].
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct StrategyWeights {
    /// Same service, or one the incident already affects.
    pub service: f64,
    /// Services linked by the dependency graph.
    pub topology: f64,
    /// Similar titles.
    pub similarity: f64,
    /// Close in time.
    pub time: f64,
    /// A recent or failed deployment of the service or a dependency.
    pub deployment: f64,
}

/// Settings one source overrides.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SourceOverrides {
    /// Threshold for this source's alerts.
    pub threshold: Option<f64>,
    /// Candidate window for this source's alerts.
    pub window_secs: Option<u64>,
    /// Resolve this source's alerts when nothing was heard for this long (for sources that
    /// never send resolves: Splunk, Jenkins).
    pub auto_resolve_secs: Option<u64>,
}

/// Which alerts must resolve for their incident to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvePolicy {
    /// All of them (default).
    All,
    /// The first that resolves.
    First,
    /// None: people resolve incidents.
    Never,
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it is kept secret.
    pub url: SecretString,
    /// Connections per process.
    pub pool_size: usize,
    /// Server-side statement limit in milliseconds.
    pub statement_timeout_ms: u64,
    /// Longest wait for a pooled connection (or a new one), in milliseconds.
    pub pool_timeout_ms: u64,
    /// Seconds without reaching PostgreSQL after which a worker or the API reports not live
    /// (0: never).
    pub liveness_after_secs: u64,
}

/// NATS settings.
#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    /// Server URL.
    pub url: String,
    /// Prefix for stream and subject names; empty in production.
    pub prefix: String,
    /// Copies of each stream JetStream keeps when it creates them (3 on a three-node cluster).
    pub stream_replicas: usize,
}

/// Webhook ingress settings.
#[derive(Debug, Clone, Deserialize)]
pub struct IngressSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Base URL users' tools reach the ingress at, for printed webhook URLs.
    pub public_url: String,
    /// Largest accepted body.
    pub body_limit_bytes: usize,
    /// Longest a body may take to arrive after its request head, in seconds.
    pub body_read_timeout_secs: u64,
    /// Most alerts one delivery may carry.
    pub max_alerts_per_delivery: usize,
    /// Failed authentications per client address and minute (0: no limit).
    pub auth_failures_per_minute: u32,
    /// Load balancers in front whose `X-Forwarded-For` entries are believed.
    pub trusted_proxy_hops: usize,
    /// Oldest signature timestamp accepted, in seconds, either side of now.
    pub signature_tolerance_secs: u64,
    /// Webhooks per second one integration token may send to one ingress process.
    pub rate_limit_per_second: u32,
    /// Webhooks one integration may send at once above that rate.
    pub rate_limit_burst: u32,
    /// How long after PostgreSQL last vouched for a token the ingress still accepts it while
    /// PostgreSQL cannot answer (0: never).
    pub auth_fallback_secs: u64,
    /// How long an ingress trusts a token PostgreSQL vouched for before asking again.
    /// Revocations and secret rotations reach every ingress at once regardless (announced on
    /// the bus); this bounds changes made behind Aurora's back.
    pub auth_cache_secs: u64,
}

/// The incidents API: its listener and the limits of its live stream.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Events queued for one live-stream connection while its reader catches up. A full queue
    /// means the reader is too slow: the connection is closed rather than buffered without
    /// bound, and the client reconnects with `Last-Event-ID` to be sent what it missed.
    pub stream_queue: usize,
    /// Live streams one user may hold open on one API process; the next one gets 429.
    pub stream_connections_per_user: usize,
}

/// A service that only needs a listen address.
#[derive(Debug, Clone, Deserialize)]
pub struct ListenSettings {
    /// Listen address (API, or health and readiness for workers).
    pub bind: SocketAddr,
}

/// The correlator: its health listener and how it takes alerts off the stream.
#[derive(Debug, Clone, Deserialize)]
pub struct CorrelatorSettings {
    /// Health and readiness listen address.
    pub bind: SocketAddr,
    /// Most deliveries taken off the stream and decided together (per user, in one
    /// transaction each).
    pub batch_max_messages: usize,
    /// Longest a batch waits to fill once its first delivery arrived, in milliseconds.
    pub batch_max_wait_ms: u64,
}

/// Logging and tracing settings.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `text` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides.
    pub log_filter: String,
    /// OTLP/HTTP endpoint for traces; none exports nothing.
    pub otlp_endpoint: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings that could not be loaded; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(pub(crate) String);

const DEFAULTS: &str = r#"
[database]
url = "postgres://postgres@127.0.0.1:5432/aurora"
pool_size = 10
statement_timeout_ms = 10000
pool_timeout_ms = 5000
liveness_after_secs = 120

[nats]
url = "nats://127.0.0.1:4222"
prefix = ""
stream_replicas = 1

[ingress]
bind = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
body_limit_bytes = 1048576
body_read_timeout_secs = 10
max_alerts_per_delivery = 1000
auth_failures_per_minute = 30
trusted_proxy_hops = 0
signature_tolerance_secs = 300
rate_limit_per_second = 100
rate_limit_burst = 500
auth_fallback_secs = 300
auth_cache_secs = 60

[api]
bind = "127.0.0.1:8081"
stream_queue = 256
stream_connections_per_user = 10

[correlator]
bind = "127.0.0.1:8082"
batch_max_messages = 2000
batch_max_wait_ms = 5

[rca_worker]
bind = "127.0.0.1:8083"

[notifier]
bind = "127.0.0.1:8084"

[retention]
raw_payloads_days = 30
alerts_days = 180
resolved_incidents_days = 365
batch_size = 1000
interval_secs = 300

[notifications]
console_url = "http://127.0.0.1:8081"
max_attempts = 12
request_timeout_secs = 10
lease_secs = 60

[notifications.pagerduty]
events_url = "https://events.pagerduty.com/v2/enqueue"

[telemetry]
log_format = "text"
log_filter = "info"

[correlation]
window_secs = 900
threshold = 0.6
max_alerts_per_incident = 200
flap_window_secs = 600
resolve_policy = "all"
deployment_window_secs = 7200
hop_decay = 0.5
max_hops = 3

[rca]
knowledge_files = []
max_concurrent_per_user = 3
analysis_budget_secs = 300
claim_idle_after_secs = 2

[rca.commands]
timeout_secs = 30
output_cap_bytes = 65536
max_concurrent = 4
env_allowlist = ["PATH", "LANG", "LC_ALL", "TZ"]

[correlation.weights]
service = 0.7
topology = 0.6
similarity = 0.5
time = 0.3
deployment = 0.4
"#;

impl Settings {
    /// Loads defaults, then the config file, then `AURORA__…` variables, and validates.
    pub fn load() -> Result<Self, SettingsError> {
        let file = std::env::var_os("AURORA_CONFIG").map(PathBuf::from);
        Self::load_from(file, None)
    }

    /// Loads from an explicit file and, when given, these variables instead of the process
    /// environment (for tests: the environment is process-wide).
    pub fn load_from(
        file: Option<PathBuf>,
        environment: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        Self::load_layered(file, environment, None)
    }

    /// The settings in force (as [`Settings::load`] reads them) with `proposal`, a file, on
    /// top: what a change to them would be, for trying it before deploying it.
    pub fn load_with_proposal(proposal: PathBuf) -> Result<Self, SettingsError> {
        let file = std::env::var_os("AURORA_CONFIG").map(PathBuf::from);
        Self::load_layered(file, None, Some(proposal))
    }

    fn load_layered(
        file: Option<PathBuf>,
        environment: Option<HashMap<String, String>>,
        proposal: Option<PathBuf>,
    ) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULTS, config::FileFormat::Toml));
        builder = match file {
            Some(path) => builder.add_source(File::from(path).required(true)),
            None => builder.add_source(File::with_name("aurora.toml").required(false)),
        };
        builder = builder.add_source(
            Environment::with_prefix("AURORA")
                .prefix_separator("__")
                .separator("__")
                .source(environment),
        );
        if let Some(proposal) = proposal {
            builder = builder.add_source(File::from(proposal).required(true));
        }
        let settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|err| SettingsError(err.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        self.correlation.validate()?;
        self.notifications.validate()?;
        if let Some(prometheus) = &self.rca.prometheus {
            prometheus.validate()?;
        }
        if self.rca.commands.max_concurrent == 0 || self.rca.commands.timeout_secs == 0 {
            return Err(SettingsError(
                "rca.commands.max_concurrent and rca.commands.timeout_secs must be at least 1"
                    .into(),
            ));
        }
        if self.rca.max_concurrent_per_user < 1 {
            return Err(SettingsError(
                "rca.max_concurrent_per_user must be at least 1 (with 0 no incident is ever analysed)"
                    .into(),
            ));
        }
        if !(1..=100_000).contains(&self.retention.batch_size) || self.retention.interval_secs == 0
        {
            return Err(SettingsError(
                "retention.batch_size must be between 1 and 100000 and retention.interval_secs at least 1"
                    .into(),
            ));
        }
        if !(1..=10_000).contains(&self.correlator.batch_max_messages) {
            return Err(SettingsError(
                "correlator.batch_max_messages must be between 1 and 10000".into(),
            ));
        }
        if !(1..=5).contains(&self.nats.stream_replicas) {
            return Err(SettingsError(
                "nats.stream_replicas must be between 1 and 5".into(),
            ));
        }
        if self.database.pool_size == 0 || self.database.pool_timeout_ms == 0 {
            return Err(SettingsError(
                "database.pool_size and database.pool_timeout_ms must be at least 1".into(),
            ));
        }
        if self.api.stream_queue == 0 || self.api.stream_connections_per_user == 0 {
            return Err(SettingsError(
                "api.stream_queue and api.stream_connections_per_user must be at least 1".into(),
            ));
        }
        if self.ingress.rate_limit_per_second == 0 || self.ingress.rate_limit_burst == 0 {
            return Err(SettingsError(
                "ingress.rate_limit_per_second and ingress.rate_limit_burst must be at least 1"
                    .into(),
            ));
        }
        if self.ingress.body_limit_bytes == 0
            || self.ingress.body_read_timeout_secs == 0
            || self.ingress.max_alerts_per_delivery == 0
        {
            return Err(SettingsError(
                "ingress.body_limit_bytes, ingress.body_read_timeout_secs and ingress.max_alerts_per_delivery must be at least 1".into(),
            ));
        }
        if !self.ingress.public_url.starts_with("http://")
            && !self.ingress.public_url.starts_with("https://")
        {
            return Err(SettingsError(format!(
                "ingress.public_url must start with http:// or https://, got `{}`",
                self.ingress.public_url
            )));
        }
        Ok(())
    }
}

impl CorrelationSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let unit = |name: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(SettingsError(format!(
                    "correlation.{name} must be between 0 and 1, got {value}"
                )))
            }
        };
        let w = &self.weights;
        for (name, value) in [
            ("weights.service", w.service),
            ("weights.topology", w.topology),
            ("weights.similarity", w.similarity),
            ("weights.time", w.time),
            ("weights.deployment", w.deployment),
            ("hop_decay", self.hop_decay),
        ] {
            unit(name, value)?;
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(SettingsError(format!(
                "correlation.threshold must be in (0, 1], got {}",
                self.threshold
            )));
        }
        if self.window_secs == 0 || self.max_alerts_per_incident < 1 {
            return Err(SettingsError("correlation.window_secs and correlation.max_alerts_per_incident must be at least 1".into()));
        }
        for (source, overrides) in &self.sources {
            if !SOURCE_NAMES.contains(&source.as_str()) {
                return Err(SettingsError(format!(
                    "correlation.sources.{source}: unknown source; expected one of {}",
                    SOURCE_NAMES.join(", ")
                )));
            }
            if let Some(threshold) = overrides.threshold {
                unit(&format!("sources.{source}.threshold"), threshold)?;
            }
        }
        for (service, dependencies) in &self.dependencies {
            if dependencies.iter().any(|d| d == service) {
                return Err(SettingsError(format!(
                    "correlation.dependencies.{service} lists itself"
                )));
            }
        }
        Ok(())
    }
}

/// The source names settings may key overrides by (`aurora_domain::SourceType`'s spellings;
/// this crate stays free of domain types).
const SOURCE_NAMES: &[&str] = &[
    "grafana",
    "alertmanager",
    "datadog",
    "netdata",
    "pagerduty",
    "splunk",
    "jenkins",
    "cloudbees",
    "dynatrace",
    "bigpanda",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_load_and_environment_overrides_them() {
        let defaults = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(defaults.ingress.body_limit_bytes, 1_048_576);
        assert_eq!(defaults.nats.prefix, "");
        let custom = Settings::load_from(
            None,
            env(&[
                ("AURORA__INGRESS__BODY_LIMIT_BYTES", "2048"),
                ("AURORA__NATS__PREFIX", "staging"),
            ]),
        )
        .unwrap();
        assert_eq!(custom.ingress.body_limit_bytes, 2048);
        assert_eq!(custom.nats.prefix, "staging");
        assert_eq!(defaults.api.stream_queue, 256);
        assert_eq!(defaults.api.stream_connections_per_user, 10);
        let no_streams = Settings::load_from(
            None,
            env(&[("AURORA__API__STREAM_CONNECTIONS_PER_USER", "0")]),
        );
        assert!(
            no_streams
                .unwrap_err()
                .to_string()
                .contains("api.stream_connections_per_user")
        );
        assert_eq!(defaults.nats.stream_replicas, 1);
        let clustered =
            Settings::load_from(None, env(&[("AURORA__NATS__STREAM_REPLICAS", "3")])).unwrap();
        assert_eq!(clustered.nats.stream_replicas, 3);
        let too_many = Settings::load_from(None, env(&[("AURORA__NATS__STREAM_REPLICAS", "7")]));
        assert!(
            too_many
                .unwrap_err()
                .to_string()
                .contains("nats.stream_replicas")
        );
    }

    #[test]
    fn correlation_rules_load_from_a_file_and_are_validated() {
        let dir = std::env::temp_dir().join(format!("aurora-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "[correlation.dependencies]\ncheckout-api = [\"payments-api\"]\n[correlation.sources.splunk]\nauto_resolve_secs = 3600\n").unwrap();
        let settings = Settings::load_from(Some(good), env(&[])).unwrap();
        assert_eq!(
            settings.correlation.dependencies["checkout-api"],
            ["payments-api"]
        );
        assert_eq!(
            settings.correlation.sources["splunk"].auto_resolve_secs,
            Some(3600)
        );
        assert_eq!(settings.correlation.resolve_policy, ResolvePolicy::All);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[correlation.sources.nagios]\nthreshold = 0.5\n").unwrap();
        let err = Settings::load_from(Some(bad), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("correlation.sources.nagios"), "{err}");
        let err = Settings::load_from(
            None,
            env(&[("AURORA__CORRELATION__WEIGHTS__SERVICE", "1.5")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("correlation.weights.service"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_readmes_rca_example_loads() {
        let dir = std::env::temp_dir().join(format!("aurora-settings-rca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("aurora.toml");
        std::fs::write(
            &file,
            r#"
[[rca.runbooks]]
name = "disk usage"
user = "0b6f2a4e-7c1d-4f0e-9a53-2d8c61e0f7b4"
match_terms = ["disk", "filesystem"]
pattern = "disk-exhaustion"
commands = [["ssh", "{labels.instance}", "df", "-h"]]
placeholder_patterns = { "labels.instance" = 'db-[0-9]+\.prod\.example\.com' }

[rca.llm]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.1"
api_key_env = "OPENAI_API_KEY"
"#,
        )
        .unwrap();
        let settings = Settings::load_from(Some(file), env(&[])).unwrap();
        let runbook = &settings.rca.runbooks[0];
        assert_eq!(
            runbook.commands()[0],
            ["ssh", "{labels.instance}", "df", "-h"]
        );
        assert_eq!(runbook.user(), "0b6f2a4e-7c1d-4f0e-9a53-2d8c61e0f7b4");
        let instance = runbook.placeholder_pattern("labels.instance");
        assert!(instance.is_match("db-7.prod.example.com"));
        assert!(!instance.is_match("db-7.staging.example.com"));
        let llm = settings.rca.llm.unwrap();
        assert_eq!(
            (llm.model.as_str(), llm.max_tool_calls, llm.attempts),
            ("llama3.1", 4, 3)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unsafe_runbook_stops_the_load_naming_it() {
        let dir =
            std::env::temp_dir().join(format!("aurora-settings-runbooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (runbook, expected) in [
            (
                r#"commands = [["df", "-h"]]"#,
                "rca.runbooks `status` needs `user`",
            ),
            (
                r#"user = "u-1"
commands = [["ssh", "{labels.instance}", "systemctl", "status", "{service}"]]"#,
                "rca.runbooks `status` has a placeholder in `{service}`",
            ),
            (
                r#"user = "u-1"
commands = [["echo", "{service}"]]
placeholder_patterns = { service = "(" }"#,
                "rca.runbooks `status` has an invalid placeholder_patterns.`service`",
            ),
        ] {
            let file = dir.join("aurora.toml");
            let text =
                format!("[[rca.runbooks]]\nname = \"status\"\nmatch_terms = [\"x\"]\n{runbook}\n");
            std::fs::write(&file, text).unwrap();
            let err = Settings::load_from(Some(file), env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_invalid_setting_is_named() {
        let err = Settings::load_from(
            None,
            env(&[("AURORA__INGRESS__PUBLIC_URL", "alerts.example.com")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ingress.public_url"), "{err}");
        let err = Settings::load_from(None, env(&[("AURORA__INGRESS__BIND", "not an address")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind"), "{err}");
    }
}
