//! The decision: every alert of every delivery, in receipt order, against the loaded state and
//! everything decided before it in the same call.
//!
//! Each alert, as the design says:
//! 1. Order: an alert whose row was last changed by a later delivery is stale. A stale firing
//!    is counted; nothing else about it changes.
//! 2. Dedup: a firing of an open alert is a repeat; a resolve resolves it, and its incident
//!    follows the resolve policy.
//! 3. Lifecycle: a resolved alert firing again within the flap window reopens its incident;
//!    later, a new incident is linked to the old one as a recurrence.
//! 4. Correlation: a new alert joins the best open incident at or above the threshold,
//!    incidents opened earlier in the same call included; otherwise it opens one.

mod alerts;
mod correlate;
mod incidents;

use std::collections::{HashMap, HashSet};

use aurora_domain::{AlertStatus, NormalizedAlert, SourceType};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::plan::{AlertRef, AlertRow, AlertUpdate, Event, EventDetail, IncidentUpdate, Plan};
use crate::silence::Silence;
use crate::state::{Arrival, State, StoredDeployment};
use crate::{Rules, plan};

pub use correlate::CANDIDATE_LIMIT;
pub(crate) use correlate::related_services;

/// Most deployments weighed per alert (the newest of its service and dependencies).
pub const DEPLOYMENT_LIMIT: usize = 20;

/// Decides what `arrivals` (one user's deliveries, in any order) do to `state`, as of `now`.
/// Arrivals are applied in receipt order; those in `state.done_deliveries`, or repeated in
/// `arrivals`, change nothing and are listed in [`Plan::already_processed`].
pub fn decide(rules: &Rules, state: &State, arrivals: &[Arrival<'_>], now: DateTime<Utc>) -> Plan {
    let mut order: Vec<usize> = (0..arrivals.len()).collect();
    order.sort_by_key(|&index| arrivals[index].receipt);
    let mut decision = Decision::new(rules, state, arrivals, now);
    let mut seen: HashSet<&str> = HashSet::new();
    for index in order {
        let batch = arrivals[index].batch;
        let delivery = batch.delivery_id.as_str();
        if state.done_deliveries.contains(delivery) || !seen.insert(delivery) {
            decision.plan.already_processed.push(index);
            continue;
        }
        for (alert_index, alert) in batch.alerts.iter().enumerate() {
            if let Some(heartbeat) = state.heartbeats.iter().find(|h| h.beats(alert)) {
                decision.beat(heartbeat.id, batch.received_at);
                continue;
            }
            decision.apply(index, alert_index, alert);
        }
        if let Some(deployment) = &batch.deployment {
            decision.plan.deployments.push(index);
            decision.deployments.push(StoredDeployment {
                service: deployment.service.clone(),
                build: deployment.build.clone(),
                failed: deployment.result.is_failure(),
                deployed_at: deployment.finished_at,
            });
        }
    }
    decision.finish()
}

/// Resolves the stored alerts of `silent` keys that still fire and were last heard from
/// before `silent_since` (sources that never send resolves time out after `timeout_secs`); their
/// incidents follow the resolve policy. A key heard from since it was found silent is left
/// alone.
pub fn auto_resolve(
    rules: &Rules,
    state: &State,
    silent: &[(SourceType, &str)],
    silent_since: DateTime<Utc>,
    timeout_secs: u64,
    now: DateTime<Utc>,
) -> Plan {
    let mut decision = Decision::new(rules, state, &[], now);
    for key in silent {
        let Some(&slot) = decision.by_key.get(key) else {
            continue;
        };
        let row = &decision.alerts[slot].row;
        if row.status == AlertStatus::Firing && row.last_seen_at < silent_since {
            decision.resolve_at(slot, now, |alert, _| EventDetail::AutoResolved {
                alert,
                after_secs: timeout_secs,
            });
        }
    }
    decision.finish()
}

/// Decides what the end of silences does to the alerts they kept quiet that still fire:
/// `arrivals` carry those alerts as stored (keyed as usual). Each that no active silence
/// keeps quiet, and whose silence says `open`, joins an incident or opens one, as a new
/// firing would. Nothing is counted as received, and no delivery is recorded.
pub fn release(rules: &Rules, state: &State, arrivals: &[Arrival<'_>], now: DateTime<Utc>) -> Plan {
    let mut decision = Decision::new(rules, state, arrivals, now);
    for (arrival, batch) in arrivals.iter().enumerate() {
        for (alert_index, alert) in batch.batch.alerts.iter().enumerate() {
            let key = (alert.source_type, alert.fingerprint.as_str());
            let Some(&slot) = decision.by_key.get(&key) else {
                continue;
            };
            if !decision.alerts[slot].is_quiet() {
                continue;
            }
            if let Some(active) = decision.silence_for(alert) {
                // Another silence still holds it: it is that one's to release.
                let quiet = &mut decision.alerts[slot];
                if quiet.row.suppressed_by != Some(active.id) {
                    quiet.row.suppressed_by = Some(active.id);
                    quiet.changed = true;
                }
                continue;
            }
            if decision.dropped_at_expiry(slot) {
                continue;
            }
            // Not a notification: neither counted nor recorded as a delivery.
            let mut processed = plan::Processed {
                outcome: plan::Outcome::Opened,
                arrival,
                alert_index,
                alert: decision.alerts[slot].reference,
                opened_incident: None,
                events: Vec::new(),
            };
            decision.place(slot, arrival, alert_index, alert, &mut processed);
        }
    }
    decision.finish()
}

/// An alert row as the decision goes: a stored one or a new one, and how it stands now.
#[derive(Debug)]
struct AlertSlot<'a> {
    reference: AlertRef,
    fingerprint: &'a str,
    row: AlertRow,
    /// Firing notifications counted here (added to a stored row's count; a new row's count).
    occurrences: i32,
    changed: bool,
}

/// The working state of one decision.
struct Decision<'a> {
    rules: &'a Rules,
    now: DateTime<Utc>,
    arrivals: &'a [Arrival<'a>],
    alerts: Vec<AlertSlot<'a>>,
    /// (source, fingerprint) → the slot of the row that stands for the key now.
    by_key: HashMap<(SourceType, &'a str), usize>,
    incidents: incidents::Incidents,
    deployments: Vec<StoredDeployment>,
    silences: &'a [Silence],
    /// Firing notifications kept quiet, per silence.
    suppressed: HashMap<Uuid, i64>,
    /// The latest beat heard, per heartbeat.
    beats: HashMap<Uuid, DateTime<Utc>>,
    plan: Plan,
}

