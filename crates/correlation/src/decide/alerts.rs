//! Dedup and lifecycle: repeats and resolves of open alerts, incidents resolving per the
//! policy, flaps reopening them, recurrences, and new alerts joining or opening incidents.

use aurora_domain::{AlertStatus, AuroraStatus, IncidentStatus, NormalizedAlert};
use aurora_settings::ResolvePolicy;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Decision;
use super::incidents::IncidentSlot;
use crate::FiringBySeverity;
use crate::plan::{self, AlertRef, EventDetail, IncidentRow, Link};
use crate::silence::OnExpiry;
use crate::trigrams::Trigrams;

/// What a firing alert that matches nothing open was before.
enum History {
    /// Never seen, or its incident is gone, merged, or still open past the flap window.
    New,
    /// Resolved within the flap window: it fires again in its own incident.
    Flap { slot: usize, incident_id: Uuid },
    /// Resolved longer ago, with its incident closed: a recurrence of that incident.
    Recurrence { earlier: Uuid },
}

impl<'a> Decision<'a> {
    /// A firing of an open alert: counted on the alert (`occurrence_count`, `last_seen_at`),
    /// nothing created. Not on its incident's timeline either: a storm's repeats would bury
    /// what changed.
    pub(super) fn repeat(&mut self, slot: usize, arrival: usize) {
        self.touch(slot, arrival);
        self.alerts[slot].occurrences += 1;
    }

    /// The resolve of an open alert by `arrival`; its incident follows the resolve policy.
    /// Answers the published events (the incident's `resolved`).
    pub(super) fn resolve(&mut self, slot: usize, arrival: usize) -> Vec<usize> {
        self.touch(slot, arrival);
        let received_at = self.arrivals[arrival].batch.received_at;
        self.resolve_at(slot, received_at, |alert, fingerprint| {
            EventDetail::AlertResolved { alert, fingerprint }
        })
    }

    /// Resolves the open alert in `slot` at `at`, recording `detail` on its incident, which
    /// then follows the resolve policy. Answers the published events (the incident's
    /// `resolved`).
    pub(super) fn resolve_at(
        &mut self,
        slot: usize,
        at: DateTime<Utc>,
        detail: impl FnOnce(AlertRef, String) -> EventDetail,
    ) -> Vec<usize> {
        let alert = &mut self.alerts[slot];
        alert.changed = true;
        alert.row.status = AlertStatus::Resolved;
        alert.row.resolved_at = Some(at);
        alert.row.last_seen_at = at;
        let (incident_id, reference, severity) =
            (alert.row.incident_id, alert.reference, alert.row.severity);
        self.alert_event(slot, detail);
        let Some(incident_id) = incident_id else {
            return Vec::new();
        };
        let policy = self.rules.settings.resolve_policy;
        let now = self.now;
        let Some(incident) = self.incidents.get_mut(incident_id) else {
            return Vec::new();
        };
        incident.row.firing_alerts -= 1;
        incident.row.firing_by_severity.remove(severity);
        incident.changed = true;
        let mut published: Vec<usize> = self
            .follow_severity(incident_id, reference)
            .into_iter()
            .collect();
        let incident = self
            .incidents
            .get_mut(incident_id)
            .expect("found just above");
        let policy = match policy {
            ResolvePolicy::First => "first",
            ResolvePolicy::All if incident.row.firing_alerts <= 0 => "all",
            ResolvePolicy::All | ResolvePolicy::Never => return published,
        };
        if incident.transition(IncidentStatus::Resolved, now) {
            published.push(self.event(incident_id, EventDetail::Resolved { policy }));
        }
        published
    }

    /// A firing of an alert a silence kept quiet: still quiet while a silence matches it
    /// (counted for that silence); once none does, it joins an incident or opens one, unless
    /// the silence that kept it said `drop`.
    pub(super) fn quiet_firing(
        &mut self,
        slot: usize,
        arrival: usize,
        alert_index: usize,
        alert: &NormalizedAlert,
        processed: &mut plan::Processed,
    ) {
        processed.outcome = plan::Outcome::Suppressed;
        // In no incident: it only takes the severity its notification says.
        self.restate(slot, alert);
        if let Some(silence) = self.silence_for(alert) {
            self.alerts[slot].row.suppressed_by = Some(silence.id);
            *self.suppressed.entry(silence.id).or_default() += 1;
            self.repeat(slot, arrival);
            return;
        }
        if self.dropped_at_expiry(slot) {
            self.repeat(slot, arrival);
            return;
        }
        self.touch(slot, arrival);
        self.place(slot, arrival, alert_index, alert, processed);
    }

