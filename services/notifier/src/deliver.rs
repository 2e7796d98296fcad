//! Sending what was recorded: one loop per delivery endpoint (Slack, PagerDuty, each webhook)
//! claims due deliveries, sends each, and settles it: sent, skipped, tried again later with
//! backoff (or when the destination's `Retry-After` says), or kept as failed after
//! `notifications.max_attempts`.
//!
//! What is sent is read from the incident when it is sent, so a Slack update or a PagerDuty
//! sync shows the incident as it is then, and the pending syncs it covered are settled with it
//! (`coalesced`): an alert storm costs Slack a few updates, not one per alert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_db::incidents::{self, Incident};
use aurora_db::notifications::{self, Claimed, Target};
use aurora_db::{DbPool, QueryError, time};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::destinations::{Destinations, Failure, PagerDutyAction, Updated, slack};
use crate::metrics::NotifierMetrics;
use crate::routing::Destination;
use crate::view::IncidentView;

/// Deliveries one endpoint sends at once.
const IN_FLIGHT: usize = 8;
/// How often due deliveries are looked for without a wake-up (retries, other replicas' work).
const POLL: Duration = Duration::from_secs(1);
/// The first retry's delay; each further one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// The longest `Retry-After` obeyed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// A Slack message is updated at most this often: the changes of a storm are gathered into
/// one update (Slack allows an app about 50 `chat.update` calls a minute).
const SLACK_UPDATE_EVERY: Duration = Duration::from_secs(5);

/// Sends recorded deliveries.
pub struct Deliverer {
    pool: DbPool,
    destinations: Arc<Destinations>,
    metrics: NotifierMetrics,
    wakes: HashMap<String, Arc<Notify>>,
    /// Endpoints that answered 429, until when they asked to be left alone.
    paused: Mutex<HashMap<String, Instant>>,
}

/// How a delivery ended when nothing failed.
#[derive(Debug)]
enum Done {
    /// Sent; the pending deliveries up to `covers` asked for what was sent.
    /// One of the same kind, next, waits `hold`.
    Sent {
        covers: Option<i64>,
        hold: Option<Duration>,
    },
    /// Not sent: the incident resolved before it was announced.
    Skipped { covers: Option<i64>, reason: String },
}

/// Why a delivery did not end.
#[derive(Debug)]
enum Interrupted {
    /// The destination did not take it.
    Failed(Failure),
    /// The database did not answer: after a send, what was sent is not recorded, so the
    /// delivery is left to its lease and the next attempt looks before sending again.
    Database(String),
}

impl From<QueryError> for Interrupted {
    fn from(err: QueryError) -> Self {
        Interrupted::Database(err.to_string())
    }
}

impl From<Failure> for Interrupted {
    fn from(failure: Failure) -> Self {
        Interrupted::Failed(failure)
    }
}

