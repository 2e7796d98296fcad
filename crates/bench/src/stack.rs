//! The stack under test: a fresh database and stream prefix on the running PostgreSQL and
//! NATS, Aurora's services as separate processes, and the bench's tenants. Everything it
//! makes it records, so [`Stack::release`] removes exactly that, after a failure too.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aurora_bus::Topology;
use aurora_chaos::infra::free_port;
use aurora_chaos::stack::{Service, run_cli};
use base64::Engine;
use futures::TryStreamExt;
use rand::RngCore;

use crate::db;

/// What the stack is made of.
pub struct StackSettings {
    /// Where the service binaries and the `aurora` CLI are.
    pub bin_dir: PathBuf,
    /// The PostgreSQL server, without a database.
    pub postgres: String,
    /// The NATS server.
    pub nats: String,
    /// Correlator processes.
    pub correlators: usize,
    /// RCA worker processes.
    pub rca_workers: usize,
    /// Users, each with an Alertmanager integration.
    pub tenants: usize,
}

/// A running service and the name the report gives it.
struct Running {
    label: String,
    binary: &'static str,
    /// Where it answers `/healthz`, `/readyz` and `/metrics`.
    port: u16,
    service: Service,
}

/// The bench's database, streams and services.
pub struct Stack {
    settings: StackSettings,
    work: PathBuf,
    database: String,
    prefix: String,
    /// Set once the database exists: only then is it dropped.
    database_made: bool,
    /// Set once no stream had this run's prefix: only then are such streams deleted.
    streams_ours: bool,
    services: Vec<Running>,
    /// The database's URL, for the services and the bench's queries.
    pub database_url: String,
    /// The ingress' base URL.
    pub ingress_url: String,
    /// Each tenant's Alertmanager integration token.
    pub tokens: Vec<String>,
}

impl Stack {
    /// Names for this run (`aurora_bench_<pid>`, `bench<pid>`); nothing is made yet.
    pub fn new(settings: StackSettings, work: &Path) -> Self {
        let pid = std::process::id();
        let postgres = settings.postgres.trim_end_matches('/').to_owned();
        let database = format!("aurora_bench_{pid}");
        Self {
            database_url: format!("{postgres}/{database}"),
            settings: StackSettings {
                postgres,
                ..settings
            },
            work: work.to_owned(),
            database,
            prefix: format!("bench{pid}"),
            database_made: false,
            streams_ours: false,
            services: Vec::new(),
            ingress_url: String::new(),
            tokens: Vec::new(),
        }
    }

    /// Makes the database and the services' configuration, migrates, starts every service
    /// (waiting for each to be ready) and creates the tenants.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        db::create_database(&self.settings.postgres, &self.database)
            .await
            .with_context(|| format!("creating database {}", self.database))?;
        self.database_made = true;
        let existing = self.own_streams().await?;
        if !existing.is_empty() {
            bail!(
                "streams {} already exist: they are not this run's, so they stay as they are",
                existing.join(", ")
            );
        }
        self.streams_ours = true;

        let ingress_port = free_port()?;
        let api_port = free_port()?;
        let config = self.work.join("aurora.toml");
        std::fs::write(&config, self.config(ingress_port, api_port))?;
        let env = vec![("AURORA_CONFIG".to_owned(), config.display().to_string())];
        let cli = self.settings.bin_dir.join("aurora");
        run_cli(&cli, &env, &["migrate"]).await?;

        self.launch("ingress", "ingress", None, &env, ingress_port)
            .await?;
        self.ingress_url = format!("http://127.0.0.1:{ingress_port}");
        for index in 1..=self.settings.correlators {
            let port = free_port()?;
            let bind = Some(("AURORA__CORRELATOR__BIND", port));
            self.launch(
                "correlator",
                &format!("correlator-{index}"),
                bind,
                &env,
                port,
            )
            .await?;
        }
        for index in 1..=self.settings.rca_workers {
            let port = free_port()?;
            let bind = Some(("AURORA__RCA_WORKER__BIND", port));
            self.launch(
                "rca-worker",
                &format!("rca-worker-{index}"),
                bind,
                &env,
                port,
            )
            .await?;
        }
        self.launch("api", "api", None, &env, api_port).await?;

