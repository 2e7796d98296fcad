//! The integrations each ingress process has looked up, by token hash, so an accepted webhook
//! costs no PostgreSQL round trip.
//!
//! An entry is used as is for `ingress.auth_cache_secs` after the database last vouched for
//! it, then looked up again. Revocations and secret rotations do not wait for that: they are
//! announced on the bus (`integrations.changed`) and every ingress forgets the integration at
//! once ([`follow_changes`]); after a lost bus connection, when announcements may have been
//! missed, it forgets everything. While PostgreSQL cannot answer, an entry the database vouched
//! for within `ingress.auth_fallback_secs` is still accepted: the bus, not the database, is
//! what a 202 promises. Any answer the database does give (revoked, deleted) is the truth.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_bus::{Bus, BusError};
use aurora_db::integrations::Integration;
use aurora_domain::IntegrationChanged;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A token's SHA-256, as the database stores it.
pub(crate) type TokenHash = Vec<u8>;

/// How long after PostgreSQL could not be reached a lookup that merely ran out of time is
/// taken for the same outage.
const UNREACHABLE_LATELY: Duration = Duration::from_secs(30);

/// How often a lost bus connection is looked for.
const CONNECTION_CHECK: Duration = Duration::from_millis(250);

/// Integrations by token hash, shared by every worker of an ingress process.
#[derive(Clone)]
pub struct IntegrationCache {
    refresh: Duration,
    fallback: Duration,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<TokenHash, Entry>,
    /// Counts forgetting; a lookup that began before one does not store its answer.
    generation: u64,
    /// When PostgreSQL last could not be reached.
    unreachable_at: Option<Instant>,
    /// Every token the database ever vouched for to this process (or listed at start), kept
    /// through forgetting: the failure limit per address never refuses these before looking
    /// them up, so a stranger's guesses cannot lock known senders out, even right after a
    /// restart or a reconnect emptied the entries.
    vouched: HashSet<TokenHash>,
}

struct Entry {
    integration: Arc<Integration>,
    vouched_at: Instant,
}

/// What a lookup remembers about when it began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LookupTicket(u64);

impl IntegrationCache {
    /// Entries are trusted for `refresh` after the database vouched for them, and kept for
    /// `fallback` while it cannot answer (zero: no fallback).
    pub fn new(refresh: Duration, fallback: Duration) -> Self {
        Self {
            refresh,
            fallback,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("never poisoned: no code panics holding it")
    }

    /// The integration of `hash` if the database vouched for it within the refresh time; else
    /// a ticket for looking it up.
    pub(crate) fn fresh(&self, hash: &TokenHash) -> Result<Arc<Integration>, LookupTicket> {
        let inner = self.lock();
        match inner.entries.get(hash) {
            Some(entry) if entry.vouched_at.elapsed() < self.refresh => {
                Ok(entry.integration.clone())
            }
            _ => Err(LookupTicket(inner.generation)),
        }
    }

    /// What the database answered for `hash` in the lookup of `ticket`. Not stored when an
    /// integration was forgotten since the lookup began: the answer may predate a revocation.
    pub(crate) fn record(
        &self,
        hash: TokenHash,
        found: Option<Integration>,
        ticket: LookupTicket,
    ) -> Option<Arc<Integration>> {
        let mut inner = self.lock();
        let Some(integration) = found else {
            inner.entries.remove(&hash);
            inner.vouched.remove(&hash);
            return None;
        };
        let integration = Arc::new(integration);
        inner.vouched.insert(hash.clone());
        if inner.generation == ticket.0 {
            inner.entries.insert(
                hash,
                Entry {
                    integration: integration.clone(),
                    vouched_at: Instant::now(),
                },
            );
        }
        Some(integration)
    }

    /// Whether the database vouched for `hash` at some time (the entry may be stale or
    /// forgotten since).
    pub(crate) fn knows(&self, hash: &TokenHash) -> bool {
        self.lock().vouched.contains(hash)
    }

    /// Remembers tokens the database lists as live (at start), so they count as known to the
    /// failure limit before their first webhook.
    pub fn know(&self, hashes: impl IntoIterator<Item = Vec<u8>>) {
        self.lock().vouched.extend(hashes);
    }

    /// The integration the database last gave for `hash`, if that was within the fallback.
    pub(crate) fn recall(&self, hash: &TokenHash) -> Option<Arc<Integration>> {
        self.lock()
            .entries
            .get(hash)
            .filter(|entry| entry.vouched_at.elapsed() <= self.fallback)
            .map(|entry| entry.integration.clone())
    }

    /// Notes that PostgreSQL could not be reached just now.
    pub(crate) fn note_unreachable(&self) {
        self.lock().unreachable_at = Some(Instant::now());
    }

    /// Whether PostgreSQL could not be reached within [`UNREACHABLE_LATELY`].
    pub(crate) fn unreachable_lately(&self) -> bool {
        self.lock()
            .unreachable_at
            .is_some_and(|at| at.elapsed() < UNREACHABLE_LATELY)
    }

    /// Forgets an integration that changed; its next webhook is looked up again.
    pub fn forget(&self, integration_id: Uuid) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner
            .entries
            .retain(|_, entry| entry.integration.id != integration_id);
    }

