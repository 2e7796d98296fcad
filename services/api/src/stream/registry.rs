//! Who is connected to the live stream, and the fan-out of each incident message to its
//! owner's connections through bounded queues. No I/O: the hub feeds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::web::Bytes;
use aurora_bus::IncidentMessage;
use aurora_settings::ApiSettings;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::event;

/// An event waiting for a connection: its stream sequence and its text.
pub(crate) type QueuedEvent = (u64, Bytes);

/// What the live stream lets one API process hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Events queued for one connection; a reader this far behind is disconnected.
    pub queue: usize,
    /// Connections one user may hold open at once.
    pub connections_per_user: usize,
    /// How often an open stream's API token is checked again: a rotated or revoked token's
    /// streams end within this.
    pub token_recheck: std::time::Duration,
}

impl From<&ApiSettings> for StreamLimits {
    fn from(settings: &ApiSettings) -> Self {
        Self {
            queue: settings.stream_queue,
            connections_per_user: settings.stream_connections_per_user,
            token_recheck: std::time::Duration::from_secs(60),
        }
    }
}

/// The user already holds every connection [`StreamLimits::connections_per_user`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {0} live streams per user may be open at once; close one first")]
pub struct TooManyStreams(pub usize);

/// The connections of every user, and how far through the `INCIDENTS` stream the fan-out is.
pub(crate) struct Registry {
    limits: StreamLimits,
    state: Mutex<State>,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The last stream sequence fanned out: a connection registered now is sent exactly what
    /// comes after it, so a replay up to it joins the live events without a gap or a repeat.
    position: u64,
    users: HashMap<String, UserConnections>,
    next_id: u64,
    /// Shutting down: no queue is fed any more.
    closed: bool,
}

#[derive(Default)]
struct UserConnections {
    /// Connections holding a slot: open until their response ends, queue or not.
    open: usize,
    /// Queues of those still fed; a reader that fell behind has lost its queue but keeps
    /// its slot until its response is gone, so not reading cannot open more than the limit.
    queues: HashMap<u64, mpsc::Sender<QueuedEvent>>,
}

/// A connection's place in the registry: its queue, where its live events start, and the
/// slot it holds until dropped.
pub(crate) struct Registration {
    /// Events in stream order; closed when the reader fell behind.
    pub(crate) events: mpsc::Receiver<QueuedEvent>,
    /// The last sequence fanned out before this connection joined.
    pub(crate) position: u64,
    _slot: Slot,
}

struct Slot {
    registry: Arc<Registry>,
    user: String,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        if let Some(connections) = state.users.get_mut(&self.user) {
            connections.open -= 1;
            connections.queues.remove(&self.id);
            if connections.open == 0 {
                state.users.remove(&self.user);
            }
        }
    }
}

impl Registry {
    /// The limits it applies.
    pub(crate) fn limits(&self) -> StreamLimits {
        self.limits
    }

    pub(crate) fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the fan-out starts: the stream's last sequence when it was subscribed to.
    pub(crate) fn start_at(&self, position: u64) {
        self.lock().position = position;
    }

    /// The last sequence fanned out.
    pub(crate) fn position(&self) -> u64 {
        self.lock().position
    }

    /// Takes one of `user`'s slots and a queue of its own.
    pub(crate) fn register(self: &Arc<Self>, user: &str) -> Result<Registration, TooManyStreams> {
        let (sender, events) = mpsc::channel(self.limits.queue);
        let mut state = self.lock();
        let id = state.next_id;
        let position = state.position;
        let closed = state.closed;
        let connections = state.users.entry(user.to_owned()).or_default();
        if connections.open >= self.limits.connections_per_user {
            return Err(TooManyStreams(self.limits.connections_per_user));
        }
        connections.open += 1;
        if !closed {
            connections.queues.insert(id, sender);
        }
        state.next_id += 1;
        Ok(Registration {
            events,
            position,
            _slot: Slot {
                registry: Arc::clone(self),
                user: user.to_owned(),
                id,
            },
        })
    }

