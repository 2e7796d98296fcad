//! `make bench`: Aurora's services as separate processes on the running PostgreSQL and NATS,
//! under a storm of Alertmanager webhooks, one alert each; then how fast it took them, how
//! fast they were stored and became incidents, how fast the incidents were analysed, and how
//! much memory each service needed. The same storm against Prometheus Alertmanager gives a
//! figure to compare the ingest with.
//!
//! - Phase A, closed loop: every connection sends as fast as it is answered.
//! - Phase B, open loop: a fixed rate, latency counted from each request's due time.
//!
//! After each phase the bench waits until every accepted alert is in `alert_deliveries`; a
//! run with an answer other than 202, or an accepted alert never stored, exits non-zero. It
//! makes its own database (`aurora_bench_<pid>`) and stream prefix (`bench<pid>`) and removes
//! exactly those at the end, after a failure too.

mod alertmanager;
mod db;
mod load;
mod report;
mod stack;
mod statistics;
mod storm;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use aurora_chaos::wait_until_every;
use chrono::{DateTime, Utc};
use clap::Parser;

use crate::db::Db;
use crate::load::{Outcome, Storm, Target};
use crate::report::{Figures, PhaseRow, RcaFigures};
use crate::stack::{Stack, StackSettings};
use crate::storm::Planner;

/// The bench's options.
#[derive(Parser, Debug)]
#[command(about = "Aurora under an Alertmanager storm: ingest, end-to-end, RCA and memory figures")]
struct Options {
    /// Where the service binaries are (`target/release` after `cargo build --release`).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The running PostgreSQL server (no database: the bench makes its own).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// The running NATS server with JetStream.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Correlator processes.
    #[arg(long, default_value_t = 1)]
    correlators: usize,
    /// RCA worker processes.
    #[arg(long, default_value_t = 1)]
    rca_workers: usize,
    /// Users, each with its own Alertmanager integration; requests go to them in turn.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Keep-alive HTTP/1.1 connections, one sender each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of phase A (as fast as possible).
    #[arg(long, default_value_t = 15.0)]
    secs: f64,
    /// Alerts per second offered in phase B.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Seconds of phase B.
    #[arg(long, default_value_t = 15.0)]
    rate_secs: f64,
    /// The storm's seed: the same seed sends the same alerts.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Most seconds to wait, after a phase, for its alerts to be stored.
    #[arg(long, default_value_t = 300)]
    drain_secs: u64,
    /// Most seconds to wait, after phase B, for every analysis to complete.
    #[arg(long, default_value_t = 120)]
    rca_secs: u64,
    /// Skip the comparison with Prometheus Alertmanager.
    #[arg(long)]
    no_alertmanager: bool,
    /// A few seconds' run for `make test`: 8 connections, phase A 2 s, phase B 2 s at 200/s.
    #[arg(long)]
    smoke: bool,
    /// Where the JSON figures go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// Keep the work directory (configuration, every process' log) afterwards.
    #[arg(long)]
    keep: bool,
}