        for tenant in 1..=self.settings.tenants {
            let name = format!("bench-{}-{tenant}", self.prefix);
            run_cli(&cli, &env, &["user", "create", &name, "--json"]).await?;
            let created = run_cli(
                &cli,
                &env,
                &[
                    "integration",
                    "create",
                    "--user",
                    &name,
                    "--source",
                    "alertmanager",
                    "--json",
                ],
            )
            .await?;
            let token = created["token"]
                .as_str()
                .context("integration create --json gives a token")?;
            self.tokens.push(token.to_owned());
        }
        Ok(())
    }

    fn config(&self, ingress_port: u16, api_port: u16) -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let encryption_key = base64::engine::general_purpose::STANDARD.encode(key);
        // Rate limits out of reach: the bench measures the pipeline, not the limiter.
        format!(
            r#"[database]
url = "{database_url}"
[nats]
url = "{nats}"
prefix = "{prefix}"
[ingress]
bind = "127.0.0.1:{ingress_port}"
public_url = "http://127.0.0.1:{ingress_port}"
rate_limit_per_second = 1000000
rate_limit_burst = 1000000
[api]
bind = "127.0.0.1:{api_port}"
[secrets]
encryption_key = "{encryption_key}"
"#,
            database_url = self.database_url,
            nats = self.settings.nats,
            prefix = self.prefix,
        )
    }

    /// Starts `binary` as `label`, its health listener on `port` (set through `bind`'s
    /// variable when the configuration file cannot hold one per process).
    async fn launch(
        &mut self,
        binary: &'static str,
        label: &str,
        bind: Option<(&str, u16)>,
        env: &[(String, String)],
        port: u16,
    ) -> anyhow::Result<()> {
        let mut env = env.to_vec();
        if let Some((variable, port)) = bind {
            env.push((variable.to_owned(), format!("127.0.0.1:{port}")));
        }
        // A directory per process, so replicas of one binary keep their own logs.
        let dir = self.work.join(label);
        std::fs::create_dir_all(&dir)?;
        let service = Service::new(binary, &self.settings.bin_dir, env, &dir, port);
        self.services.push(Running {
            label: label.to_owned(),
            binary,
            port,
            service,
        });
        let http = reqwest::Client::new();
        let last = self.services.last_mut().expect("just pushed");
        last.service.start(&http).await
    }

    /// Scrapes every service's `/metrics` after a run and answers what is missing: each must
    /// serve the series its work moves (the ingress its accepted webhooks, a correlator the
    /// alerts it processed, an rca-worker its analyses, the api its requests).
    pub async fn missing_metrics(&self) -> Vec<String> {
        let http = reqwest::Client::new();
        let mut missing = Vec::new();
        let mut processed = 0.0;
        for running in &self.services {
            let url = format!("http://127.0.0.1:{}/metrics", running.port);
            let text = match http.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => {
                    answer.text().await.unwrap_or_default()
                }
                Ok(answer) => {
                    missing.push(format!(
                        "{} answered {} at {url}",
                        running.label,
                        answer.status()
                    ));
                    continue;
                }
                Err(err) => {
                    missing.push(format!("{}: {url}: {err}", running.label));
                    continue;
                }
            };
            let series = match running.binary {
                "ingress" => "aurora_webhooks_accepted_total",
                "correlator" => {
                    processed += sum_of(&text, "aurora_alerts_processed_total");
                    continue;
                }
                "rca-worker" => "aurora_rca_analyses_total",
                _ => "aurora_http_request_duration_seconds_count",
            };
            if sum_of(&text, series) <= 0.0 {
                missing.push(format!(
                    "{}'s /metrics has no {series} above 0",
                    running.label
                ));
            }
        }
        if processed <= 0.0 {
            missing.push("no correlator's /metrics counts an alert processed".to_owned());
        }
        missing
    }

    /// Each running service's peak resident memory (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Vec<(String, u64)> {
        self.services
            .iter()
            .filter_map(|running| {
                let pid = running.service.pid()?;
                Some((running.label.clone(), peak_rss_kib(pid)?))
            })
            .collect()
    }

    /// Stops every service (SIGTERM, in-flight work finished), then drops the database and
    /// deletes the streams, if this run made them. Goes on past errors, and reports them.
    pub async fn release(&mut self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        // Services first: they would recreate the streams and hold the database open.
        for running in self.services.iter_mut().rev() {
            if let Err(err) = running.service.stop().await {
                problems.push(format!("stopping {}: {err:#}", running.label));
            }
        }
        if std::mem::take(&mut self.streams_ours) {
            match self.delete_streams().await {
                Ok(()) => {}
                Err(err) => problems.push(format!("deleting streams {}_*: {err:#}", self.prefix)),
            }
        }
        if std::mem::take(&mut self.database_made)
            && let Err(err) = db::drop_database(&self.settings.postgres, &self.database).await
        {
            problems.push(format!("dropping database {}: {err:#}", self.database));
        }
        if !problems.is_empty() {
            bail!("cleaning up: {}", problems.join("; "));
        }
        Ok(())
    }

    /// Streams named with this run's prefix: the ones the services made (`ALERTS`,
    /// `INCIDENTS`, and any the bus adds later).
    async fn own_streams(&self) -> anyhow::Result<Vec<String>> {
        // The prefix as Topology puts it in front of a stream's name.
        let alerts = Topology::new(Some(&self.prefix))?.alerts_stream();
        let marker = alerts.strip_suffix("ALERTS").unwrap_or(&alerts).to_owned();
        let names: Vec<String> = self.jetstream().await?.stream_names().try_collect().await?;
        Ok(names
            .into_iter()
            .filter(|name| name.starts_with(&marker))
            .collect())
    }

    async fn jetstream(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        let client = async_nats::connect(&self.settings.nats)
            .await
            .with_context(|| format!("connecting to NATS at {}", self.settings.nats))?;
        Ok(async_nats::jetstream::new(client))
    }

    async fn delete_streams(&self) -> anyhow::Result<()> {
        let jetstream = self.jetstream().await?;
        for stream in self.own_streams().await? {
            jetstream.delete_stream(&stream).await?;
        }
        Ok(())
    }
}

/// `VmHWM` of process `pid`: the most memory it has held resident.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The sum of every series named `name` in Prometheus text.
fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
