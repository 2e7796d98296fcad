//! Replaying correlation rules: a user's recorded alerts run again through [`decide`], in the
//! order they arrived, with proposed rules and nothing written — an in-memory store stands in
//! for PostgreSQL — and the incidents they would have made compared with those they made.
//! Teams tune weights, thresholds and dependencies against their own history before they
//! deploy them.

use std::collections::{BTreeMap, HashMap, HashSet};

use aurora_domain::{AlertBatch, AlertStatus, AuroraStatus, NormalizedAlert, SourceType, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::plan::AlertRef;
use crate::{
    Arrival, Plan, Receipt, Rules, Silence, State, StoredAlert, StoredDeployment, StoredIncident,
    decide,
};

/// An alert as recorded: what it was, when it came and went, and where it ended up.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its row id.
    pub id: i32,
    /// The alert as first received: firing, or resolved for an alert never seen open.
    pub alert: NormalizedAlert,
    /// When Aurora first received it.
    pub received_at: DateTime<Utc>,
    /// When its resolve arrived, if it did.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The incident it belongs to now, if any.
    pub incident_id: Option<Uuid>,
}

/// An incident as recorded or replayed, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentRef {
    /// Its id (a replayed one's exists only in the replay).
    pub id: Uuid,
    /// The title of the alert that opened it.
    pub title: String,
}

/// Incidents that would be one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merge {
    /// The recorded incidents whose alerts would share one incident.
    pub incidents: Vec<IncidentRef>,
    /// How many alerts that incident would hold.
    pub alerts: usize,
}

/// An incident that would be several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    /// The recorded incident.
    pub incident: IncidentRef,
    /// How many incidents its alerts would be in (an alert in none counts as one of its own).
    pub into: usize,
}

/// An alert that would be in another incident than it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moved {
    /// Its row id.
    pub alert_id: i32,
    /// Its title.
    pub title: String,
    /// The recorded incident it was in, if any.
    pub from: Option<IncidentRef>,
    /// The recorded incident whose alerts it would join (the one most of its replayed
    /// incident's alerts were in), if any; none for an incident of its own.
    pub to: Option<IncidentRef>,
}

/// What the proposed rules would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Alerts replayed.
    pub alerts: usize,
    /// Incidents they were in.
    pub incidents_before: usize,
    /// Incidents they would be in.
    pub incidents_after: usize,
    /// Alerts per incident, recorded; `None` with no incident.
    pub compression_before: Option<f64>,
    /// Alerts per incident, replayed.
    pub compression_after: Option<f64>,
    /// Recorded incidents that would be one.
    pub merges: Vec<Merge>,
    /// Recorded incidents that would be several.
    pub splits: Vec<Split>,
    /// Alerts that would be elsewhere.
    pub moved: Vec<Moved>,
}

/// What a replay reads besides the alerts.
pub struct History<'a> {
    /// The user.
    pub user: &'a UserId,
    /// Their alerts, in any order.
    pub alerts: &'a [Recorded],
    /// Titles of the recorded incidents, by id.
    pub incident_titles: &'a HashMap<Uuid, String>,
    /// Their silences: what was kept quiet stays quiet.
    pub silences: &'a [Silence],
    /// Their deployments over the period and before it.
    pub deployments: &'a [StoredDeployment],
    /// The end of the period (now): silences that ended by then release what they kept.
    pub until: DateTime<Utc>,
}

/// Replays `history` with `rules` and compares the incidents with those recorded.
pub fn replay(rules: &Rules, history: &History<'_>) -> Report {
    let replayed = Store::replay(rules, history);
    compare(history, &replayed)
}

/// One step of the replay: an alert firing, or resolving.
struct Step<'a> {
    at: DateTime<Utc>,
    recorded: &'a Recorded,
    status: AlertStatus,
}