impl Deliverer {
    /// Sends to `destinations`, reading and settling deliveries in `pool`.
    pub(crate) fn new(
        pool: DbPool,
        destinations: Arc<Destinations>,
        metrics: NotifierMetrics,
    ) -> Self {
        let wakes = destinations
            .endpoints()
            .into_iter()
            .map(|endpoint| (endpoint, Arc::new(Notify::new())))
            .collect();
        Self {
            pool,
            destinations,
            metrics,
            wakes,
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a loop here sends `endpoint`'s deliveries.
    pub fn serves(&self, endpoint: &str) -> bool {
        self.wakes.contains_key(endpoint)
    }

    /// Fails the pending deliveries no loop sends (their destination was removed from the
    /// settings), so none waits forever unnoticed.
    pub async fn abandon_unserved(&self) -> Result<usize, String> {
        let mut conn = self.pool.get().await.map_err(|err| err.to_string())?;
        let served: Vec<String> = self.wakes.keys().cloned().collect();
        notifications::abandon_unserved(&mut conn, &served)
            .await
            .map_err(|err| err.to_string())
    }

    /// Tells `endpoint`'s loop that deliveries were recorded for it.
    pub fn wake(&self, endpoint: &str) {
        if let Some(wake) = self.wakes.get(endpoint) {
            wake.notify_one();
        }
    }

    /// Starts one loop per endpoint; each ends after `shutdown`, once its sends finished.
    pub fn spawn_loops(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.wakes
            .keys()
            .map(|endpoint| {
                tokio::spawn(Arc::clone(self).serve(endpoint.clone(), shutdown.clone()))
            })
            .collect()
    }

    async fn serve(self: Arc<Self>, endpoint: String, shutdown: CancellationToken) {
        let wake = Arc::clone(&self.wakes[&endpoint]);
        let mut sending = JoinSet::new();
        loop {
            let paused = self.paused_for(&endpoint);
            let free = IN_FLIGHT - sending.len();
            if free > 0 && paused.is_none() {
                match self.claim(&endpoint, free).await {
                    Ok(claimed) => {
                        for delivery in claimed {
                            let this = Arc::clone(&self);
                            let endpoint = endpoint.clone();
                            sending.spawn(async move { this.deliver(&endpoint, delivery).await });
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%endpoint, error = %err, "cannot claim deliveries; retrying")
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                Some(_) = sending.join_next(), if !sending.is_empty() => {}
                () = tokio::time::sleep(paused.unwrap_or(POLL).min(POLL)) => {}
            }
        }
        while sending.join_next().await.is_some() {}
    }

    async fn claim(&self, endpoint: &str, limit: usize) -> Result<Vec<Claimed>, String> {
        let mut conn = self.pool.get().await.map_err(|err| err.to_string())?;
        notifications::claim(
            &mut conn,
            endpoint,
            i64::try_from(limit).unwrap_or(i64::MAX),
            self.destinations.lease,
        )
        .await
        .map_err(|err| err.to_string())
    }

    fn paused_for(&self, endpoint: &str) -> Option<Duration> {
        let mut paused = self.paused.lock().expect("not poisoned");
        match paused.get(endpoint) {
            Some(until) if *until > Instant::now() => Some(*until - Instant::now()),
            Some(_) => {
                paused.remove(endpoint);
                None
            }
            None => None,
        }
    }

    /// Sends one claimed delivery and settles it.
    pub async fn deliver(&self, endpoint: &str, claimed: Claimed) {
        let started = Instant::now();
        let kind = Destination::of_target(&claimed.target).map_or("unknown", |d| d.kind());
        // An attempt never outlasts its lease: past it another notifier may claim the delivery.
        let attempt =
            tokio::time::timeout(self.destinations.lease.mul_f64(0.8), self.attempt(&claimed))
                .await
                .unwrap_or_else(|_| {
                    Err(Interrupted::Failed(Failure::Retry {
                        reason: "the attempt outlasted its lease".to_owned(),
                        after: None,
                        maybe_sent: true,
                    }))
                });
        let outcome = match self.settle(endpoint, &claimed, attempt).await {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::warn!(delivery = claimed.id, error = %err, "cannot record how a delivery ended; its lease will lapse and it is tried again");
                "unsettled"
            }
        };
        self.metrics.attempted(kind, outcome, started.elapsed());
    }

    async fn settle(
        &self,
        endpoint: &str,
        claimed: &Claimed,
        attempt: Result<Done, Interrupted>,
    ) -> Result<&'static str, String> {
        let failure = match attempt {
            Err(Interrupted::Database(err)) => return Err(err),
            Err(Interrupted::Failed(failure)) => failure,
            Ok(done) => {
                let mut conn = self.pool.get().await.map_err(|err| err.to_string())?;
                let settled = match done {
                    Done::Sent { covers, hold } => {
                        notifications::delivered(&mut conn, claimed, covers, hold)
                            .await
                            .map(|()| "delivered")
                    }
                    Done::Skipped { covers, reason } => {
                        tracing::info!(incident = %claimed.incident_id, target = %claimed.target, %reason, "not announced");
                        notifications::skipped(&mut conn, claimed, covers, &reason)
                            .await
                            .map(|()| "skipped")
                    }
                };
                return settled.map_err(|err| err.to_string());
            }
        };
        let mut conn = self.pool.get().await.map_err(|err| err.to_string())?;
        let (outcome, result) = match &failure {
            Failure::Retry {
                reason,
                after,
                maybe_sent,
            } if u32::try_from(claimed.attempts).unwrap_or(u32::MAX)
                < self.destinations.max_attempts =>
            {
                let delay = match after {
                    Some(after) => {
                        let after = (*after).clamp(Duration::from_secs(1), MAX_RETRY_AFTER);
                        // The destination is throttling this notifier: leave it alone.
                        self.paused
                            .lock()
                            .expect("not poisoned")
                            .insert(endpoint.to_owned(), Instant::now() + after);
                        after
                    }
                    None => backoff(claimed.attempts),
                };
                tracing::warn!(incident = %claimed.incident_id, target = %claimed.target, attempt = claimed.attempts, ?delay, %reason, "notification not delivered; trying again");
                (
                    "retried",
                    notifications::retry_later(&mut conn, claimed, delay, reason, *maybe_sent)
                        .await,
                )
            }
            failure => {
                let reason = match failure {
                    Failure::Retry { reason, .. } => {
                        format!("failed {} times; last: {reason}", claimed.attempts)
                    }
                    Failure::Permanent(reason) => reason.clone(),
                };
                tracing::error!(incident = %claimed.incident_id, target = %claimed.target, %reason, "notification failed for good (aurora notifications failed)");
                (
                    "failed",
                    notifications::dead(&mut conn, claimed, &reason).await,
                )
            }
        };
        result.map(|()| outcome).map_err(|err| err.to_string())
    }

    /// One attempt: reads the incident and its destination, then sends what they call for.
    async fn attempt(&self, claimed: &Claimed) -> Result<Done, Interrupted> {
        let Some(destination) = Destination::of_target(&claimed.target) else {
            return Err(
                Failure::Permanent(format!("unknown destination `{}`", claimed.target)).into(),
            );
        };
        let (incident, target, covers_any, covers_same, cause) = {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|err| Interrupted::Database(err.to_string()))?;
            // Read before the incident: what is pending now asked for no newer state than
            // the one about to be read.
            let covers_any = notifications::newest_pending(
                &mut conn,
                claimed.incident_id,
                &claimed.target,
                None,
            )
            .await?;
            let covers_same = notifications::newest_pending(
                &mut conn,
                claimed.incident_id,
                &claimed.target,
                Some(&claimed.action),
            )
            .await?;
            let incident = incidents::get(&mut conn, claimed.incident_id).await?;
            let Some(target) =
                notifications::target(&mut conn, claimed.incident_id, &claimed.target).await?
            else {
                return Err(
                    Failure::Permanent("its destination is no longer recorded".into()).into(),
                );
            };
            let cause = if incident.aurora_status.as_deref() == Some("complete") {
                notifications::likely_cause(&mut conn, claimed.incident_id).await?
            } else {
                None
            };
            (incident, target, covers_any, covers_same, cause)
        };
        if !target.announced && closed_within(&incident, target.notify_after_secs) {
            return Ok(Done::Skipped {
                covers: covers_any,
                reason: format!(
                    "resolved within notify_after_secs ({:.0} s) of rule {}",
                    target.notify_after_secs, target.rule
                ),
            });
        }
        let view = IncidentView::new(&incident, cause, &self.destinations.console_url);
        match (&destination, claimed.action.as_str()) {
            (Destination::Slack { channel }, "sync") => {
                self.slack_message(claimed, &target, channel, &view).await?;
                Ok(Done::Sent {
                    covers: covers_same,
                    hold: Some(SLACK_UPDATE_EVERY),
                })
            }
            (Destination::Slack { channel }, "summary") => {
                self.slack_summary(claimed, &target, channel, &view).await?;
                Ok(Done::Sent {
                    covers: None,
                    hold: None,
                })
            }
            (Destination::PagerDuty { rule }, "sync") => {
                self.pagerduty(claimed, &target, rule, &view).await?;
                Ok(Done::Sent {
                    covers: covers_same,
                    hold: None,
                })
            }
            (Destination::Webhook { name }, "event") => {
                let webhook = self.destinations.webhooks.get(name).ok_or_else(|| {
                    Failure::Permanent(format!("no webhook named `{name}` is configured"))
                })?;
                let delivery = format!("{}:{}", claimed.incident_id, claimed.event_key);
                webhook.send(&delivery, &claimed.event_type, &view).await?;
                self.record(async |conn| {
                    notifications::mark_announced(conn, claimed.incident_id, &claimed.target).await
                })
                .await?;
                Ok(Done::Sent {
                    covers: None,
                    hold: None,
                })
            }
            (_, action) => Err(Failure::Permanent(format!(
                "`{action}` is not something {} takes",
                destination.kind()
            ))
            .into()),
        }
    }

    /// Posts the incident's Slack message, or updates it when it exists; answers its channel
    /// and `ts`. After an interrupted attempt, the channel is searched for the message that
    /// attempt may have posted before a new one is.
    async fn slack_message(
        &self,
        claimed: &Claimed,
        target: &Target,
        channel: &str,
        view: &IncidentView,
    ) -> Result<(String, String), Interrupted> {
        let slack = self.slack()?;
        let message = slack::incident_message(view);
        let mut posted = target.slack_channel.clone().zip(target.slack_ts.clone());
        if posted.is_none()
            && let Some(since) = claimed.in_doubt_since
        {
            posted = search(slack, channel, &message.metadata, since, None)
                .await?
                .map(|ts| (channel.to_owned(), ts));
            if let Some((posted_in, ts)) = &posted {
                // Found: keep it, then bring it up to date like any other.
                self.save_slack_message(claimed, posted_in, ts, None)
                    .await?;
            }
        }
        if let Some((posted_in, ts)) = posted {
            match slack.update(&posted_in, &ts, &message).await? {
                Updated::Done => return Ok((posted_in, ts)),
                Updated::Gone => {
                    tracing::info!(incident = %view.id, "the incident's Slack message was deleted; posting it again");
                }
            }
        }
        let (posted_in, ts) = slack.post(channel, &message, None).await?;
        let replaces = target.slack_ts.as_deref();
        self.save_slack_message(claimed, &posted_in, &ts, replaces)
            .await?;
        Ok((posted_in, ts))
    }

    /// Keeps the message `ts` as the destination's (and, first or in place of the deleted
    /// `replaces`, the incident's).
    async fn save_slack_message(
        &self,
        claimed: &Claimed,
        channel: &str,
        ts: &str,
        replaces: Option<&str>,
    ) -> Result<(), Interrupted> {
        self.record(async |conn| {
            notifications::set_slack_message(
                conn,
                claimed.incident_id,
                &claimed.target,
                channel,
                ts,
                replaces,
            )
            .await
        })
        .await
    }

    /// The analysis summary as one reply in the thread of the incident's message (posted
    /// first when there is none yet).
    async fn slack_summary(
        &self,
        claimed: &Claimed,
        target: &Target,
        channel: &str,
        view: &IncidentView,
    ) -> Result<(), Interrupted> {
        let Some(summary) = view.summary.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(());
        };
        let (posted_in, thread) = match (&target.slack_channel, &target.slack_ts) {
            (Some(channel), Some(ts)) => (channel.clone(), ts.clone()),
            _ => self.slack_message(claimed, target, channel, view).await?,
        };
        let slack = self.slack()?;
        let reply = slack::summary_message(view, summary, &claimed.event_key);
        if let Some(since) = claimed.in_doubt_since
            && search(slack, &posted_in, &reply.metadata, since, Some(&thread))
                .await?
                .is_some()
        {
            return Ok(());
        }
        slack.post(&posted_in, &reply, Some(&thread)).await?;
        Ok(())
    }

