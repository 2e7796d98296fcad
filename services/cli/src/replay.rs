//! `aurora correlation replay`: a user's recorded alerts decided again with proposed
//! correlation settings, in memory, and what would change.

use std::path::PathBuf;

use anyhow::Context;
use aurora_correlation::Rules;
use aurora_correlation::replay::{self, History, IncidentRef, Report};
use aurora_domain::UserId;
use aurora_settings::Settings;

use crate::Failure;
use crate::commands::{connect, owner};

/// Alerts listed one by one, at most; the rest are counted.
const MOVED_SHOWN: usize = 20;

/// `aurora correlation replay --user NAME --since D --config FILE [--json]`: the proposal is
/// laid over the settings in force (`AURORA_CONFIG`, `aurora.toml`, `AURORA__…`).
pub(crate) async fn run(user: &str, since: &str, config: &str, json: bool) -> Result<(), Failure> {
    let back = humantime::parse_duration(since).map_err(|err| {
        Failure::Usage(format!("invalid --since `{since}`: {err} (e.g. 7d, 24h)"))
    })?;
    let back = chrono::TimeDelta::from_std(back)
        .map_err(|_| Failure::Usage(format!("invalid --since `{since}`: too long")))?;
    // The settings in force with the proposal on top: what deploying it would make them.
    let proposed = Settings::load_with_proposal(PathBuf::from(config))
        .map_err(|err| Failure::Usage(format!("{config}: {err}")))?;
    let rules = Rules::new(proposed.correlation);
    let (_, mut conn) = connect().await?;
    let owner = owner(&mut conn, user).await?;
    let user_id = UserId::parse(owner.id).map_err(|e| Failure::Other(anyhow::anyhow!(e)))?;
    let start = chrono::Utc::now() - back;
    let deployments_since =
        start - chrono::TimeDelta::seconds(rules.settings.deployment_window_secs as i64);
    let recording = aurora_db::replay::recording(
        &mut conn,
        &user_id,
        start.naive_utc(),
        deployments_since.naive_utc(),
    )
    .await
    .context("reading the recorded alerts")?;
    let report = replay::replay(
        &rules,
        &History {
            user: &user_id,
            alerts: &recording.alerts,
            incident_titles: &recording.incident_titles,
            silences: &recording.silences,
            deployments: &recording.deployments,
            until: chrono::Utc::now(),
        },
    );
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report always serializes")
        );
    } else {
        print(user, &start, config, &report);
    }
    Ok(())
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |r| format!("{r:.1}"))
}

fn named(incident: &IncidentRef) -> String {
    format!("\"{}\" ({})", incident.title, incident.id)
}

fn print(user: &str, start: &chrono::DateTime<chrono::Utc>, config: &str, report: &Report) {
    println!(
        "Replayed {} alert(s) of {user} received since {} with the [correlation] of {config}:",
        report.alerts,
        start.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "  incidents: {} → {} (alerts per incident: {} → {})",
        report.incidents_before,
        report.incidents_after,
        ratio(report.compression_before),
        ratio(report.compression_after)
    );
    println!("  would merge: {}", report.merges.len());
    for merge in &report.merges {
        let names: Vec<String> = merge.incidents.iter().map(named).collect();
        println!("    - {} ({} alerts)", names.join(" + "), merge.alerts);
    }
    println!("  would split: {}", report.splits.len());
    for split in &report.splits {
        println!("    - {} into {}", named(&split.incident), split.into);
    }
    println!("  alerts that would move: {}", report.moved.len());
    for moved in report.moved.iter().take(MOVED_SHOWN) {
        let from = moved.from.as_ref().map_or("no incident".to_owned(), named);
        let to = moved
            .to
            .as_ref()
            .map_or("an incident of its own".to_owned(), named);
        println!(
            "    - alert {} \"{}\": from {from} to {to}",
            moved.alert_id, moved.title
        );
    }
    if report.moved.len() > MOVED_SHOWN {
        println!(
            "    … and {} more (--json lists them all)",
            report.moved.len() - MOVED_SHOWN
        );
    }
}