/// The in-memory stand-in for the tables the decision reads and writes.
#[derive(Default)]
struct Store {
    /// Alert rows by id.
    alerts: HashMap<i32, StoredAlert>,
    /// The row standing for each key (the open one, else the last).
    by_key: HashMap<(SourceType, String), i32>,
    incidents: HashMap<Uuid, StoredIncident>,
    next_alert_id: i32,
    /// Recorded alert id → the replayed row its firing went to.
    rows: HashMap<i32, i32>,
}

impl Store {
    fn replay(rules: &Rules, history: &History<'_>) -> HashMap<i32, Option<Uuid>> {
        let mut steps: Vec<Step<'_>> = Vec::new();
        for recorded in history.alerts {
            // Its first notification: a firing, or a resolve of an alert never seen open.
            steps.push(Step {
                at: recorded.received_at,
                recorded,
                status: recorded.alert.status,
            });
            if recorded.alert.status == AlertStatus::Resolved {
                continue;
            }
            if let Some(at) = recorded.resolved_at {
                steps.push(Step {
                    at,
                    recorded,
                    status: AlertStatus::Resolved,
                });
            }
        }
        steps.sort_by_key(|step| {
            (
                step.at,
                step.recorded.id,
                step.status == AlertStatus::Resolved,
            )
        });
        let longest_window = rules
            .settings
            .sources
            .values()
            .filter_map(|o| o.window_secs)
            .chain([rules.settings.window_secs])
            .max()
            .unwrap_or(rules.settings.window_secs);
        let mut store = Store::default();
        let mut silences: Vec<&Silence> = history
            .silences
            .iter()
            .filter(|s| s.on_expiry == crate::OnExpiry::Open)
            .collect();
        silences.sort_by_key(|s| s.ends_at);
        let mut ended = silences.into_iter().peekable();
        for (sequence, step) in steps.iter().enumerate() {
            // Silences that ended before this step release what they kept quiet, as the
            // correlators' sweep does.
            while let Some(silence) = ended.next_if(|s| s.ends_at <= step.at) {
                store.release(rules, history, silence, longest_window);
            }
            let mut alert = step.recorded.alert.clone();
            alert.status = step.status;
            let batch = AlertBatch {
                delivery_id: format!("replay:{sequence}"),
                user_id: history.user.clone(),
                integration_id: Uuid::nil(),
                source_type: alert.source_type,
                received_at: step.at,
                alerts: vec![alert],
                deployment: None,
                raw_payload: serde_json::value::to_raw_value(&serde_json::json!({})).expect("JSON"),
            };
            let arrival = [Arrival {
                receipt: Receipt {
                    epoch: 0,
                    sequence: sequence as i64 + 1,
                },
                batch: &batch,
            }];
            let since = step.at - TimeDelta::seconds(longest_window as i64);
            let state = store.state(&batch.alerts[0], since, step.at, history);
            let plan = decide(rules, &state, &arrival, step.at);
            store.apply(&plan, &batch, Some(step.recorded.id));
        }
        for silence in ended.take_while(|s| s.ends_at <= history.until) {
            store.release(rules, history, silence, longest_window);
        }
        history
            .alerts
            .iter()
            .map(|recorded| {
                let incident = store
                    .rows
                    .get(&recorded.id)
                    .and_then(|row| store.alerts.get(row))
                    .and_then(|row| row.incident_id);
                (recorded.id, incident)
            })
            .collect()
    }