    /// Whether the silence that kept the alert in `slot` quiet said its alerts stay quiet
    /// after it ends.
    pub(super) fn dropped_at_expiry(&self, slot: usize) -> bool {
        let kept_by = self.alerts[slot].row.suppressed_by;
        self.silences
            .iter()
            .find(|s| Some(s.id) == kept_by)
            .is_some_and(|s| s.on_expiry == OnExpiry::Drop)
    }

    /// A firing alert with no open row: a flap of its resolved row, or a new row that joins
    /// an incident or opens one — or, while a silence matches it, a new row kept quiet.
    /// `resolved` is the key's resolved row, if it has one.
    pub(super) fn fire(
        &mut self,
        resolved: Option<usize>,
        arrival: usize,
        alert_index: usize,
        alert: &'a NormalizedAlert,
        processed: &mut plan::Processed,
    ) {
        if let Some(silence) = self.silence_for(alert) {
            processed.outcome = plan::Outcome::Suppressed;
            processed.alert = self.insert(arrival, alert_index, alert);
            let slot = self.alerts.len() - 1;
            self.alerts[slot].row.suppressed_by = Some(silence.id);
            *self.suppressed.entry(silence.id).or_default() += 1;
            return;
        }
        let earlier = match self.history(resolved) {
            History::Flap { slot, incident_id } => {
                processed.outcome = plan::Outcome::Refired;
                processed.alert = self.alerts[slot].reference;
                // Resolved, it counted for nothing: it fires again as bad as it now says.
                self.alerts[slot].row.severity = alert.severity;
                processed
                    .events
                    .extend(self.refire(slot, arrival, incident_id));
                processed
                    .events
                    .extend(self.follow_severity(incident_id, processed.alert));
                return;
            }
            History::Recurrence { earlier } => Some(earlier),
            History::New => None,
        };
        processed.alert = self.insert(arrival, alert_index, alert);
        let slot = self.alerts.len() - 1;
        let opened = self.place(slot, arrival, alert_index, alert, processed);
        if let (Some(incident_id), Some(earlier)) = (opened, earlier) {
            self.event(
                incident_id,
                EventDetail::RecurrenceOf {
                    incident_id: earlier,
                },
            );
            self.event(earlier, EventDetail::RecurredAs { incident_id });
        }
    }

    /// Puts the firing alert in `slot`, in no incident yet, where it belongs: into the best
    /// open incident at or above the threshold, else into one it opens. Answers the incident
    /// it opened, if it did.
    pub(super) fn place(
        &mut self,
        slot: usize,
        arrival: usize,
        alert_index: usize,
        alert: &NormalizedAlert,
        processed: &mut plan::Processed,
    ) -> Option<Uuid> {
        self.alerts[slot].changed = true;
        let alert_ref = self.alerts[slot].reference;
        let received_at = self.arrivals[arrival].batch.received_at;
        if let Some(found) = self.best_match(alert, received_at) {
            processed.outcome = plan::Outcome::Correlated;
            self.alerts[slot].row.incident_id = Some(found.incident_id);
            let strongest = found.verdict.strongest;
            let score = found.verdict.combined as f32;
            let now = self.now;
            let incident = self
                .incidents
                .get_mut(found.incident_id)
                .expect("candidates are known incidents");
            incident.row.correlated_alert_count += 1;
            incident.row.firing_alerts += 1;
            incident
                .row
                .firing_by_severity
                .add(self.alerts[slot].row.severity);
            if let Some(service) = &alert.service
                && !incident.row.affected_services.contains(service)
            {
                incident.row.affected_services.push(service.clone());
            }
            incident.row.updated_at = now;
            incident.changed = true;
            let follow_up = follow_up(incident, alert, &strongest.reason);
            self.plan.links.push(Link {
                incident_id: found.incident_id,
                alert: alert_ref,
                strategy: strongest.strategy.as_str(),
                score,
                reason: strongest.reason.clone(),
            });
            processed.events.push(self.event(
                found.incident_id,
                EventDetail::Correlated {
                    alert: alert_ref,
                    strategy: strongest.strategy.as_str(),
                    score,
                    reason: strongest.reason,
                },
            ));
            processed
                .events
                .extend(self.follow_severity(found.incident_id, alert_ref));
            self.plan.thoughts.extend(follow_up);
            return None;
        }
        let incident_id = self.open(slot, arrival, alert_index, alert);
        processed.outcome = plan::Outcome::Opened;
        processed.opened_incident = Some(incident_id);
        Some(incident_id)
    }

    /// What the key's resolved row (if any) makes of a new firing.
    fn history(&mut self, resolved: Option<usize>) -> History {
        let Some(slot) = resolved else {
            return History::New;
        };
        let row = &self.alerts[slot].row;
        let Some(incident_id) = row.incident_id else {
            return History::New;
        };
        let within_flap = row.resolved_at.is_some_and(|at| {
            self.now - at <= TimeDelta::seconds(self.rules.settings.flap_window_secs as i64)
        });
        let Some(incident) = self.incidents.get_mut(incident_id) else {
            return History::New;
        };
        match incident.row.status {
            IncidentStatus::Merged => History::New,
            _ if within_flap => History::Flap { slot, incident_id },
            IncidentStatus::Resolved => History::Recurrence {
                earlier: incident_id,
            },
            _ => History::New,
        }
    }

