//! The incidents a decision knows: loaded ones and those it opens, as they stand now, indexed
//! by service and by recency so choosing an alert's candidates does not scan them all.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use aurora_domain::{AuroraStatus, IncidentStatus};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::plan::IncidentRow;
use crate::state::StoredIncident;
use crate::trigrams::Trigrams;

/// One incident as the decision goes.
#[derive(Debug)]
pub(super) struct IncidentSlot {
    pub id: Uuid,
    /// Its index in [`crate::Plan::new_incidents`] when the decision opened it.
    pub new: Option<usize>,
    pub changed: bool,
    pub aurora_status: Option<AuroraStatus>,
    pub environment: Option<String>,
    pub title: String,
    /// The title's trigrams, computed once for every alert scored against it.
    pub trigrams: Trigrams,
    pub created_at: DateTime<Utc>,
    pub row: IncidentRow,
}

impl IncidentSlot {
    /// Open: it takes new alerts.
    pub fn is_open(&self) -> bool {
        matches!(
            self.row.status,
            IncidentStatus::Investigating | IncidentStatus::Analyzed
        )
    }

    /// Moves it to `next` if its status allows; answers whether it moved.
    pub fn transition(&mut self, next: IncidentStatus, now: DateTime<Utc>) -> bool {
        if !self.row.status.can_become(next) {
            return false;
        }
        self.row.resolved_at = match next {
            IncidentStatus::Resolved => Some(now),
            IncidentStatus::Merged => self.row.resolved_at,
            IncidentStatus::Investigating | IncidentStatus::Analyzed => None,
        };
        self.row.status = next;
        self.row.updated_at = now;
        self.changed = true;
        true
    }
}

/// Where an incident stands in the recency index: newest first, then in the order known.
type RecencyKey = (Reverse<DateTime<Utc>>, usize);

/// Every incident of a decision, by id, by affected service and by environment from the most
/// recently updated.
pub(super) struct Incidents {
    slots: Vec<IncidentSlot>,
    by_id: HashMap<Uuid, usize>,
    by_service: HashMap<String, Vec<usize>>,
    by_recency: HashMap<Option<String>, BTreeSet<RecencyKey>>,
    /// Per slot: the `updated_at` and the number of affected services its index entries hold.
    indexed: Vec<(DateTime<Utc>, usize)>,
    /// Slots handed out for change since the indexes were last brought up to date.
    handed_out: Vec<usize>,
}

impl Incidents {
    pub fn new(stored: &[StoredIncident]) -> Self {
        let mut incidents = Self {
            slots: Vec::with_capacity(stored.len()),
            by_id: HashMap::with_capacity(stored.len()),
            by_service: HashMap::new(),
            by_recency: HashMap::new(),
            indexed: Vec::with_capacity(stored.len()),
            handed_out: Vec::new(),
        };
        for incident in stored {
            incidents.add(IncidentSlot {
                id: incident.id,
                new: None,
                changed: false,
                aurora_status: incident.aurora_status,
                environment: incident.environment.clone(),
                title: incident.title.clone(),
                trigrams: Trigrams::of(&incident.title),
                created_at: incident.created_at,
                row: IncidentRow {
                    status: incident.status,
                    resolved_at: incident.resolved_at,
                    updated_at: incident.updated_at,
                    correlated_alert_count: incident.correlated_alert_count,
                    firing_alerts: incident.firing_alerts,
                    affected_services: incident.affected_services.clone(),
                    severity: incident.severity,
                    firing_by_severity: incident.firing_by_severity,
                },
            });
        }
        incidents
    }

    pub fn add(&mut self, slot: IncidentSlot) {
        let index = self.slots.len();
        self.by_id.insert(slot.id, index);
        self.by_recency
            .entry(slot.environment.clone())
            .or_default()
            .insert((Reverse(slot.row.updated_at), index));
        for service in &slot.row.affected_services {
            self.by_service
                .entry(service.clone())
                .or_default()
                .push(index);
        }
        self.indexed
            .push((slot.row.updated_at, slot.row.affected_services.len()));
        self.slots.push(slot);
    }

    /// The incident, if the decision knows it. Every incident a known alert belongs to was
    /// loaded with it, so `None` means it is gone (deleted since). What the caller changes
    /// reaches the indexes at the next [`Incidents::reindex`].
    pub fn get_mut(&mut self, id: Uuid) -> Option<&mut IncidentSlot> {
        let index = *self.by_id.get(&id)?;
        self.handed_out.push(index);
        Some(&mut self.slots[index])
    }

    /// Brings the indexes up to date with the incidents changed since the last call: a new
    /// `updated_at` moves it in the recency order, a new affected service lists it under
    /// that service (services are only ever added).
    pub fn reindex(&mut self) {
        for index in std::mem::take(&mut self.handed_out) {
            let slot = &self.slots[index];
            let (updated_at, services) = &mut self.indexed[index];
            if *updated_at != slot.row.updated_at {
                let recency = self
                    .by_recency
                    .get_mut(&slot.environment)
                    .expect("every slot is indexed under its environment");
                recency.remove(&(Reverse(*updated_at), index));
                recency.insert((Reverse(slot.row.updated_at), index));
                *updated_at = slot.row.updated_at;
            }
            for service in &slot.row.affected_services[*services..] {
                self.by_service
                    .entry(service.clone())
                    .or_default()
                    .push(index);
            }
            *services = slot.row.affected_services.len();
        }
    }

    /// The incidents affecting any of `services`, each once, in the order known. Current as
    /// of the last [`Incidents::reindex`].
    pub fn affecting(&self, services: &[&str]) -> Vec<&IncidentSlot> {
        let mut indexes: Vec<usize> = services
            .iter()
            .filter_map(|service| self.by_service.get(*service))
            .flatten()
            .copied()
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|index| &self.slots[index])
            .collect()
    }

    /// The incidents of `environment`, most recently updated first (in the order known when
    /// equal). Current as of the last [`Incidents::reindex`].
    pub fn newest_in(
        &self,
        environment: &Option<String>,
    ) -> impl Iterator<Item = &IncidentSlot> + '_ {
        self.by_recency
            .get(environment)
            .into_iter()
            .flatten()
            .map(|&(_, index)| &self.slots[index])
    }

    pub fn into_slots(self) -> Vec<IncidentSlot> {
        self.slots
    }
}