    /// Decides what `silence` kept quiet and still fires again, at its end.
    fn release(
        &mut self,
        rules: &Rules,
        history: &History<'_>,
        silence: &Silence,
        longest_window: u64,
    ) {
        let recorded_of: HashMap<i32, i32> = self
            .rows
            .iter()
            .map(|(recorded, row)| (*row, *recorded))
            .collect();
        let by_id: HashMap<i32, &Recorded> = history.alerts.iter().map(|r| (r.id, r)).collect();
        let mut rows: Vec<&StoredAlert> = self
            .alerts
            .values()
            .filter(|row| {
                row.suppressed_by == Some(silence.id)
                    && row.status == AlertStatus::Firing
                    && row.incident_id.is_none()
            })
            .collect();
        // In row order, as the correlators release them.
        rows.sort_by_key(|row| row.id);
        let quiet: Vec<NormalizedAlert> = rows
            .into_iter()
            .filter_map(|row| recorded_of.get(&row.id).and_then(|id| by_id.get(id)))
            .map(|recorded| recorded.alert.clone())
            .collect();
        if quiet.is_empty() {
            return;
        }
        let at = silence.ends_at;
        let batch = AlertBatch {
            delivery_id: format!("replay-release:{}", silence.id),
            user_id: history.user.clone(),
            integration_id: Uuid::nil(),
            source_type: quiet[0].source_type,
            received_at: at,
            alerts: quiet,
            deployment: None,
            raw_payload: serde_json::value::to_raw_value(&serde_json::json!({})).expect("JSON"),
        };
        let arrival = [Arrival {
            receipt: Receipt::default(),
            batch: &batch,
        }];
        let since = at - TimeDelta::seconds(longest_window as i64);
        let mut state = self.state(&batch.alerts[0], since, at, history);
        state.alerts = batch
            .alerts
            .iter()
            .filter_map(|alert| {
                let key = (alert.source_type, alert.fingerprint.as_str().to_owned());
                self.by_key
                    .get(&key)
                    .and_then(|id| self.alerts.get(id))
                    .cloned()
            })
            .collect();
        let plan = crate::release(rules, &state, &arrival, at);
        self.apply(&plan, &batch, None);
    }

    /// What the decision would load for `alert` at `now`: its key's row, that row's incident,
    /// the open incidents updated since `since`, the deployments so far, the silences.
    fn state(
        &self,
        alert: &NormalizedAlert,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        history: &History<'_>,
    ) -> State {
        let key = (alert.source_type, alert.fingerprint.as_str().to_owned());
        let row = self.by_key.get(&key).and_then(|id| self.alerts.get(id));
        let own = row.and_then(|row| row.incident_id);
        State {
            alerts: row.cloned().into_iter().collect(),
            incidents: self
                .incidents
                .values()
                .filter(|i| {
                    Some(i.id) == own
                        || (matches!(
                            i.status,
                            aurora_domain::IncidentStatus::Investigating
                                | aurora_domain::IncidentStatus::Analyzed
                        ) && i.updated_at >= since)
                })
                .cloned()
                .collect(),
            deployments: history
                .deployments
                .iter()
                .filter(|d| d.deployed_at <= now)
                .cloned()
                .collect(),
            silences: history.silences.to_vec(),
            ..State::default()
        }
    }