    /// A flap: the resolved alert fires again, and its incident reopens if it had resolved.
    /// Answers the published event (`reopened`), if it reopened.
    fn refire(&mut self, slot: usize, arrival: usize, incident_id: Uuid) -> Option<usize> {
        let now = self.now;
        self.touch(slot, arrival);
        let alert = &mut self.alerts[slot];
        alert.occurrences += 1;
        alert.row.status = AlertStatus::Firing;
        alert.row.resolved_at = None;
        alert.row.last_seen_at = now;
        let severity = alert.row.severity;
        let incident = self
            .incidents
            .get_mut(incident_id)
            .expect("history found the incident");
        incident.row.firing_alerts += 1;
        incident.row.firing_by_severity.add(severity);
        incident.changed = true;
        let reopened = incident.transition(IncidentStatus::Investigating, now);
        let reference = self.alerts[slot].reference;
        let fingerprint = self.alerts[slot].fingerprint.to_owned();
        if reopened {
            Some(self.event(
                incident_id,
                EventDetail::Reopened {
                    alert: reference,
                    fingerprint,
                },
            ))
        } else {
            self.event(
                incident_id,
                EventDetail::AlertRefired {
                    alert: reference,
                    fingerprint,
                },
            );
            None
        }
    }

    /// Opens an incident for the new alert in `slot`: `investigating`, analysis `idle`,
    /// started when the alert started, with the alert linked as primary and a `created` event.
    fn open(
        &mut self,
        slot: usize,
        arrival: usize,
        alert_index: usize,
        alert: &NormalizedAlert,
    ) -> Uuid {
        let id = Uuid::new_v4();
        let now = self.now;
        let reference = self.alerts[slot].reference;
        let severity = self.alerts[slot].row.severity;
        self.alerts[slot].row.incident_id = Some(id);
        let row = IncidentRow {
            status: IncidentStatus::Investigating,
            resolved_at: None,
            updated_at: now,
            correlated_alert_count: 0,
            firing_alerts: 1,
            affected_services: alert.service.iter().cloned().collect(),
            severity,
            firing_by_severity: {
                let mut firing = FiringBySeverity::default();
                firing.add(severity);
                firing
            },
        };
        self.plan.new_incidents.push(plan::NewIncident {
            id,
            opened_by: reference,
            arrival,
            alert_index,
            created_at: now,
            row: row.clone(),
        });
        self.incidents.add(IncidentSlot {
            id,
            new: Some(self.plan.new_incidents.len() - 1),
            changed: true,
            aurora_status: Some(AuroraStatus::Idle),
            environment: alert.environment.clone(),
            title: alert.title.clone(),
            trigrams: Trigrams::of(&alert.title),
            created_at: now,
            row,
        });
        self.plan.links.push(Link {
            incident_id: id,
            alert: reference,
            strategy: "primary",
            score: 1.0,
            reason: "opened this incident".to_owned(),
        });
        self.event(
            id,
            EventDetail::Created {
                alert: reference,
                source_type: alert.source_type.as_str().to_owned(),
                title: alert.title.clone(),
            },
        );
        id
    }

    /// Records an event about the alert in `slot` on its incident's timeline, if it has one.
    fn alert_event(&mut self, slot: usize, detail: impl FnOnce(AlertRef, String) -> EventDetail) {
        if let Some(incident_id) = self.alerts[slot].row.incident_id {
            let slot = &self.alerts[slot];
            let detail = detail(slot.reference, slot.fingerprint.to_owned());
            self.event(incident_id, detail);
        }
    }
}

/// A follow-up thought for an alert joining an incident whose analysis already ran, so the
/// people reading the summary know it does not account for it, or is running, which reads it
/// before it concludes.
fn follow_up(
    incident: &IncidentSlot,
    alert: &NormalizedAlert,
    reason: &str,
) -> Option<plan::Thought> {
    let (when, effect) = match incident.aurora_status {
        Some(AuroraStatus::Complete) => {
            ("after the analysis", "the summary does not account for it")
        }
        Some(AuroraStatus::Running) => (
            "while the analysis ran",
            "the analysis reads it unless it had already concluded",
        ),
        _ => return None,
    };
    Some(plan::Thought {
        incident_id: incident.id,
        kind: "follow_up",
        content: format!(
            "Follow-up: \"{}\" from {} correlated {when} ({reason}); {effect}.",
            alert.title,
            alert.source_type.display_name()
        ),
    })
}
