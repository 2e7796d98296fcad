//! The incidents a decision knows: loaded ones and those it opens, as they stand now.

use std::collections::HashMap;

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

/// Every incident of a decision, by id.
pub(super) struct Incidents {
    slots: Vec<IncidentSlot>,
    by_id: HashMap<Uuid, usize>,
}

impl Incidents {
    pub fn new(stored: &[StoredIncident]) -> Self {
        let mut incidents = Self {
            slots: Vec::with_capacity(stored.len()),
            by_id: HashMap::with_capacity(stored.len()),
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
                },
            });
        }
        incidents
    }

    pub fn add(&mut self, slot: IncidentSlot) {
        self.by_id.insert(slot.id, self.slots.len());
        self.slots.push(slot);
    }

    /// The incident, if the decision knows it. Every incident a known alert belongs to was
    /// loaded with it, so `None` means it is gone (deleted since).
    pub fn get_mut(&mut self, id: Uuid) -> Option<&mut IncidentSlot> {
        self.by_id.get(&id).map(|&index| &mut self.slots[index])
    }

    /// All of them, for choosing candidates.
    pub fn iter(&self) -> impl Iterator<Item = &IncidentSlot> {
        self.slots.iter()
    }

    pub fn into_slots(self) -> Vec<IncidentSlot> {
        self.slots
    }
}
