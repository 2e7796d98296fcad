//! One user's deliveries: decided and stored in one transaction, events published after the
//! commit, acks last (by the consumer).
//!
//! The transaction holds the user's lock, loads what the deliveries need in a few set-based
//! queries, lets [`aurora_correlation::decide`] decide every alert in receipt order, and writes
//! the plan with one multi-row statement per kind of row. A crash anywhere is safe. Before the
//! commit nothing happened and the redelivery starts over. After the commit each delivery is
//! recorded in `alert_deliveries` with the incident events it caused, so its redelivery finds
//! its work done and only republishes them; JetStream drops the duplicates by their
//! `Nats-Msg-Id`.

use std::sync::Arc;

use aurora_bus::{Bus, HandlerError};
use aurora_correlation::{Arrival, Needs, Plan, Receipt, Rules};
use aurora_db::correlation::{self, Written};
use aurora_db::{AsyncConnection, DbPool, QueryError, events, time};
use aurora_domain::{AlertBatch, SourceType, UserId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::metrics::CorrelationMetrics;
use crate::publish::{self, Publication};

/// What processing a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// True when the delivery had been processed before (a redelivery).
    pub already_processed: bool,
    /// The incidents its alerts opened.
    pub opened_incidents: Vec<Uuid>,
    /// The incident events it published (correlated, resolved, reopened …).
    pub changes: Vec<i64>,
    /// The alert row each of its alerts was stored in or counted against, in order.
    pub alerts: Vec<i32>,
}

/// Stores deliveries, correlates alerts, and opens, resolves and reopens incidents.
#[derive(Clone)]
pub struct Correlator {
    pool: DbPool,
    bus: Bus,
    rules: Arc<Rules>,
    metrics: CorrelationMetrics,
}

/// What one transaction stored, before anything is published.
#[derive(Debug)]
pub struct Stored {
    /// Per arrival, in the order given.
    pub outcomes: Vec<DeliveryOutcome>,
    /// What to publish now that it is committed.
    publication: Publication,
}

impl Correlator {
    /// A correlator over these connections and rules.
    pub fn new(pool: DbPool, bus: Bus, rules: Arc<Rules>) -> Self {
        Self {
            pool,
            bus,
            rules,
            metrics: CorrelationMetrics::new(None),
        }
    }

    /// The same, counting its decisions in `registry`.
    pub fn with_metrics(mut self, registry: &prometheus::Registry) -> Self {
        self.metrics = CorrelationMetrics::new(Some(registry));
        self
    }

