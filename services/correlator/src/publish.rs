//! After the commit: `incidents.created` for every incident opened, then `incidents.<change>`
//! for every published timeline event, each with a `Nats-Msg-Id` derived from its row; sent
//! at once and awaited together, but one incident's changes in their order. A redelivered
//! delivery republishes what it recorded the first time; JetStream drops the duplicates.

use std::collections::HashMap;

use aurora_bus::{Bus, HandlerError, IncidentSubject};
use aurora_correlation::{Arrival, Plan};
use aurora_db::correlation::Written;
use aurora_db::{DbPool, events, incidents, time};
use aurora_domain::{IncidentChange, IncidentChanged, IncidentCreated, UserId};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use tracing::Instrument;
use uuid::Uuid;

use crate::process::{DeliveryOutcome, classify};

/// What a committed transaction publishes.
#[derive(Debug, Default)]
pub(crate) struct Publication {
    created: Vec<IncidentCreated>,
    changes: Vec<IncidentChanged>,
    /// The arrival (by index) whose delivery caused each message, by incident (created) and
    /// by event id (changes): its publish continues that delivery's trace.
    created_by: HashMap<Uuid, usize>,
    changed_by: HashMap<i64, usize>,
    /// Incidents opened by redelivered deliveries, read back to publish again.
    reopened_created: Vec<Uuid>,
    /// Events recorded by redelivered deliveries, read back to publish again.
    recorded_changes: Vec<i64>,
}

/// The events of a written plan.
pub(crate) fn of_plan(
    user: &UserId,
    arrivals: &[Arrival<'_>],
    plan: &Plan,
    written: &Written,
    now: DateTime<Utc>,
) -> Publication {
    let created = plan
        .new_incidents
        .iter()
        .map(|incident| {
            let batch = arrivals[incident.arrival].batch;
            IncidentCreated {
                incident_id: incident.id,
                user_id: user.clone(),
                source_alert_id: written.alert_id(incident.opened_by),
                source_type: batch.alerts[incident.alert_index].source_type,
                created_at: incident.created_at,
            }
        })
        .collect();
    let created_by = plan
        .new_incidents
        .iter()
        .map(|incident| (incident.id, incident.arrival))
        .collect();
    let changed_by = plan
        .processed
        .iter()
        .flat_map(|processed| {
            processed
                .events
                .iter()
                .map(|&event| (written.event_ids[event], processed.arrival))
        })
        .collect();
    let changes = plan
        .events
        .iter()
        .zip(&written.event_ids)
        .filter_map(|(event, &event_id)| {
            Some(IncidentChanged {
                change: event.detail.published_change()?,
                incident_id: event.incident_id,
                user_id: user.clone(),
                event_id,
                occurred_at: now,
            })
        })
        .collect();
    Publication {
        created,
        changes,
        created_by,
        changed_by,
        ..Publication::default()
    }
}

impl Publication {
    /// Adds what redelivered deliveries recorded the first time.
    pub(crate) fn with_redelivered(mut self, outcomes: &[DeliveryOutcome]) -> Self {
        for outcome in outcomes.iter().filter(|o| o.already_processed) {
            self.reopened_created
                .extend(outcome.opened_incidents.iter().copied());
            self.recorded_changes
                .extend(outcome.changes.iter().copied());
        }
        self
    }
}

/// Publishes everything, created incidents first; answers once JetStream has it all. Each
/// message caused by one of the arrivals whose trace contexts `traces` holds (by arrival
/// index) continues that trace: one trace from the webhook to the analysis.
pub(crate) async fn publish(
    bus: &Bus,
    pool: &DbPool,
    user: &UserId,
    publication: &Publication,
    traces: &[opentelemetry::Context],
) -> Result<(), HandlerError> {
    let span_for = |name: &'static str, incident: Uuid, arrival: Option<&usize>| {
        let span = tracing::info_span!("correlator.publish", message = name, %incident);
        if let Some(context) = arrival.and_then(|&arrival| traces.get(arrival)) {
            aurora_bus::trace::continue_context(context, &span);
        }
        span
    };
    let mut created = publication.created.clone();
    let mut changes = publication.changes.clone();
    if !publication.reopened_created.is_empty() || !publication.recorded_changes.is_empty() {
        let (again_created, again_changes) = read_back(pool, user, publication).await?;
        created.extend(again_created);
        changes.extend(again_changes);
    }
    let subject = bus.topology().incident_subject(IncidentSubject::Created);
    try_join_all(created.iter().map(|event| {
        let span = span_for(
            "incidents.created",
            event.incident_id,
            publication.created_by.get(&event.incident_id),
        );
        async {
            bus.publish(subject.clone(), &event.message_id(), event)
                .await
        }
        .instrument(span)
    }))
    .await
    .map_err(|err| HandlerError::Transient(err.to_string()))?;
    // One incident's changes go out in the order they happened (a `correlated` before the
    // `resolved` it led to); different incidents' at once.
    let mut by_incident: HashMap<Uuid, Vec<&IncidentChanged>> = HashMap::new();
    for change in &changes {
        by_incident
            .entry(change.incident_id)
            .or_default()
            .push(change);
    }
    try_join_all(by_incident.into_values().map(|mut changes| async move {
        changes.sort_by_key(|change| change.event_id);
        for change in changes {
            let span = span_for(
                "incident change",
                change.incident_id,
                publication.changed_by.get(&change.event_id),
            );
            bus.publish_incident_change(change).instrument(span).await?;
        }
        Ok::<_, aurora_bus::BusError>(())
    }))
    .await
    .map_err(|err| HandlerError::Transient(err.to_string()))?;
    Ok(())
}

/// The messages of what redelivered deliveries recorded, from their rows.
async fn read_back(
    pool: &DbPool,
    user: &UserId,
    publication: &Publication,
) -> Result<(Vec<IncidentCreated>, Vec<IncidentChanged>), HandlerError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|err| HandlerError::Transient(err.to_string()))?;
    let mut created = Vec::new();
    for &incident_id in &publication.reopened_created {
        let incident = incidents::get(&mut conn, incident_id)
            .await
            .map_err(classify)?;
        created.push(IncidentCreated {
            incident_id,
            user_id: user.clone(),
            source_alert_id: incident.source_alert_id,
            source_type: incident.source_type.parse().map_err(
                |err: aurora_domain::ParseEnumError| HandlerError::Poison(err.to_string()),
            )?,
            created_at: time::to_utc(incident.created_at.unwrap_or_else(time::now)),
        });
    }
    let changes = events::by_ids(&mut conn, &publication.recorded_changes)
        .await
        .map_err(classify)?
        .into_iter()
        .filter_map(|event| {
            Some(IncidentChanged {
                change: IncidentChange::of_event_kind(&event.kind)?,
                incident_id: event.incident_id,
                user_id: user.clone(),
                event_id: event.id,
                occurred_at: time::to_utc(event.created_at),
            })
        })
        .collect();
    Ok((created, changes))
}
