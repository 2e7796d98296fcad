//! `make chaos`: Aurora's services as separate processes, under a steady load of signed
//! webhooks, crashed and restarted one fault after another, then checked: every webhook
//! answered 202 stored exactly once, every incident as a fault-free run makes it, every
//! analysis complete, every incident change on the bus, nothing left pending.
//!
//! It brings its own PostgreSQL cluster and NATS server (in a temporary directory, on free
//! ports), because restarting and stopping them is part of the run.

mod check;
mod churn;
mod db;
mod load;
mod notifications;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use aurora_chaos::infra::{Nats, Postgres, free_port};
use aurora_chaos::payload::Vendor;
use aurora_chaos::stack::{Service, run_cli, run_cli_with_input};
use aurora_chaos::{wait_until, wait_until_every};
use base64::Engine;
use clap::Parser;
use rand::RngCore;

use crate::check::Fault;
use crate::load::{Generator, LoadSettings, State, Tenant};

/// The chaos run's options.
#[derive(Parser, Debug)]
#[command(about = "Load, crash, restart, then count what was lost or duplicated")]
struct Options {
    /// Where the service binaries are (`target/release` after `cargo build --release`).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Alerts per second offered.
    #[arg(long, default_value_t = 1200.0)]
    rate: f64,
    /// Seconds of load in each phase (warm-up, then one per fault).
    #[arg(long, default_value_t = 25.0)]
    phase_secs: f64,
    /// Users, each with one integration per vendor.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Groups of correlated alerts (incidents) per user.
    #[arg(long, default_value_t = 40)]
    groups_per_user: usize,
    /// The plan's seed: the same seed sends the same alerts.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seconds to wait, after the load, for everything to be stored and analysed.
    #[arg(long, default_value_t = 300)]
    drain_secs: u64,
    /// Keep the work directory (logs, database, JetStream store) afterwards.
    #[arg(long)]
    keep: bool,
}

/// The fault-free warm-up, then the eight faults, in order.
const PHASES: [&str; 9] = [
    "none (warm-up)",
    "kill -9 correlator mid-batch, restart",
    "kill -9 rca-worker mid-analysis, restart",
    "restart nats-server",
    "restart PostgreSQL",
    "NATS stopped 10 s (ingress must answer 503)",
    "SIGTERM ingress under load, restart",
    "kill -9 api amid incident changes, restart",
    "kill -9 notifier mid-delivery, restart",
];

