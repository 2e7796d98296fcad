//! After the run: the database against the generator's ledger, and the table.
//!
//! - lost: a webhook answered 202 whose alerts are not all in `alert_deliveries`;
//! - duplicated: an alert stored as two rows, an alert counted more often than it was
//!   delivered, a group split over two incidents, a link made twice;
//! - and, each its own line: incidents whose analysis is not complete, dead letters, 202s
//!   answered while NATS was down, requests cut in flight by the ingress' shutdown.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Reader;
use crate::load::{Outcome, State};

/// One fault as it was injected.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What was done.
    pub name: &'static str,
    /// Seconds into the run when its phase began (webhooks and attempts are counted by it).
    pub phase_start: f64,
    /// Seconds into the run when it was done.
    pub at: f64,
    /// When the broken part was down for sure (NATS had exited), for the 503 check.
    pub down_from: f64,
    /// The run measures this fault's recovery itself (the rca-worker's: until the interrupted
    /// analyses complete); `None` then means it never recovered.
    pub recovery_own: bool,
    /// Seconds until the pipeline worked again (see the README).
    pub recovery: Option<f64>,
    /// When the fault window closed (NATS started again, the process was back).
    pub until: f64,
}

/// One line of the table.
#[derive(Debug, Default, Clone)]
struct PhaseRow {
    webhooks: usize,
    attempts: usize,
    accepted: usize,
    alerts: usize,
    stored: usize,
    lost: usize,
    duplicated: usize,
}

/// The verdict.
pub struct Report {
    /// Webhooks answered 202 and not stored.
    pub lost: usize,
    /// Everything stored or counted more than once.
    pub duplicated: usize,
    /// Other broken promises, one sentence each.
    pub violations: Vec<String>,
}