    /// Brings PagerDuty to the incident's state: triggered while it is open, resolved once it
    /// is not. A resolve goes out unless one already did: a trigger whose answer never came may
    /// have opened an alert (a resolve for a `dedup_key` PagerDuty does not know changes
    /// nothing).
    async fn pagerduty(
        &self,
        claimed: &Claimed,
        target: &Target,
        rule: &str,
        view: &IncidentView,
    ) -> Result<(), Interrupted> {
        let wanted = if view.is_open() {
            PagerDutyAction::Trigger
        } else {
            PagerDutyAction::Resolve
        };
        let sent = target.pagerduty_state.as_deref();
        let needed = match wanted {
            PagerDutyAction::Trigger => sent != Some("trigger"),
            PagerDutyAction::Resolve => sent != Some("resolve"),
        };
        if !needed {
            return Ok(());
        }
        self.destinations.pagerduty.send(rule, wanted, view).await?;
        self.record(async |conn| {
            notifications::set_pagerduty_state(
                conn,
                claimed.incident_id,
                &claimed.target,
                wanted.as_str(),
            )
            .await
        })
        .await
    }

    fn slack(&self) -> Result<&crate::destinations::Slack, Interrupted> {
        self.destinations
            .slack
            .as_ref()
            .ok_or_else(|| Failure::Permanent("Slack is not configured".into()).into())
    }