/// The running system: infrastructure, services and where to reach them.
struct Stack {
    pg: Postgres,
    nats: Nats,
    ingress: Service,
    correlator: Service,
    rca_worker: Service,
    api: Service,
    notifier: Service,
    /// Slack, PagerDuty and a webhook receiver, as the notifier's destinations.
    stand_ins: aurora_e2e::saas::StandIns,
    http: reqwest::Client,
    database_url: String,
    ingress_url: String,
    api_url: String,
    prefix: String,
    /// The services' environment (`AURORA_CONFIG`), for the CLI too.
    env: Vec<(String, String)>,
    /// The users' names, each with its own runbook.
    users: Vec<String>,
    /// The users' ids, each with its own notification rule.
    user_ids: Vec<String>,
    /// The first user's API token, for changes made through the API.
    api_token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let work = std::env::temp_dir().join(format!("aurora-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    // PostgreSQL runs as its own user when this runs as root: it must reach its directory.
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    println!(
        "chaos: work directory {} (logs of every process)",
        work.display()
    );
    let outcome = run(&options, &work).await;
    if !options.keep && outcome.is_ok() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let report = outcome?;
    println!(
        "chaos: lost={} duplicated={} faults={}",
        report.lost,
        report.duplicated,
        PHASES.len() - 1
    );
    if report.lost > 0 || report.duplicated > 0 || !report.violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

async fn run(options: &Options, work: &Path) -> anyhow::Result<check::Report> {
    let mut stack = start_stack(options, work).await?;
    let result = drive(options, &mut stack).await;
    // Services first, so none logs a burst of errors about the infrastructure going away.
    for service in [
        &mut stack.ingress,
        &mut stack.correlator,
        &mut stack.rca_worker,
        &mut stack.notifier,
    ] {
        let _ = service.kill().await;
    }
    let _ = stack.nats.stop().await;
    let _ = stack.pg.stop().await;
    result
}

async fn start_stack(options: &Options, work: &Path) -> anyhow::Result<Stack> {
    let pg = Postgres::start(work).await.context("starting PostgreSQL")?;
    pg.create_database("aurora").await?;
    let nats = Nats::start(work).await.context("starting nats-server")?;
    let database_url = pg.url("aurora");
    let ingress_port = free_port()?;
    let correlator_port = free_port()?;
    let rca_port = free_port()?;
    let api_port = free_port()?;
    let notifier_port = free_port()?;
    let prefix = format!("chaos{}", std::process::id());
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let encryption_key = base64::engine::general_purpose::STANDARD.encode(key);
    let config = format!(
        r#"[database]
url = "{database_url}"
[nats]
url = "{nats}"
prefix = "{prefix}"
[ingress]
bind = "127.0.0.1:{ingress_port}"
public_url = "http://127.0.0.1:{ingress_port}"
rate_limit_per_second = 100000
rate_limit_burst = 100000
[correlator]
bind = "127.0.0.1:{correlator_port}"
[rca_worker]
bind = "127.0.0.1:{rca_port}"
[api]
bind = "127.0.0.1:{api_port}"
[notifier]
bind = "127.0.0.1:{notifier_port}"
[secrets]
encryption_key = "{encryption_key}"
"#,
        nats = nats.url(),
    );
    let config_path = work.join("aurora.toml");
    std::fs::write(&config_path, &config)?;
    let mut env = vec![(
        "AURORA_CONFIG".to_owned(),
        config_path.display().to_string(),
    )];
    env.extend(notifications::secrets());
    let cli = options.bin_dir.join("aurora");
    run_cli(&cli, &env, &["migrate"]).await?;
    // Every analysis runs one diagnostic command that takes a second, so there is always an
    // analysis to kill mid-way. A runbook runs only for its user's incidents: the users come
    // first, then each gets the runbook before the rca-worker reads the file.
    let mut users = Vec::new();
    let mut user_ids = Vec::new();
    let mut api_tokens = Vec::new();
    let mut runbooks = String::new();
    for user in 0..options.users {
        let name = format!("chaos-user-{user}");
        let created = run_cli(&cli, &env, &["user", "create", &name, "--json"]).await?;
        let id = created["user_id"]
            .as_str()
            .context("user create --json gives a user_id")?;
        runbooks.push_str(&format!(
            "[[rca.runbooks]]\nname = \"chaos\"\nuser = \"{id}\"\nmatch_terms = [\"chaos\"]\ncommands = [[\"sleep\", \"1\"]]\n"
        ));
        users.push(name);
        user_ids.push(id.to_owned());
        api_tokens.push(
            created["api_token"]
                .as_str()
                .context("user create --json gives an api_token")?
                .to_owned(),
        );
    }
    let stand_ins = notifications::start();
    std::fs::write(
        &config_path,
        format!(
            "{config}{runbooks}{}",
            notifications::settings(&stand_ins, &user_ids)
        ),
    )?;
    let http = reqwest::Client::new();
    let mut ingress = Service::new("ingress", &options.bin_dir, env.clone(), work, ingress_port);
    let mut correlator = Service::new(
        "correlator",
        &options.bin_dir,
        env.clone(),
        work,
        correlator_port,
    );
    let mut rca_worker = Service::new("rca-worker", &options.bin_dir, env.clone(), work, rca_port);
    let mut api = Service::new("api", &options.bin_dir, env.clone(), work, api_port);
    let mut notifier = Service::new(
        "notifier",
        &options.bin_dir,
        env.clone(),
        work,
        notifier_port,
    );
    for service in [
        &mut ingress,
        &mut correlator,
        &mut rca_worker,
        &mut api,
        &mut notifier,
    ] {
        service.start(&http).await?;
    }
    Ok(Stack {
        pg,
        nats,
        ingress,
        correlator,
        rca_worker,
        api,
        notifier,
        stand_ins,
        http,
        database_url,
        ingress_url: format!("http://127.0.0.1:{ingress_port}"),
        api_url: format!("http://127.0.0.1:{api_port}"),
        prefix,
        env,
        users,
        user_ids,
        api_token: api_tokens.into_iter().next().context("at least one user")?,
    })
}

/// The users' integrations (Grafana and PagerDuty with signing secrets).
async fn make_tenants(
    options: &Options,
    env: &[(String, String)],
    users: &[String],
) -> anyhow::Result<Vec<Tenant>> {
    let cli = options.bin_dir.join("aurora");
    let mut tenants = Vec::new();
    for name in users {
        let mut integrations = HashMap::new();
        for vendor in Vendor::ALL {
            let secret = vendor
                .signs()
                .then(|| uuid::Uuid::new_v4().simple().to_string());
            let mut args = vec![
                "integration",
                "create",
                "--user",
                name.as_str(),
                "--source",
                vendor.source(),
                "--json",
            ];
            if secret.is_some() {
                args.extend(["--signing-secret-file", "-"]);
            }
            let created =
                run_cli_with_input(&cli, env, &args, secret.as_deref().unwrap_or("")).await?;
            let token = created["token"]
                .as_str()
                .context("integration create --json gives a token")?;
            integrations.insert(vendor.source(), (token.to_owned(), secret));
        }
        tenants.push(Tenant { integrations });
    }
    Ok(tenants)
}

async fn drive(options: &Options, stack: &mut Stack) -> anyhow::Result<check::Report> {
    let tenants = make_tenants(options, &stack.env, &stack.users).await?;
    let settings = LoadSettings {
        alerts_per_second: options.rate,
        groups_per_user: options.groups_per_user,
        max_keys_per_group: 150,
        spread_secs: options.phase_secs * (PHASES.len() - 1) as f64,
        concurrency: 128,
        seed: options.seed,
    };
    let state = Arc::new(Mutex::new(State::new(
        options.users,
        &stack.prefix,
        &settings,
    )));
    let epoch = Instant::now();
    let epoch_utc = chrono::Utc::now();
    let load_secs = options.phase_secs * PHASES.len() as f64;
    let generator = Generator::new(
        state.clone(),
        tenants,
        stack.ingress_url.clone(),
        epoch,
        settings,
    );
    // Every webhook gets retried for up to two minutes after the load ends, as vendors do.
    let load = tokio::spawn(async move { generator.run(load_secs, load_secs + 120.0).await });
    let watcher = tokio::spawn(watch_stored(state.clone(), stack.database_url.clone()));

    let mut faults = Vec::new();
    let mut rca_recovery = None;
    let seconds = move |at: Instant| at.duration_since(epoch).as_secs_f64();
    for (index, name) in PHASES.iter().enumerate().skip(1) {
        wait_for_phase(epoch, options.phase_secs * index as f64).await;
        state.lock().expect("not poisoned").phase = index;
        let at = Instant::now();
        let mut fault = Fault {
            name,
            at: seconds(at),
            phase_start: seconds(at),
            down_from: seconds(at),
            recovery_own: index == 2,
            until: seconds(at),
            recovery: None,
        };
        let mut db = db::Reader::new(stack.database_url.clone());
        match index {
            1 => {
                let pending = ack_pending(stack, &stack.prefix).await;
                println!("chaos: killing the correlator with {pending} messages in its hands");
                stack.correlator.kill().await?;
                stack.correlator.start(&stack.http).await?;
            }
            2 => {
                let mut running = Vec::new();
                wait_until(
                    Duration::from_secs(30),
                    "an analysis to be running",
                    async || {
                        running = db.running_analyses().await.unwrap_or_default();
                        !running.is_empty()
                    },
                )
                .await?;
                // The fault is the kill, not the wait for a victim.
                fault.at = seconds(Instant::now());
                fault.down_from = fault.at;
                fault.until = fault.at;
                println!(
                    "chaos: killing the rca-worker in the middle of {} analyses",
                    running.len()
                );
                stack.rca_worker.kill().await?;
                stack.rca_worker.start(&stack.http).await?;
                // Recovered when the interrupted analyses are complete; watched while the
                // next faults go on.
                let count = running.len() as i64;
                let started = fault.at;
                rca_recovery = Some(tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(180);
                    while Instant::now() < deadline {
                        if db.complete_among(running.clone()).await.unwrap_or(0) == count {
                            return Some(seconds(Instant::now()) - started);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    None
                }));
            }
            3 => {
                stack.nats.stop().await?;
                stack.nats.resume().await?;
            }
            4 => stack.pg.restart().await?,
            5 => {
                stack.nats.stop().await?;
                // The fault lasts ten seconds by definition: this sleep is the fault itself.
                fault.down_from = seconds(Instant::now());
                tokio::time::sleep(Duration::from_secs(10)).await;
                fault.until = seconds(Instant::now());
                stack.nats.resume().await?;
            }
            6 => {
                stack.ingress.stop().await?;
                fault.until = seconds(Instant::now());
                stack.ingress.start(&stack.http).await?;
            }
            7 => {
                let churn = churn::Churn::start(
                    stack.http.clone(),
                    stack.api_url.clone(),
                    stack.api_token.clone(),
                );
                // Changes flowing first, so the kill lands among commits and publishes.
                wait_until(
                    Duration::from_secs(30),
                    "incident changes through the api",
                    async || churn.changed() >= 50,
                )
                .await?;
                fault.at = seconds(Instant::now());
                fault.down_from = fault.at;
                stack.api.kill().await?;
                let stranded = db.unpublished_events().await.unwrap_or_default();
                println!(
                    "chaos: killed the api; {stranded} incident events committed but not yet published"
                );
                stack.api.start(&stack.http).await?;
                fault.until = seconds(Instant::now());
                let changed = churn.stop().await;
                println!("chaos: {changed} incident changes confirmed by the api");
            }
            8 => {
                wait_until_every(
                    Duration::from_millis(20),
                    Duration::from_secs(30),
                    "a notification in flight",
                    async || db.deliveries_in_flight().await.unwrap_or(0) > 0,
                )
                .await?;
                fault.at = seconds(Instant::now());
                fault.down_from = fault.at;
                let in_flight = db.deliveries_in_flight().await.unwrap_or(0);
                println!("chaos: killing the notifier with {in_flight} notifications in flight");
                stack.notifier.kill().await?;
                stack.notifier.start(&stack.http).await?;
                fault.until = seconds(Instant::now());
            }
            _ => unreachable!("eight faults"),
        }
        if fault.until == fault.at {
            fault.until = seconds(Instant::now());
        }
        println!("chaos: {:>5.1} s  {name}", fault.at);
        faults.push(fault);
    }
    load.await?;
    let load_end = seconds(Instant::now());
    println!(
        "chaos: load finished at {load_end:.1} s; waiting for everything to be stored and analysed"
    );
    let mut db = db::Reader::new(stack.database_url.clone());
    let drained = drain(
        stack,
        &state,
        &mut db,
        Duration::from_secs(options.drain_secs),
    )
    .await;
    println!(
        "chaos: drained {:.0} s after the load ended",
        seconds(Instant::now()) - load_end
    );
    watcher.abort();
    if let Err(err) = &drained {
        println!("chaos: {err:#}");
    }
    if let Some(watch) = rca_recovery {
        faults[1].recovery = watch.await?;
    }
    // Every other holder (generator, senders, watcher) is finished: the ledger is final.
    let _ = watcher.await;
    let state = Arc::into_inner(state)
        .expect("nothing else holds the ledger")
        .into_inner()
        .expect("not poisoned");
    let mut report = check::check(
        &state,
        &mut db,
        &PHASES,
        &faults,
        options.phase_secs * PHASES.len() as f64,
        epoch_utc,
    )
    .await?;
    if let Err(err) = drained {
        report.violations.push(format!("{err:#}"));
    }
    report.violations.extend(
        check::incident_changes_on_the_bus(&mut db, &stack.nats.url(), &stack.prefix).await?,
    );
    let notified = notifications::check(
        &stack.stand_ins,
        &mut db,
        stack.user_ids.first().context("at least one user")?,
    )
    .await?;
    println!("chaos: notifications: {}", notified.summary);
    report.lost += notified.lost;
    report.duplicated += notified.duplicated;
    report.violations.extend(notified.violations);
    for violation in &report.violations {
        println!("chaos: FAILED: {violation}");
    }
    Ok(report)
}

async fn wait_for_phase(epoch: Instant, at: f64) {
    let target = epoch + Duration::from_secs_f64(at);
    tokio::time::sleep_until(target.into()).await;
}

/// Messages the correlator holds unacknowledged (0 when it cannot be asked).
async fn ack_pending(stack: &Stack, prefix: &str) -> u64 {
    consumer_backlog(
        &stack.nats.url(),
        prefix,
        "ALERTS",
        aurora_bus::Topology::CORRELATOR,
    )
    .await
    .map_or(0, |(_, ack_pending)| ack_pending)
}

/// A consumer's (pending, ack pending) counts.
async fn consumer_backlog(
    url: &str,
    prefix: &str,
    stream: &str,
    consumer: &str,
) -> anyhow::Result<(u64, u64)> {
    let client = async_nats::connect(url).await?;
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(format!("{prefix}_{stream}")).await?;
    let _ = stream.info().await?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(consumer)
        .await
        .map_err(|err| anyhow::anyhow!("consumer {consumer}: {err}"))?;
    let info = consumer.info().await?;
    Ok((info.num_pending, info.num_ack_pending as u64))
}

/// Watches which accepted webhooks are stored (the generator resolves an alert only then), until
/// aborted.
async fn watch_stored(state: Arc<Mutex<State>>, database_url: String) {
    let mut db = db::Reader::new(database_url);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ids: Vec<String> = state
            .lock()
            .expect("not poisoned")
            .unstored
            .keys()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        // PostgreSQL may be restarting: the next round asks again.
        if let Ok(stored) = db.stored(ids).await {
            let mut state = state.lock().expect("not poisoned");
            for id in stored {
                state.mark_stored(&id);
            }
        }
    }
}

/// Waits until every accepted webhook is stored, no message is pending on either consumer,
/// and every incident's analysis is complete.
async fn drain(
    stack: &Stack,
    state: &Arc<Mutex<State>>,
    db: &mut db::Reader,
    limit: Duration,
) -> anyhow::Result<()> {
    let url = stack.nats.url();
    let prefix = &stack.prefix;
    wait_until(limit, "every accepted webhook to be stored, both consumers to be empty and every analysis complete", async || {
        if !state.lock().expect("not poisoned").unstored.is_empty() {
            return false;
        }
        let correlator = consumer_backlog(&url, prefix, "ALERTS", aurora_bus::Topology::CORRELATOR).await;
        let rca = consumer_backlog(&url, prefix, "INCIDENTS", aurora_bus::Topology::RCA_WORKER).await;
        let notifier = consumer_backlog(&url, prefix, "INCIDENTS", aurora_bus::Topology::NOTIFIER).await;
        let empty = |backlog: anyhow::Result<(u64, u64)>| backlog.is_ok_and(|(pending, ack)| pending == 0 && ack == 0);
        empty(correlator) && empty(rca) && empty(notifier)
            && db.unfinished_analyses().await.is_ok_and(|n| n == 0)
            && db.deliveries_pending().await.is_ok_and(|n| n == 0)
    })
    .await
}