    /// Writes `plan` (decided for `batch`: one notification of alert `recorded`, or a
    /// silence's release) into the store.
    fn apply(&mut self, plan: &Plan, batch: &AlertBatch, recorded: Option<i32>) {
        let mut new_ids = Vec::with_capacity(plan.new_alerts.len());
        for new in &plan.new_alerts {
            self.next_alert_id += 1;
            let id = self.next_alert_id;
            new_ids.push(id);
            let alert = &batch.alerts[new.alert_index];
            let key = (alert.source_type, alert.fingerprint.as_str().to_owned());
            self.by_key.insert(key, id);
            self.alerts.insert(
                id,
                StoredAlert {
                    id,
                    source_type: alert.source_type,
                    fingerprint: alert.fingerprint.as_str().to_owned(),
                    status: new.row.status,
                    severity: new.row.severity,
                    incident_id: new.row.incident_id,
                    resolved_at: new.row.resolved_at,
                    last_seen_at: new.row.last_seen_at,
                    receipt: new.row.receipt,
                    suppressed_by: new.row.suppressed_by,
                },
            );
        }
        for update in &plan.alert_updates {
            if let Some(row) = self.alerts.get_mut(&update.id) {
                row.status = update.row.status;
                row.incident_id = update.row.incident_id;
                row.resolved_at = update.row.resolved_at;
                row.last_seen_at = update.row.last_seen_at;
                row.receipt = update.row.receipt;
                row.suppressed_by = update.row.suppressed_by;
                row.severity = update.row.severity;
            }
        }
        for new in &plan.new_incidents {
            let alert = &batch.alerts[new.alert_index];
            self.incidents.insert(
                new.id,
                StoredIncident {
                    id: new.id,
                    status: new.row.status,
                    aurora_status: Some(AuroraStatus::Idle),
                    environment: alert.environment.clone(),
                    title: alert.title.clone(),
                    affected_services: new.row.affected_services.clone(),
                    correlated_alert_count: new.row.correlated_alert_count,
                    firing_alerts: new.row.firing_alerts,
                    severity: new.row.severity,
                    firing_by_severity: new.row.firing_by_severity,
                    created_at: new.created_at,
                    updated_at: new.row.updated_at,
                    resolved_at: new.row.resolved_at,
                },
            );
        }
        for update in &plan.incident_updates {
            if let Some(incident) = self.incidents.get_mut(&update.id) {
                let row = &update.row;
                incident.status = row.status;
                incident.resolved_at = row.resolved_at;
                incident.updated_at = row.updated_at;
                incident.correlated_alert_count = row.correlated_alert_count;
                incident.firing_alerts = row.firing_alerts;
                incident.affected_services = row.affected_services.clone();
                incident.severity = row.severity;
                incident.firing_by_severity = row.firing_by_severity;
            }
        }
        if let (Some(recorded), Some(processed)) = (recorded, plan.processed.first()) {
            let row = match processed.alert {
                AlertRef::Stored(id) => id,
                AlertRef::New(index) => new_ids[index],
            };
            // The firing's row is the alert's; a resolve keeps pointing at it.
            self.rows.entry(recorded).or_insert(row);
        }
    }
}

/// The group most `(group, alert id)` pairs fall in (ties: the one with the earliest alert);
/// `None` when most are in none.
fn most(members: impl Iterator<Item = (Option<Uuid>, i32)>) -> Option<Uuid> {
    let mut tally: HashMap<Option<Uuid>, (usize, i32)> = HashMap::new();
    for (group, id) in members {
        let entry = tally.entry(group).or_insert((0, i32::MAX));
        entry.0 += 1;
        entry.1 = entry.1.min(id);
    }
    tally
        .into_iter()
        .max_by_key(|(_, (count, first))| (*count, std::cmp::Reverse(*first)))
        .and_then(|(group, _)| group)
}