impl AlertSlot<'_> {
    /// Firing, kept quiet by a silence, in no incident.
    fn is_quiet(&self) -> bool {
        self.row.status == AlertStatus::Firing
            && self.row.suppressed_by.is_some()
            && self.row.incident_id.is_none()
    }
}

impl<'a> Decision<'a> {
    fn new(
        rules: &'a Rules,
        state: &'a State,
        arrivals: &'a [Arrival<'a>],
        now: DateTime<Utc>,
    ) -> Self {
        let mut alerts = Vec::with_capacity(state.alerts.len());
        let mut by_key = HashMap::with_capacity(state.alerts.len());
        for stored in &state.alerts {
            by_key.insert(
                (stored.source_type, stored.fingerprint.as_str()),
                alerts.len(),
            );
            alerts.push(AlertSlot {
                reference: AlertRef::Stored(stored.id),
                fingerprint: &stored.fingerprint,
                row: AlertRow {
                    status: stored.status,
                    incident_id: stored.incident_id,
                    resolved_at: stored.resolved_at,
                    last_seen_at: stored.last_seen_at,
                    receipt: stored.receipt,
                    suppressed_by: stored.suppressed_by,
                    severity: stored.severity,
                },
                occurrences: 0,
                changed: false,
            });
        }
        Self {
            rules,
            now,
            arrivals,
            alerts,
            by_key,
            incidents: incidents::Incidents::new(&state.incidents),
            deployments: state.deployments.clone(),
            silences: &state.silences,
            suppressed: HashMap::new(),
            beats: HashMap::new(),
            plan: Plan::default(),
        }
    }

    /// One alert of one delivery.
    fn apply(&mut self, arrival: usize, alert_index: usize, alert: &'a NormalizedAlert) {
        let receipt = self.arrivals[arrival].receipt;
        let key = (alert.source_type, alert.fingerprint.as_str());
        let current = self.by_key.get(&key).copied();
        let mut processed = plan::Processed {
            // Until a path below says otherwise: a repeat, or a resolve.
            outcome: match alert.status {
                AlertStatus::Firing => plan::Outcome::Deduplicated,
                AlertStatus::Resolved => plan::Outcome::Resolved,
            },
            arrival,
            alert_index,
            alert: AlertRef::New(usize::MAX),
            opened_incident: None,
            events: Vec::new(),
        };
        match current {
            Some(slot) if self.alerts[slot].row.receipt > receipt => {
                self.stale(slot, alert);
                processed.alert = self.alerts[slot].reference;
            }
            Some(slot) if self.alerts[slot].row.status == AlertStatus::Firing => {
                processed.alert = self.alerts[slot].reference;
                match alert.status {
                    AlertStatus::Firing if self.alerts[slot].is_quiet() => {
                        self.quiet_firing(slot, arrival, alert_index, alert, &mut processed);
                    }
                    AlertStatus::Firing => {
                        self.repeat(slot, arrival);
                        processed.events.extend(self.restate(slot, alert));
                    }
                    AlertStatus::Resolved => {
                        processed.events = self.resolve(slot, arrival);
                    }
                }
            }
            Some(slot) if alert.status == AlertStatus::Resolved => {
                // The resolve of an alert already resolved (vendors repeat them).
                self.touch(slot, arrival);
                processed.alert = self.alerts[slot].reference;
            }
            _ if alert.status == AlertStatus::Resolved => {
                // A resolve for an alert Aurora never saw open is kept, but is no incident.
                processed.alert = self.insert(arrival, alert_index, alert);
            }
            resolved => self.fire(resolved, arrival, alert_index, alert, &mut processed),
        }
        self.plan.processed.push(processed);
    }

    /// A delivery older than the row's last one: a firing is counted, nothing else changes.
    fn stale(&mut self, slot: usize, alert: &NormalizedAlert) {
        if alert.status == AlertStatus::Firing {
            let slot = &mut self.alerts[slot];
            slot.occurrences += 1;
            slot.changed = true;
        }
    }

    /// Stores a new alert row from alert `alert_index` of `arrival`, as the key's row.
    fn insert(
        &mut self,
        arrival: usize,
        alert_index: usize,
        alert: &'a NormalizedAlert,
    ) -> AlertRef {
        let received_at = self.arrivals[arrival].batch.received_at;
        let reference = AlertRef::New(self.plan.new_alerts.len());
        let row = AlertRow {
            status: alert.status,
            incident_id: None,
            resolved_at: (alert.status == AlertStatus::Resolved).then_some(received_at),
            last_seen_at: received_at,
            receipt: self.arrivals[arrival].receipt,
            suppressed_by: None,
            severity: alert.severity,
        };
        self.plan.new_alerts.push(plan::NewAlert {
            arrival,
            alert_index,
            row: row.clone(),
            occurrence_count: 1,
        });
        self.by_key.insert(
            (alert.source_type, alert.fingerprint.as_str()),
            self.alerts.len(),
        );
        self.alerts.push(AlertSlot {
            reference,
            fingerprint: alert.fingerprint.as_str(),
            row,
            occurrences: 1,
            changed: true,
        });
        reference
    }

    /// Records that `arrival` was the last delivery applied to the row in `slot`.
    fn touch(&mut self, slot: usize, arrival: usize) {
        let Arrival { receipt, batch } = self.arrivals[arrival];
        let slot = &mut self.alerts[slot];
        slot.row.receipt = receipt;
        slot.row.last_seen_at = slot.row.last_seen_at.max(batch.received_at);
        slot.changed = true;
    }

    /// A notification of the firing alert in `slot` that says another severity (Netdata's
    /// WARNING turning CRITICAL, Datadog's warn turning alert): the alert takes it, and its
    /// incident's severity follows. Answers the published change of the incident, if any.
    fn restate(&mut self, slot: usize, alert: &NormalizedAlert) -> Option<usize> {
        let row = &mut self.alerts[slot].row;
        let before = row.severity;
        if before == alert.severity {
            return None;
        }
        row.severity = alert.severity;
        self.alerts[slot].changed = true;
        let (incident_id, reference) = (
            self.alerts[slot].row.incident_id?,
            self.alerts[slot].reference,
        );
        let incident = self.incidents.get_mut(incident_id)?;
        incident.row.firing_by_severity.remove(before);
        incident.row.firing_by_severity.add(alert.severity);
        incident.changed = true;
        self.follow_severity(incident_id, reference)
    }

    /// Sets the incident's severity to the highest of its firing alerts (kept when none
    /// fires) after `alert` fired or resolved, recording a change on its timeline; answers
    /// that event (published as `updated`), if there was one.
    fn follow_severity(&mut self, incident_id: Uuid, alert: AlertRef) -> Option<usize> {
        let incident = self.incidents.get_mut(incident_id)?;
        let to = incident.row.firing_by_severity.highest()?;
        let from = incident.row.severity;
        if to == from {
            return None;
        }
        incident.row.severity = to;
        incident.changed = true;
        Some(self.event(
            incident_id,
            EventDetail::SeverityChanged { alert, from, to },
        ))
    }

    /// Appends an event to an incident's timeline; answers its index.
    fn event(&mut self, incident_id: Uuid, detail: EventDetail) -> usize {
        self.plan.events.push(Event {
            incident_id,
            detail,
        });
        self.plan.events.len() - 1
    }

    /// The window of a source's alerts for candidates.
    fn window(&self, source: SourceType) -> TimeDelta {
        TimeDelta::seconds(self.rules.window_secs(source.as_str()) as i64)
    }

    /// A beat of `heartbeat` received at `at`: kept as when it was last heard from, and
    /// nothing else (not an alert, not counted as noise).
    fn beat(&mut self, heartbeat: Uuid, at: DateTime<Utc>) {
        let latest = self.beats.entry(heartbeat).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// The active silence that keeps `alert` quiet, if one does.
    fn silence_for(&self, alert: &NormalizedAlert) -> Option<&'a Silence> {
        let now = self.now;
        self.silences.iter().find(|s| s.silences(alert, now))
    }

    /// Turns the working state into the plan's rows.
    fn finish(mut self) -> Plan {
        let mut suppressed: Vec<(Uuid, i64)> = self.suppressed.drain().collect();
        suppressed.sort();
        self.plan.suppressed = suppressed;
        let mut beats: Vec<(Uuid, DateTime<Utc>)> = self.beats.drain().collect();
        beats.sort();
        self.plan.beats = beats;
        for slot in self.alerts {
            match slot.reference {
                AlertRef::New(index) => {
                    let new = &mut self.plan.new_alerts[index];
                    new.row = slot.row;
                    new.occurrence_count = slot.occurrences;
                }
                AlertRef::Stored(id) if slot.changed => self.plan.alert_updates.push(AlertUpdate {
                    id,
                    row: slot.row,
                    added_occurrences: slot.occurrences,
                }),
                AlertRef::Stored(_) => {}
            }
        }
        for incident in self.incidents.into_slots() {
            match incident.new {
                Some(index) => self.plan.new_incidents[index].row = incident.row,
                None if incident.changed => self.plan.incident_updates.push(IncidentUpdate {
                    id: incident.id,
                    row: incident.row,
                }),
                None => {}
            }
        }
        self.plan
    }
}

#[cfg(test)]
mod tests;