/// Compares the database with the ledger and prints the table.
pub async fn check(
    state: &State,
    db: &mut Reader,
    phases: &[&'static str],
    faults: &[Fault],
    duration: f64,
    epoch_utc: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let deliveries = db.deliveries().await?;
    let alerts = db.alerts().await?;
    let incidents = db.incidents().await?;
    let mut stored: HashMap<&str, HashMap<i32, i32>> = HashMap::new();
    for row in &deliveries {
        stored
            .entry(row.delivery_id.as_str())
            .or_default()
            .insert(row.alert_index, row.alert_id);
    }
    let alert_rows: HashMap<i32, _> = alerts.iter().map(|alert| (alert.id, alert)).collect();

    let mut rows = vec![PhaseRow::default(); phases.len()];
    let mut violations = Vec::new();
    // Key → the alert rows its deliveries became; alert row → firing deliveries.
    let mut rows_of_key: HashMap<usize, HashSet<i32>> = HashMap::new();
    let mut firings_of_alert: HashMap<i32, i32> = HashMap::new();
    let mut key_resolved: HashSet<usize> = HashSet::new();
    let mut phase_of_key: HashMap<usize, usize> = HashMap::new();
    let mut accepted_ids: HashSet<&str> = HashSet::new();
    let mut abandoned = 0;
    for sent in &state.sent {
        let row = &mut rows[sent.phase];
        row.webhooks += 1;
        if sent.abandoned {
            abandoned += 1;
        }
        let Some(delivery_id) = &sent.delivery_id else {
            continue;
        };
        accepted_ids.insert(delivery_id);
        row.accepted += 1;
        row.alerts += sent.alerts.len();
        let Some(found) = stored.get(delivery_id.as_str()) else {
            row.lost += 1;
            continue;
        };
        if found.len() != sent.alerts.len() {
            row.lost += 1;
            continue;
        }
        row.stored += 1;
        for (index, &(key, firing)) in sent.alerts.iter().enumerate() {
            let Some(&alert_id) = found.get(&(index as i32)) else {
                continue;
            };
            rows_of_key.entry(key).or_default().insert(alert_id);
            phase_of_key.entry(key).or_insert(sent.phase);
            if firing {
                *firings_of_alert.entry(alert_id).or_default() += 1;
            } else {
                key_resolved.insert(key);
            }
        }
    }
    for sent in &state.sent {
        for attempt in &sent.attempts {
            let phase = phases_at(faults, attempt.start);
            rows[phase].attempts += 1;
        }
    }
    // A delivery stored that no 202 answered: the sender was told it failed, retried, and
    // the alerts arrived twice. Counted where the correlator stored it.
    let mut unasked_alerts: HashMap<i32, i32> = HashMap::new();
    let mut unasked_ids: HashSet<&str> = HashSet::new();
    for row in deliveries
        .iter()
        .filter(|row| !accepted_ids.contains(row.delivery_id.as_str()))
    {
        *unasked_alerts.entry(row.alert_id).or_default() += 1;
        if unasked_ids.insert(row.delivery_id.as_str()) {
            let at = (row.processed_at - epoch_utc.naive_utc()).as_seconds_f64();
            rows[phases_at(faults, at)].duplicated += 1;
        }
    }
    if abandoned > 0 {
        violations.push(format!(
            "{abandoned} webhooks never answered 202 (refused, or retried past the deadline)"
        ));
    }

    // Each alert is one row, counted once per firing delivery, in the state it was left in.
    let mut incidents_of_group: HashMap<usize, HashSet<Uuid>> = HashMap::new();
    let mut keys_of_group: HashMap<usize, usize> = HashMap::new();
    for (&key, alert_ids) in &rows_of_key {
        let phase = phase_of_key[&key];
        if alert_ids.len() > 1 {
            rows[phase].duplicated += alert_ids.len() - 1;
        }
        let group = state.keys[key].group;
        *keys_of_group.entry(group).or_default() += 1;
        for alert_id in alert_ids {
            let Some(alert) = alert_rows.get(alert_id) else {
                continue;
            };
            // Once per firing delivery: those answered 202, and perhaps those stored unasked
            // (already counted as duplicates above).
            let firings = firings_of_alert.get(alert_id).copied().unwrap_or(0);
            let unasked = unasked_alerts.get(alert_id).copied().unwrap_or(0);
            if alert.occurrence_count > firings + unasked {
                rows[phase].duplicated += (alert.occurrence_count - firings - unasked) as usize;
            } else if alert.occurrence_count < firings {
                violations.push(format!(
                    "alert {alert_id} counted {} times for {firings} firing deliveries",
                    alert.occurrence_count
                ));
            }
            let expected = if key_resolved.contains(&key) {
                "resolved"
            } else {
                "firing"
            };
            if alert.status != expected {
                violations.push(format!(
                    "alert {alert_id} is {}, its last webhook said {expected}",
                    alert.status
                ));
            }
            if let Some(incident) = alert.incident_id {
                incidents_of_group
                    .entry(group)
                    .or_default()
                    .insert(incident);
            }
        }
    }
    let links: HashMap<Uuid, (i64, i64)> = incidents
        .iter()
        .map(|incident| (incident.id, (incident.links, incident.linked_alerts)))
        .collect();
    let mut split_groups = 0;
    for (group, incident_ids) in &incidents_of_group {
        split_groups += incident_ids.len().saturating_sub(1);
        let linked: i64 = incident_ids
            .iter()
            .map(|id| links.get(id).map_or(0, |l| l.1))
            .sum();
        if linked != keys_of_group[group] as i64 {
            violations.push(format!(
                "group {group}: {} alerts but {linked} linked to its incident",
                keys_of_group[group]
            ));
        }
    }
    let double_links: i64 = links.values().map(|(all, distinct)| all - distinct).sum();
    // Incidents no group's alert points at (a split group's second incident is counted above).
    let grouped: HashSet<&Uuid> = incidents_of_group.values().flatten().collect();
    let extra_incidents = incidents
        .iter()
        .filter(|incident| !grouped.contains(&incident.id))
        .count();
    let structural = split_groups + double_links as usize + extra_incidents;
    if structural > 0 {
        violations.push(format!(
            "{split_groups} extra incidents from groups split apart, {extra_incidents} incidents of no group, {double_links} links made twice"
        ));
    }
    let unfinished = db.unfinished_analyses().await?;
    if unfinished > 0 {
        violations.push(format!(
            "{unfinished} incidents without a complete analysis"
        ));
    }
    let twice = db.analyses_not_completed_once().await?;
    if twice > 0 {
        violations.push(format!(
            "{twice} incidents whose analysis completed other than exactly once (events or duplicated suggestions)"
        ));
    }
    let dead = db.dead_letters().await?;
    if dead > 0 {
        violations.push(format!("{dead} messages set aside as dead letters"));
    }
    violations.extend(window_violations(state, faults));

    let processed: Vec<f64> = deliveries
        .iter()
        .map(|row| (row.processed_at - epoch_utc.naive_utc()).as_seconds_f64())
        .collect();
    let faults = with_recovery(state, faults, &processed);
    let faults = faults.as_slice();
    let lost: usize = rows.iter().map(|row| row.lost).sum();
    let duplicated: usize = rows.iter().map(|row| row.duplicated).sum::<usize>() + structural;
    print_table(&rows, phases, faults, duration, incidents.len());
    Ok(Report {
        lost,
        duplicated,
        violations,
    })
}

/// Each fault's recovery, where the run did not measure it itself: seconds from the fault
/// until the pipeline works end to end again — a webhook answered 202 and a delivery stored,
/// both after the broken part is back. (Not until the backlog is gone: see the drain time.)
fn with_recovery(state: &State, faults: &[Fault], processed: &[f64]) -> Vec<Fault> {
    faults
        .iter()
        .cloned()
        .map(|mut fault| {
            if fault.recovery.is_none() && !fault.recovery_own {
                let accepted = state
                    .sent
                    .iter()
                    .flat_map(|sent| &sent.attempts)
                    .filter(|a| a.outcome == Outcome::Accepted && a.end >= fault.until)
                    .map(|a| a.end)
                    .reduce(f64::min);
                let stored = processed
                    .iter()
                    .copied()
                    .filter(|&at| at >= fault.until)
                    .reduce(f64::min);
                fault.recovery = accepted
                    .zip(stored)
                    .map(|(accepted, stored)| accepted.max(stored) - fault.at);
            }
            fault
        })
        .collect()
}

/// The phase an instant falls in: 0 before the first fault, then the fault's number.
fn phases_at(faults: &[Fault], at: f64) -> usize {
    faults
        .iter()
        .take_while(|fault| fault.phase_start <= at)
        .count()
}

/// During the NATS outage no 202; at the ingress' SIGTERM no request cut in flight.
fn window_violations(state: &State, faults: &[Fault]) -> Vec<String> {
    let mut violations = Vec::new();
    for fault in faults {
        let attempts = state.sent.iter().flat_map(|sent| sent.attempts.iter());
        if fault.name.starts_with("NATS stopped") {
            let inside: Vec<_> = attempts
                .filter(|a| a.start >= fault.down_from && a.end <= fault.until)
                .collect();
            let accepted = inside
                .iter()
                .filter(|a| a.outcome == Outcome::Accepted)
                .count();
            let unavailable = inside
                .iter()
                .filter(|a| a.outcome == Outcome::Answered(503))
                .count();
            println!(
                "chaos: while NATS was stopped: {} requests, {unavailable} answered 503, {accepted} answered 202",
                inside.len()
            );
            if accepted > 0 || unavailable != inside.len() {
                violations.push(format!(
                    "while NATS was stopped {accepted} requests got 202 and {} something other than 503",
                    inside.len() - unavailable - accepted
                ));
            }
        } else if fault.name.starts_with("SIGTERM") {
            let in_flight: Vec<_> = attempts
                .filter(|a| a.start < fault.at && a.end > fault.at)
                .collect();
            let cut = in_flight
                .iter()
                .filter(|a| a.outcome == Outcome::Cut)
                .count();
            println!(
                "chaos: at the ingress' SIGTERM: {} requests in flight, {cut} cut off",
                in_flight.len()
            );
            if cut > 0 {
                violations.push(format!(
                    "{cut} requests in flight were cut off by the ingress' SIGTERM"
                ));
            }
        }
    }
    violations
}

fn print_table(
    rows: &[PhaseRow],
    phases: &[&'static str],
    faults: &[Fault],
    duration: f64,
    incidents: usize,
) {
    println!();
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9}",
        "fault", "webhooks", "attempts", "202s", "stored", "lost", "dupl.", "recovery"
    );
    for (index, (row, name)) in rows.iter().zip(phases).enumerate() {
        let recovery = index
            .checked_sub(1)
            .and_then(|fault| faults.get(fault))
            .and_then(|fault| fault.recovery)
            .map_or("-".to_owned(), |secs| format!("{secs:.1} s"));
        println!(
            "{:<44} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9}",
            name,
            row.webhooks,
            row.attempts,
            row.accepted,
            row.stored,
            row.lost,
            row.duplicated,
            recovery
        );
    }
    let accepted_alerts: usize = rows.iter().map(|row| row.alerts).sum();
    let accepted: usize = rows.iter().map(|row| row.accepted).sum();
    println!(
        "chaos: {accepted} webhooks carrying {accepted_alerts} alerts accepted in {duration:.0} s of load: {:.0} alerts/s, {:.0} webhooks/s; {incidents} incidents",
        accepted_alerts as f64 / duration,
        accepted as f64 / duration
    );
}