/// The proposed grouping against the recorded one.
fn compare(history: &History<'_>, replayed: &HashMap<i32, Option<Uuid>>) -> Report {
    let name = |id: Uuid| IncidentRef {
        id,
        title: history
            .incident_titles
            .get(&id)
            .cloned()
            .unwrap_or_default(),
    };
    // Recorded incidents of each replayed incident's alerts, and the reverse.
    let mut into_replayed: BTreeMap<Uuid, Vec<&Recorded>> = BTreeMap::new();
    let mut into_recorded: BTreeMap<Uuid, Vec<(&Recorded, Option<Uuid>)>> = BTreeMap::new();
    for recorded in history.alerts {
        let after = replayed.get(&recorded.id).copied().flatten();
        if let Some(after) = after {
            into_replayed.entry(after).or_default().push(recorded);
        }
        if let Some(before) = recorded.incident_id {
            into_recorded
                .entry(before)
                .or_default()
                .push((recorded, after));
        }
    }
    // Each recorded incident continues as the replayed incident holding most of its alerts,
    // and each replayed incident continues the recorded one most of its alerts were in (ties:
    // the one with the earliest alert).
    let main_replayed: HashMap<Uuid, Option<Uuid>> = into_recorded
        .iter()
        .map(|(before, alerts)| {
            (
                *before,
                most(alerts.iter().map(|(a, after)| (*after, a.id))),
            )
        })
        .collect();
    let main_recorded: HashMap<Uuid, Option<Uuid>> = into_replayed
        .iter()
        .map(|(after, alerts)| (*after, most(alerts.iter().map(|a| (a.incident_id, a.id)))))
        .collect();
    let merges = into_replayed
        .values()
        .filter_map(|alerts| {
            let before: HashSet<Uuid> = alerts.iter().filter_map(|a| a.incident_id).collect();
            (before.len() > 1).then(|| {
                let mut incidents: Vec<IncidentRef> = before.into_iter().map(name).collect();
                incidents.sort_by(|a, b| a.title.cmp(&b.title).then(a.id.cmp(&b.id)));
                Merge {
                    incidents,
                    alerts: alerts.len(),
                }
            })
        })
        .collect();
    let splits = into_recorded
        .iter()
        .filter_map(|(before, alerts)| {
            let mut groups: HashSet<Option<Uuid>> = HashSet::new();
            let mut alone = 0;
            for (_, after) in alerts {
                match after {
                    Some(after) => {
                        groups.insert(Some(*after));
                    }
                    None => alone += 1,
                }
            }
            let into = groups.len() + alone;
            (into > 1).then(|| Split {
                incident: name(*before),
                into,
            })
        })
        .collect();
    let mut moved: Vec<Moved> = history
        .alerts
        .iter()
        .filter_map(|recorded| {
            let after = replayed.get(&recorded.id).copied().flatten();
            let before = recorded.incident_id;
            let stays = before.and_then(|b| main_replayed.get(&b).copied().flatten()) == after
                && after.and_then(|a| main_recorded.get(&a).copied().flatten()) == before;
            // Where it goes: the recorded incident its new one continues, if that one
            // continues as it; else an incident of its own.
            let to = after
                .and_then(|a| main_recorded.get(&a).copied().flatten())
                .filter(|to| main_replayed.get(to).copied().flatten() == after);
            (!stays).then(|| Moved {
                alert_id: recorded.id,
                title: recorded.alert.title.clone(),
                from: recorded.incident_id.map(name),
                to: to.map(name),
            })
        })
        .collect();
    moved.sort_by_key(|m| m.alert_id);
    let alerts = history.alerts.len();
    let incidents_before = into_recorded.len();
    let incidents_after = into_replayed.len();
    let ratio = |incidents: usize| (incidents > 0).then(|| alerts as f64 / incidents as f64);
    Report {
        alerts,
        incidents_before,
        incidents_after,
        compression_before: ratio(incidents_before),
        compression_after: ratio(incidents_after),
        merges,
        splits,
        moved,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap as Map;

    use aurora_domain::{Fingerprint, Severity};

    use super::*;

    fn rules(threshold: f64) -> Rules {
        let mut settings = aurora_settings::Settings::load_from(None, Some(Map::new()))
            .expect("defaults are valid")
            .correlation;
        settings.threshold = threshold;
        Rules::new(settings)
    }

    fn recorded(id: i32, service: &str, minute: i64, incident: Uuid) -> Recorded {
        let at = DateTime::from_timestamp(1_764_230_400 + minute * 60, 0).unwrap();
        Recorded {
            id,
            alert: NormalizedAlert {
                source_type: SourceType::Alertmanager,
                fingerprint: Fingerprint::parse(format!("f{id}")).unwrap(),
                status: AlertStatus::Firing,
                severity: Severity::High,
                title: format!("{service} 5xx error rate high"),
                service: Some(service.to_owned()),
                environment: Some("production".to_owned()),
                started_at: at,
                labels: Default::default(),
                url: None,
                description: None,
                runbook_url: None,
            },
            received_at: at,
            resolved_at: None,
            incident_id: Some(incident),
        }
    }

    #[test]
    fn the_recorded_rules_change_nothing_and_a_lower_threshold_merges() {
        let (checkout, payments) = (Uuid::new_v4(), Uuid::new_v4());
        let alerts = [
            recorded(1, "checkout", 0, checkout),
            recorded(2, "checkout", 1, checkout),
            recorded(3, "payments", 1, payments),
            recorded(4, "payments", 2, payments),
        ];
        let titles: Map<Uuid, String> = [
            (checkout, "checkout 5xx error rate high".to_owned()),
            (payments, "payments 5xx error rate high".to_owned()),
        ]
        .into();
        let user = UserId::parse("u1").unwrap();
        let history = History {
            user: &user,
            alerts: &alerts,
            incident_titles: &titles,
            silences: &[],
            deployments: &[],
            until: Utc::now(),
        };
        let same = replay(&rules(0.6), &history);
        assert_eq!((same.incidents_before, same.incidents_after), (2, 2));
        assert!(same.merges.is_empty() && same.splits.is_empty() && same.moved.is_empty());
        assert_eq!(same.compression_before, Some(2.0));

        let lower = replay(&rules(0.3), &history);
        assert_eq!(lower.incidents_after, 1, "{lower:?}");
        assert_eq!(lower.merges.len(), 1);
        assert_eq!(
            lower.merges[0]
                .incidents
                .iter()
                .map(|i| i.id)
                .collect::<HashSet<_>>(),
            [checkout, payments].into()
        );
        assert_eq!(lower.compression_after, Some(4.0));
        assert_eq!(
            lower.moved.len(),
            2,
            "payments' alerts join checkout's: {lower:?}"
        );
        assert!(
            lower
                .moved
                .iter()
                .all(|m| m.to.as_ref().map(|t| t.id) == Some(checkout)
                    && m.from.as_ref().map(|f| f.id) == Some(payments))
        );
    }

    #[test]
    fn what_a_silence_kept_quiet_is_released_when_it_ends_as_it_was() {
        let checkout = Uuid::new_v4();
        // Silenced from minute 0 to 5; the alert fired at minute 1 and opened its incident
        // when the silence ended.
        let alerts = [recorded(1, "checkout", 1, checkout)];
        let silence = Silence {
            id: Uuid::new_v4(),
            matchers: vec!["service=checkout".parse().unwrap()],
            starts_at: DateTime::from_timestamp(1_764_230_400, 0).unwrap(),
            ends_at: DateTime::from_timestamp(1_764_230_400 + 300, 0).unwrap(),
            on_expiry: crate::OnExpiry::Open,
        };
        let titles: Map<Uuid, String> = [(checkout, "checkout".to_owned())].into();
        let user = UserId::parse("u1").unwrap();
        let history = History {
            user: &user,
            alerts: &alerts,
            incident_titles: &titles,
            silences: std::slice::from_ref(&silence),
            deployments: &[],
            until: Utc::now(),
        };
        let report = replay(&rules(0.6), &history);
        assert_eq!(
            (report.incidents_before, report.incidents_after),
            (1, 1),
            "{report:?}"
        );
        assert!(report.moved.is_empty());
        // Without the release it would have stayed quiet, in no incident.
        let dropped = Silence {
            on_expiry: crate::OnExpiry::Drop,
            ..silence.clone()
        };
        let history = History {
            silences: std::slice::from_ref(&dropped),
            ..history
        };
        assert_eq!(replay(&rules(0.6), &history).incidents_after, 0);
    }

    #[test]
    fn a_stricter_threshold_splits() {
        let checkout = Uuid::new_v4();
        let alerts = [
            recorded(1, "checkout", 0, checkout),
            recorded(2, "checkout", 20, checkout),
        ];
        let titles: Map<Uuid, String> = [(checkout, "checkout".to_owned())].into();
        let user = UserId::parse("u1").unwrap();
        let history = History {
            user: &user,
            alerts: &alerts,
            incident_titles: &titles,
            silences: &[],
            deployments: &[],
            until: Utc::now(),
        };
        let report = replay(&rules(0.99), &history);
        assert_eq!(report.incidents_after, 2);
        assert_eq!(report.splits.len(), 1);
        assert_eq!(report.splits[0].into, 2);
        assert_eq!(report.moved.len(), 1);
        assert_eq!(report.moved[0].alert_id, 2);
        assert_eq!(report.moved[0].to, None, "an incident of its own");
    }
}