    /// Forgets every integration.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

/// Subscribes to the integration changes announced on the bus and applies them to `cache`
/// until `shutdown`, in a task of its own. Fails when the subscription cannot be made, so an
/// ingress never runs deaf to revocations.
pub async fn follow_changes(
    bus: Bus,
    cache: IntegrationCache,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, BusError> {
    let mut changes = bus.subscribe_integration_changes().await?;
    Ok(tokio::spawn(async move {
        let mut checks = tokio::time::interval(CONNECTION_CHECK);
        let mut connects = bus.connects();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                next = changes.next() => match next {
                    Some(message) => apply_change(&cache, &message.payload),
                    None => {
                        // The subscription ended: nothing cached can be trusted until it is
                        // back.
                        cache.clear();
                        tracing::error!(
                            "integration changes subscription ended; subscribing again"
                        );
                        match bus.subscribe_integration_changes().await {
                            Ok(again) => changes = again,
                            Err(err) => {
                                tracing::error!(
                                    error = %err,
                                    "cannot subscribe to integration changes"
                                );
                                tokio::time::sleep(CONNECTION_CHECK).await;
                            }
                        }
                    }
                },
                _ = checks.tick() => {
                    // Counted connections, not the state: a reconnect faster than a check
                    // would hide from a state poll. Announcements in between were missed.
                    let now = bus.connects();
                    if now != connects {
                        cache.clear();
                        connects = now;
                    }
                }
            }
        }
    }))
}

/// Forgets what an announced change makes stale.
fn apply_change(cache: &IntegrationCache, payload: &[u8]) {
    match serde_json::from_slice::<IntegrationChanged>(payload) {
        Ok(change) => cache.forget(change.integration_id),
        // Unreadable (a newer publisher?): forgetting everything is safe.
        Err(_) => cache.clear(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> Integration {
        Integration {
            id: Uuid::new_v4(),
            user_id: "u".into(),
            source_type: "grafana".into(),
            signing_secrets: Vec::new(),
            revoked_at: None,
            signature_timestamp: None,
        }
    }

    fn hash(token: &str) -> TokenHash {
        aurora_db::tokens::hash(token)
    }

    #[test]
    fn remembers_what_the_database_said_until_told_it_changed() {
        let cache = IntegrationCache::new(Duration::from_secs(60), Duration::from_secs(300));
        let seen = integration();
        let ticket = cache
            .fresh(&hash("a"))
            .expect_err("nothing before a lookup");
        cache.record(hash("a"), Some(seen.clone()), ticket);
        assert_eq!(cache.fresh(&hash("a")).map(|i| i.id).ok(), Some(seen.id));
        assert!(cache.fresh(&hash("b")).is_err(), "only the token looked up");
        cache.forget(seen.id);
        assert!(cache.fresh(&hash("a")).is_err());
        assert!(
            cache.recall(&hash("a")).is_none(),
            "no fallback for a changed one"
        );
        cache.clear();
        assert!(cache.knows(&hash("a")), "still known to the failure limit");
        assert!(!cache.knows(&hash("b")));
        cache.know([hash("b")]);
        assert!(cache.knows(&hash("b")), "listed live at start");
    }

    #[test]
    fn an_answer_older_than_a_change_is_not_kept() {
        let cache = IntegrationCache::new(Duration::from_secs(60), Duration::from_secs(300));
        let seen = integration();
        let ticket = cache.fresh(&hash("a")).expect_err("not cached");
        // The revocation is announced while the lookup is on its way.
        cache.forget(seen.id);
        let answered = cache.record(hash("a"), Some(seen), ticket);
        assert!(answered.is_some(), "this request still gets the answer");
        assert!(cache.fresh(&hash("a")).is_err(), "but it is not cached");
    }

    #[test]
    fn stale_entries_are_looked_up_again_and_serve_only_as_fallback() {
        let cache = IntegrationCache::new(Duration::ZERO, Duration::from_secs(300));
        let ticket = cache.fresh(&hash("a")).expect_err("not cached");
        cache.record(hash("a"), Some(integration()), ticket);
        assert!(cache.fresh(&hash("a")).is_err(), "older than the refresh");
        assert!(cache.recall(&hash("a")).is_some(), "within the fallback");
        let no_fallback = IntegrationCache::new(Duration::ZERO, Duration::ZERO);
        let ticket = no_fallback.fresh(&hash("a")).expect_err("not cached");
        no_fallback.record(hash("a"), Some(integration()), ticket);
        assert!(no_fallback.recall(&hash("a")).is_none());
    }
}