    /// The rules it applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Its database pool.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Its bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Processes one user's deliveries and publishes their events; the caller acks after
    /// `Ok`. Answers what each delivery did, in the order given.
    pub async fn handle(
        &self,
        user: &UserId,
        arrivals: &[Arrival<'_>],
    ) -> Result<Vec<DeliveryOutcome>, HandlerError> {
        self.handle_traced(user, arrivals, &[]).await
    }

    /// [`Correlator::handle`], each message published for an arrival continuing the trace of
    /// its delivery (`traces`, by arrival index).
    pub async fn handle_traced(
        &self,
        user: &UserId,
        arrivals: &[Arrival<'_>],
        traces: &[opentelemetry::Context],
    ) -> Result<Vec<DeliveryOutcome>, HandlerError> {
        let stored = self.store(user, arrivals).await?;
        publish::publish(&self.bus, &self.pool, user, &stored.publication, traces).await?;
        Ok(stored.outcomes)
    }

    /// The database half: every alert of `arrivals` (all of `user`) decided and stored in one
    /// transaction under the user's lock.
    pub async fn store(
        &self,
        user: &UserId,
        arrivals: &[Arrival<'_>],
    ) -> Result<Stored, HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let needs = Needs::of(&self.rules, arrivals);
        let (loaded, plan, written, now) = conn
            .transaction(async |conn| {
                aurora_db::lock_user(conn, user).await?;
                // After the lock: what another replica committed meanwhile is in the past.
                let now = now();
                let loaded = correlation::load(conn, user, &needs).await?;
                let plan = aurora_correlation::decide(&self.rules, &loaded.state, arrivals, now);
                let written =
                    correlation::write(conn, user, arrivals, &plan, now.naive_utc()).await?;
                Ok::<_, QueryError>((loaded, plan, written, now))
            })
            .await
            .map_err(classify)?;
        self.metrics.record(arrivals, &plan);
        let publication = publish::of_plan(user, arrivals, &plan, &written, now);
        let mut outcomes = outcomes(arrivals.len(), &plan, &written);
        for &index in &plan.already_processed {
            let done = loaded
                .done
                .get(arrivals[index].batch.delivery_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            outcomes[index] = DeliveryOutcome {
                already_processed: true,
                opened_incidents: done.iter().filter_map(|p| p.opened_incident_id).collect(),
                changes: done
                    .iter()
                    .flat_map(|p| p.event_ids.iter().copied())
                    .collect(),
                alerts: done.iter().map(|p| p.alert_id).collect(),
            };
        }
        let publication = publication.with_redelivered(&outcomes);
        Ok(Stored {
            outcomes,
            publication,
        })
    }
}

impl Correlator {
    /// Releases what `silence` (of `user`, ended) kept quiet and still fires, up to `limit`
    /// alerts, and marks the silence released once none is left: read, decided and written in
    /// one transaction under the user's lock, so no batch that silenced an alert before the
    /// end can commit it after the read. Decided like a delivery, but counted as nothing
    /// received. Answers how many alerts it released.
    pub async fn release(
        &self,
        user: &UserId,
        silence: Uuid,
        limit: i64,
    ) -> Result<usize, HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let released = conn
            .transaction(async |conn| {
                aurora_db::lock_user(conn, user).await?;
                let now = self::now();
                let (quiet, rows) = aurora_db::silences::quiet_alerts(conn, silence, limit).await?;
                // Fewer than asked: none is left after these (with 0, none is wanted).
                if limit == 0 || (rows as i64) < limit {
                    aurora_db::silences::mark_released(conn, silence, now.naive_utc()).await?;
                }
                let Some(first) = quiet.first() else {
                    return Ok(None);
                };
                let batch = AlertBatch {
                    delivery_id: format!("silence-release:{silence}"),
                    user_id: user.clone(),
                    integration_id: Uuid::nil(),
                    source_type: first.source_type,
                    received_at: now,
                    alerts: quiet,
                    deployment: None,
                    raw_payload: serde_json::value::to_raw_value(&serde_json::json!({}))
                        .expect("an empty object"),
                };
                let arrivals = [Arrival {
                    receipt: Receipt::default(),
                    batch: &batch,
                }];
                let needs = Needs::of(&self.rules, &arrivals);
                let loaded = correlation::load(conn, user, &needs).await?;
                let plan = aurora_correlation::release(&self.rules, &loaded.state, &arrivals, now);
                let written =
                    correlation::write(conn, user, &arrivals, &plan, now.naive_utc()).await?;
                Ok::<_, QueryError>(Some((batch, plan, written, now)))
            })
            .await
            .map_err(classify)?;
        drop(conn);
        let Some((batch, plan, written, now)) = released else {
            return Ok(0);
        };
        let arrivals = [Arrival {
            receipt: Receipt::default(),
            batch: &batch,
        }];
        self.metrics.record(&arrivals, &plan);
        self.publish_unattached(user, &arrivals, &plan, &written, now)
            .await?;
        Ok(batch.alerts.len())
    }

    /// Publishes what a plan decided outside any delivery (a sweep's) and marks its events
    /// published: no redelivery would.
    async fn publish_unattached(
        &self,
        user: &UserId,
        arrivals: &[Arrival<'_>],
        plan: &Plan,
        written: &Written,
        now: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        let publication = publish::of_plan(user, arrivals, plan, written, now);
        publish::publish(&self.bus, &self.pool, user, &publication, &[]).await?;
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        events::mark_published(&mut conn, &written.event_ids)
            .await
            .map_err(classify)
    }

    /// Resolves `user`'s alerts of `keys` that still fire and were silent since
    /// `silent_since`, in one transaction under the user's lock, and publishes what their
    /// incidents did. Answers how many resolved.
    pub async fn auto_resolve(
        &self,
        user: &UserId,
        keys: Vec<(SourceType, &str)>,
        silent_since: DateTime<Utc>,
        timeout_secs: u64,
    ) -> Result<usize, HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let (plan, written, now) = conn
            .transaction(async |conn| {
                aurora_db::lock_user(conn, user).await?;
                let now = now();
                let needs = Needs::of_keys(keys.clone());
                let loaded = correlation::load(conn, user, &needs).await?;
                let plan = aurora_correlation::auto_resolve(
                    &self.rules,
                    &loaded.state,
                    &keys,
                    silent_since,
                    timeout_secs,
                    now,
                );
                let written = correlation::write(conn, user, &[], &plan, now.naive_utc()).await?;
                Ok::<_, QueryError>((plan, written, now))
            })
            .await
            .map_err(classify)?;
        drop(conn);
        self.metrics.record(&[], &plan);
        // No delivery will republish these: they stay in the outbox until marked.
        self.publish_unattached(user, &[], &plan, &written, now)
            .await?;
        Ok(plan.alert_updates.len())
    }
}

/// What each new delivery did, from the plan.
fn outcomes(arrivals: usize, plan: &Plan, written: &Written) -> Vec<DeliveryOutcome> {
    let mut outcomes = vec![
        DeliveryOutcome {
            already_processed: false,
            opened_incidents: Vec::new(),
            changes: Vec::new(),
            alerts: Vec::new(),
        };
        arrivals
    ];
    for processed in &plan.processed {
        let outcome = &mut outcomes[processed.arrival];
        outcome.alerts.push(written.alert_id(processed.alert));
        outcome.opened_incidents.extend(processed.opened_incident);
        outcome.changes.extend(
            processed
                .events
                .iter()
                .map(|&event| written.event_ids[event]),
        );
    }
    outcomes
}

/// A database error that retrying cannot fix (the delivery names a user that does not exist,
/// or holds text PostgreSQL refuses) is poison; anything else (connection lost, timeout,
/// serialization failure) is worth a retry.
pub(crate) fn classify(err: QueryError) -> HandlerError {
    if aurora_db::is_permanent(&err) {
        HandlerError::Poison(err.to_string())
    } else {
        HandlerError::Transient(err.to_string())
    }
}

/// When a decision happens, as stored.
pub(crate) fn now() -> DateTime<Utc> {
    time::to_utc(time::now())
}