/// A run's figures and the promises it saw broken.
struct Run {
    figures: Figures,
    failures: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = Options::parse();
    if options.smoke {
        options.connections = 8;
        options.secs = 2.0;
        options.rate = 200.0;
        options.rate_secs = 2.0;
    }
    if options.tenants == 0 || options.connections == 0 || options.correlators == 0 {
        bail!("--tenants, --connections and --correlators must be at least 1");
    }
    if options.rca_workers == 0 || options.rate <= 0.0 {
        bail!("--rca-workers must be at least 1 and --rate above 0");
    }
    if !options.no_alertmanager && !alertmanager::installed() {
        bail!(
            "Prometheus Alertmanager is not installed: run `scripts/ensure-services.sh --alertmanager` \
             (installs the Debian package prometheus-alertmanager), or pass --no-alertmanager"
        );
    }
    let work = std::env::temp_dir().join(format!("aurora-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    println!(
        "bench: work directory {} (logs of every process)",
        work.display()
    );
    let mut stack = Stack::new(
        StackSettings {
            bin_dir: options.bin_dir.clone(),
            postgres: options.postgres.clone(),
            nats: options.nats.clone(),
            correlators: options.correlators,
            rca_workers: options.rca_workers,
            tenants: options.tenants,
        },
        &work,
    );
    // Ctrl-C ends the run, not the process: what the bench made is still removed.
    let outcome = tokio::select! {
        outcome = bench(&options, &mut stack, &work) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let released = stack.release().await;
    let run = match (outcome, released) {
        (Ok(run), Ok(())) => run,
        (Err(err), _) | (Ok(_), Err(err)) => {
            println!("bench: logs kept in {}", work.display());
            return Err(err);
        }
    };
    print!("\n{}", run.figures.table());
    let names = if options.smoke {
        vec!["smoke.json".to_owned()]
    } else {
        vec![
            format!("bench-{}.json", Utc::now().timestamp()),
            "latest.json".to_owned(),
        ]
    };
    report::write(
        &options.out_dir,
        &names,
        &run.figures.json(settings(&options)),
    )?;
    for failure in &run.failures {
        println!("bench: FAILED: {failure}");
    }
    if options.keep || !run.failures.is_empty() {
        println!("bench: logs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("{}", run.figures.summary());
    if !run.failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn settings(options: &Options) -> serde_json::Value {
    serde_json::json!({
        "smoke": options.smoke, "connections": options.connections, "secs": options.secs,
        "rate": options.rate, "rate_secs": options.rate_secs, "tenants": options.tenants,
        "correlators": options.correlators, "rca_workers": options.rca_workers,
        "seed": options.seed, "bin_dir": options.bin_dir.display().to_string(),
    })
}

async fn bench(options: &Options, stack: &mut Stack, work: &Path) -> anyhow::Result<Run> {
    stack.start().await?;
    let mut db = Db::connect(&stack.database_url).await?;
    let statistics = statistics::keep_current(&stack.database_url).await?;
    let run_name = format!("bench{}", std::process::id());
    let storm = Arc::new(Storm {
        target: Target::Aurora {
            url: stack.ingress_url.clone(),
            tokens: stack.tokens.clone(),
        },
        planner: Mutex::new(Planner::new(options.seed, options.tenants, &run_name)),
        started: Utc::now(),
    });
    let mut run = Run {
        figures: Figures::default(),
        failures: Vec::new(),
    };
    aurora_phases(options, &storm, &mut db, &mut run).await?;
    run.figures.mix = storm.planner.lock().expect("not poisoned").mix;
    run.figures.rss_kib = stack.peak_rss_kib();
    run.failures.extend(stack.missing_metrics().await);
    // Aurora stops before Alertmanager starts, so neither takes CPU from the other.
    drop(db);
    drop(statistics);
    stack.release().await?;
    if !options.no_alertmanager {
        println!("bench: the same storm against Prometheus Alertmanager");
        let planner = Planner::new(options.seed, options.tenants, &run_name);
        let (connections, secs) = (options.connections, options.secs);
        let (outcome, rss) = alertmanager::compare(work, planner, connections, secs).await?;
        let name = format!("Alertmanager, as A ({connections} conn, {secs} s)");
        run.figures.alertmanager = Some(phase_row(name, &outcome));
        run.figures.alertmanager_rss_kib = rss;
    }
    Ok(run)
}

/// Phase A, phase B, then the analyses; stops at the first phase whose promises broke
/// (its backlog would skew what follows).
async fn aurora_phases(
    options: &Options,
    storm: &Arc<Storm>,
    db: &mut Db,
    run: &mut Run,
) -> anyhow::Result<()> {
    let (connections, drain) = (options.connections, Duration::from_secs(options.drain_secs));
    let mut totals = Totals::default();
    let name = format!("A max ({connections} conn, {} s)", options.secs);
    println!("bench: phase {name}");
    let started = Utc::now();
    let outcome = load::closed_loop(storm.clone(), connections, options.secs).await;
    let phase = Phase {
        name: &name,
        outcome: &outcome,
        started,
    };
    run.figures.max = Some(measure(db, &phase, &mut totals, drain, &mut run.failures).await?);
    if !run.failures.is_empty() {
        return Ok(());
    }

    let name = format!(
        "B rate ({connections} conn, {} s at {}/s)",
        options.rate_secs, options.rate
    );
    println!("bench: phase {name}");
    let started = Utc::now();
    let outcome =
        load::open_loop(storm.clone(), connections, options.rate, options.rate_secs).await;
    let phase = Phase {
        name: &name,
        outcome: &outcome,
        started,
    };
    run.figures.rate = Some(measure(db, &phase, &mut totals, drain, &mut run.failures).await?);
    if run.failures.is_empty() {
        run.figures.rca = Some(analyses(db, options).await?);
    }
    Ok(())
}

fn phase_row(name: String, outcome: &Outcome) -> PhaseRow {
    PhaseRow {
        name,
        requests: outcome.requests(),
        accepted: outcome.accepted,
        accepted_per_sec: outcome.accepted as f64 / outcome.secs.max(1e-9),
        per_sec: outcome.per_sec(),
        p50_ms: outcome.quantile_ms(0.5),
        p99_ms: outcome.quantile_ms(0.99),
        ..PhaseRow::default()
    }
}

/// One phase of load against Aurora, as it ran.
struct Phase<'a> {
    name: &'a str,
    outcome: &'a Outcome,
    started: DateTime<Utc>,
}

/// Alerts accepted and stored in the phases so far.
#[derive(Default)]
struct Totals {
    accepted: u64,
    stored: i64,
}

/// A phase's row: its answers, then (once every accepted alert is stored, or the drain
/// deadline passed) its end-to-end figures. A broken promise goes to `failures`.
async fn measure(
    db: &mut Db,
    phase: &Phase<'_>,
    totals: &mut Totals,
    drain: Duration,
    failures: &mut Vec<String>,
) -> anyhow::Result<PhaseRow> {
    let (name, outcome, started) = (phase.name, phase.outcome, phase.started);
    let answers: Vec<String> = outcome
        .statuses
        .iter()
        .map(|(status, count)| match status {
            0 => format!("no answer ×{count}"),
            _ => format!("{status} ×{count}"),
        })
        .collect();
    println!("bench: {name}: answers {}", answers.join(", "));
    if outcome.accepted != outcome.requests() {
        failures.push(format!(
            "{name}: {} of {} requests were not answered 202 ({})",
            outcome.requests() - outcome.accepted,
            outcome.requests(),
            answers.join(", ")
        ));
    }
    let mut row = phase_row(name.to_owned(), outcome);
    let stored_before = totals.stored;
    totals.accepted += outcome.accepted;
    let target = totals.accepted as i64;
    let mut stored = stored_before;
    // Counting reads the whole table: once a second, not to slow down what it measures (the
    // figures come from the rows' own timestamps, not from when the count saw them).
    let waited = wait_until_every(
        Duration::from_secs(1),
        drain,
        "every accepted alert to be stored",
        async || {
            stored = db.stored_alerts().await.unwrap_or(stored);
            stored >= target
        },
    )
    .await;
    totals.stored = stored;
    if waited.is_err() {
        failures.push(format!(
            "{name}: {} accepted alerts never reached PostgreSQL within {} s",
            target - stored,
            drain.as_secs()
        ));
        return Ok(row);
    }
    let last = db.last_processed().await?.unwrap_or(started);
    let load_end = started + chrono::Duration::microseconds((outcome.secs * 1e6) as i64);
    let span = (last - started).as_seconds_f64();
    row.e2e_per_sec = Some((stored - stored_before) as f64 / span.max(1e-9));
    row.drain_secs = Some((last - load_end).as_seconds_f64().max(0.0));
    let opened = db.incident_latency(started).await?;
    row.incidents = Some(opened.incidents);
    row.incident_p50_ms = opened.p50_ms;
    row.incident_p99_ms = opened.p99_ms;
    Ok(row)
}

/// Waits (up to `--rca-secs`) for every incident's analysis to complete, then counts.
async fn analyses(db: &mut Db, options: &Options) -> anyhow::Result<RcaFigures> {
    println!("bench: waiting for every incident's analysis");
    let limit = Duration::from_secs(options.rca_secs);
    // Not finishing in time is a figure, not a failure: what is left is reported.
    let _ = wait_until_every(
        Duration::from_secs(1),
        limit,
        "every analysis to complete",
        async || db.unfinished_analyses().await.is_ok_and(|left| left == 0),
    )
    .await;
    let analyses = db.analyses().await?;
    let per_sec = analyses
        .span_secs
        .map(|span| analyses.complete as f64 / span.max(1e-9));
    Ok(RcaFigures {
        incidents: analyses.by_status.iter().map(|(_, count)| count).sum(),
        complete: analyses.complete,
        per_sec,
        per_worker: per_sec.map(|rate| rate / options.rca_workers.max(1) as f64),
        left: analyses
            .by_status
            .into_iter()
            .filter(|(status, _)| status != "complete")
            .collect(),
    })
}