    /// Runs `write` on a pooled connection.
    async fn record<F>(&self, write: F) -> Result<(), Interrupted>
    where
        F: AsyncFnOnce(&mut aurora_db::AsyncPgConnection) -> Result<(), QueryError>,
    {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|err| Interrupted::Database(err.to_string()))?;
        write(&mut conn).await.map_err(Interrupted::from)
    }
}

/// Looks for the message an attempt in doubt may have posted. A search Slack refuses for good
/// (the app lacks `channels:history`) finds nothing: posting again risks a second message,
/// not posting would lose the announcement.
async fn search(
    slack: &crate::destinations::Slack,
    channel: &str,
    metadata: &serde_json::Value,
    since: chrono::DateTime<chrono::Utc>,
    thread_ts: Option<&str>,
) -> Result<Option<String>, Failure> {
    match slack.find(channel, metadata, since, thread_ts).await {
        Err(Failure::Permanent(reason)) => {
            tracing::warn!(%reason, "cannot search Slack for a message an interrupted attempt may have posted; posting it");
            Ok(None)
        }
        found => found,
    }
}

/// The incident closed (resolved, or merged into another) less than `notify_after_secs`
/// after it opened.
fn closed_within(incident: &Incident, notify_after_secs: f64) -> bool {
    if notify_after_secs <= 0.0 || !matches!(incident.status.as_str(), "resolved" | "merged") {
        return false;
    }
    let opened = incident.created_at.unwrap_or(incident.started_at);
    let closed = incident
        .resolved_at
        .or(incident.updated_at)
        .unwrap_or_else(time::now);
    (closed - opened).as_seconds_f64() < notify_after_secs
}

/// The delay before attempt `attempts + 1`: doubling from [`FIRST_BACKOFF`], capped, with up to
/// a fifth of jitter so deliveries that failed together do not return together.
fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let base = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    base.mul_f64(1.0 + rand::random::<f64>() * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::incident;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let first = backoff(1);
        assert!(first >= FIRST_BACKOFF && first <= FIRST_BACKOFF.mul_f64(1.2));
        let third = backoff(3);
        assert!(third >= Duration::from_secs(8) && third <= Duration::from_secs(10));
        assert!(backoff(40) <= MAX_BACKOFF.mul_f64(1.2));
    }

    #[test]
    fn only_an_incident_closed_within_the_delay_goes_unannounced() {
        let mut quick = incident("u1", "checkout", "high");
        let opened = quick.created_at.unwrap();
        quick.status = "resolved".into();
        quick.resolved_at = Some(opened + chrono::TimeDelta::seconds(30));
        assert!(closed_within(&quick, 60.0));
        assert!(!closed_within(&quick, 0.0));
        assert!(!closed_within(&quick, 20.0));
        let mut open = quick.clone();
        open.status = "investigating".into();
        assert!(!closed_within(&open, 60.0));
    }
}