/// Every incident event that announces a change is on the INCIDENTS stream (the outbox
/// relay's work after the api was killed between commits and publishes), and none is left
/// unpublished. Answers what is missing.
pub async fn incident_changes_on_the_bus(
    db: &mut Reader,
    nats_url: &str,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    // The relay runs every second; give it a few rounds after the drain.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db.unpublished_events().await? > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut violations = Vec::new();
    let unpublished = db.unpublished_events().await?;
    if unpublished > 0 {
        violations.push(format!("{unpublished} incident events never published"));
    }
    let announced: Vec<i64> = db
        .events()
        .await?
        .into_iter()
        .filter(|(_, kind)| aurora_domain::IncidentChange::of_event_kind(kind).is_some())
        .map(|(id, _)| id)
        .collect();
    let on_the_bus = published_event_ids(nats_url, prefix).await?;
    let missing: Vec<i64> = announced
        .iter()
        .copied()
        .filter(|id| !on_the_bus.contains(id))
        .collect();
    if !missing.is_empty() {
        violations.push(format!(
            "{} of {} incident changes never reached the bus (first: {:?})",
            missing.len(),
            announced.len(),
            &missing[..missing.len().min(5)]
        ));
    }
    Ok(violations)
}

/// The `event_id` of every message on the INCIDENTS stream.
async fn published_event_ids(nats_url: &str, prefix: &str) -> anyhow::Result<HashSet<i64>> {
    use futures::TryStreamExt;
    let client = async_nats::connect(nats_url).await?;
    let jetstream = async_nats::jetstream::new(client);
    let topology = aurora_bus::Topology::new(Some(prefix))?;
    let stream = jetstream.get_stream(topology.incidents_stream()).await?;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await?;
    let pending = consumer.cached_info().num_pending;
    let mut messages = consumer.messages().await?;
    let mut ids = HashSet::new();
    let mut read = 0;
    while read < pending {
        let Some(message) = messages.try_next().await? else {
            break;
        };
        read += 1;
        let body: serde_json::Value = serde_json::from_slice(&message.payload)?;
        if let Some(id) = body["event_id"].as_i64() {
            ids.insert(id);
        }
    }
    Ok(ids)
}