    /// Queues `message` for each of its owner's connections. A full queue means that reader
    /// is too slow: its queue is dropped, so its stream ends once the client has read what
    /// was queued, and it reconnects with `Last-Event-ID`.
    pub(crate) fn fan_out(&self, message: &IncidentMessage) {
        let mut state = self.lock();
        state.position = message.sequence;
        let Some(owner) = event::owner(&message.payload) else {
            return;
        };
        let Some(connections) = state.users.get_mut(owner.as_ref()) else {
            return;
        };
        if connections.queues.is_empty() {
            return;
        }
        let Some(text) = event::change(message) else {
            return;
        };
        connections.queues.retain(|_, queue| {
            match queue.try_send((message.sequence, text.clone())) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        user_id = %owner,
                        queue = self.limits.queue,
                        "a live-stream reader fell a full queue behind; disconnecting it"
                    );
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Drops every queue, so each stream ends once its client has read what was queued.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        for connections in state.users.values_mut() {
            connections.queues.clear();
        }
    }

    /// Connections `user` holds open.
    pub(crate) fn open(&self, user: &str) -> usize {
        self.lock().users.get(user).map_or(0, |c| c.open)
    }

    /// Readers disconnected for falling a full queue behind, since start.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(queue: usize, connections_per_user: usize) -> Arc<Registry> {
        Arc::new(Registry::new(StreamLimits {
            queue,
            connections_per_user,
            token_recheck: std::time::Duration::from_secs(60),
        }))
    }

    fn change(sequence: u64, user: &str) -> IncidentMessage {
        IncidentMessage {
            sequence,
            kind: "updated".into(),
            payload: format!(r#"{{"user_id":"{user}"}}"#).into_bytes().into(),
        }
    }

    fn drain(registration: &mut Registration) -> Vec<u64> {
        let mut sequences = Vec::new();
        while let Ok((sequence, _)) = registration.events.try_recv() {
            sequences.push(sequence);
        }
        sequences
    }

    #[test]
    fn each_change_reaches_only_its_owners_connections() {
        let registry = registry(8, 10);
        let mut alice = [
            registry.register("alice").unwrap(),
            registry.register("alice").unwrap(),
        ];
        let mut bob = registry.register("bob").unwrap();
        registry.fan_out(&change(1, "alice"));
        registry.fan_out(&change(2, "bob"));
        registry.fan_out(&change(3, "carol"));
        for connection in &mut alice {
            assert_eq!(drain(connection), [1]);
        }
        assert_eq!(drain(&mut bob), [2]);
        assert_eq!(registry.position(), 3);
    }

    #[test]
    fn a_full_queue_drops_that_reader_and_no_other() {
        let registry = registry(2, 10);
        let mut fast = registry.register("alice").unwrap();
        let mut slow = registry.register("alice").unwrap();
        let mut received = Vec::new();
        for sequence in 1..=5 {
            registry.fan_out(&change(sequence, "alice"));
            received.extend(drain(&mut fast));
        }
        assert_eq!(received, [1, 2, 3, 4, 5]);
        assert_eq!(registry.dropped(), 1);
        // What was queued is still read, then the stream ends.
        assert_eq!(slow.events.try_recv().unwrap().0, 1);
        assert_eq!(slow.events.try_recv().unwrap().0, 2);
        assert!(matches!(
            slow.events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        // The dropped reader keeps its slot until its connection is gone.
        assert_eq!(registry.open("alice"), 2);
        drop(slow);
        assert_eq!(registry.open("alice"), 1);
    }

    #[test]
    fn the_limit_is_per_user_and_a_closed_connection_frees_its_slot() {
        let registry = registry(8, 2);
        let first = registry.register("alice").unwrap();
        let _second = registry.register("alice").unwrap();
        assert_eq!(registry.register("alice").err(), Some(TooManyStreams(2)));
        let _bob = registry.register("bob").unwrap();
        drop(first);
        assert!(registry.register("alice").is_ok());
    }

    #[test]
    fn closing_ends_every_stream_after_what_was_queued() {
        let registry = registry(8, 10);
        let mut before = registry.register("alice").unwrap();
        registry.fan_out(&change(1, "alice"));
        registry.close();
        let mut after = registry.register("alice").unwrap();
        registry.fan_out(&change(2, "alice"));
        assert_eq!(before.events.try_recv().unwrap().0, 1);
        for registration in [&mut before, &mut after] {
            assert!(matches!(
                registration.events.try_recv(),
                Err(mpsc::error::TryRecvError::Disconnected)
            ));
        }
    }

    #[test]
    fn a_connection_starts_after_the_last_message_fanned_out() {
        let registry = registry(8, 10);
        registry.start_at(10);
        registry.fan_out(&change(11, "bob"));
        let mut alice = registry.register("alice").unwrap();
        assert_eq!(alice.position, 11);
        registry.fan_out(&change(12, "alice"));
        assert_eq!(drain(&mut alice), [12]);
    }
}
