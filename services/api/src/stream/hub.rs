//! One subscription to every user's incident changes per API process, started by the first
//! live-stream connection and resumed where it stopped if it ends, feeding the [`Registry`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aurora_bus::{Bus, BusError, IncidentMessage};
use aurora_domain::UserId;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::registry::{Registration, Registry, StreamLimits, TooManyStreams};

/// First wait before subscribing again after the subscription ended; it doubles up to
/// [`RESUBSCRIBE_MAX`] while NATS keeps refusing.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(5);

type Feed = BoxStream<'static, Result<IncidentMessage, BusError>>;

/// The live stream's side of an API process: the one subscription and who is connected.
/// Cheap to clone; the subscription stops when the last clone is dropped.
#[derive(Clone)]
pub struct StreamHub {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Bus,
    registry: Arc<Registry>,
    following: OnceCell<()>,
    subscriptions: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Why a connection was not registered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error(transparent)]
    TooMany(#[from] TooManyStreams),
    #[error(transparent)]
    Unavailable(#[from] BusError),
}

impl StreamHub {
    /// A hub that subscribes on its first connection.
    pub fn new(bus: Bus, limits: StreamLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                registry: Arc::new(Registry::new(limits)),
                following: OnceCell::new(),
                subscriptions: Arc::new(AtomicU64::new(0)),
                stop: CancellationToken::new(),
            }),
        }
    }

    /// Subscriptions to `INCIDENTS` this process has made: 1 however many connections, more
    /// only when the subscription ended and was resumed.
    pub fn subscriptions(&self) -> u64 {
        self.inner.subscriptions.load(Ordering::Relaxed)
    }

    /// Live-stream connections `user` holds open on this process.
    pub fn connections(&self, user: &str) -> usize {
        self.inner.registry.open(user)
    }

    /// The last `INCIDENTS` stream sequence handed to the connections: a connection made now
    /// is replayed what it missed up to here, and sent what comes after live.
    pub fn position(&self) -> u64 {
        self.inner.registry.position()
    }

    /// Readers disconnected for falling a full queue behind, since start.
    pub fn slow_readers_dropped(&self) -> u64 {
        self.inner.registry.dropped()
    }

    /// Stops the subscription and ends every stream after what was queued for it; a
    /// connection made afterwards ends after its opening.
    pub fn close(&self) {
        self.inner.stop.cancel();
        self.inner.registry.close();
    }

    pub(crate) fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// The limits its connections live under.
    pub(crate) fn limits(&self) -> StreamLimits {
        self.inner.registry.limits()
    }

    /// Registers a connection of `user`, subscribing first if nothing has yet.
    pub(crate) async fn connect(&self, user: &UserId) -> Result<Registration, ConnectError> {
        self.inner
            .following
            .get_or_try_init(|| self.subscribe())
            .await?;
        Ok(self.inner.registry.register(user.as_str())?)
    }

    /// Subscribes from the stream's end and hands the messages to the registry from a task of
    /// its own; a failure leaves the next connection to try again.
    async fn subscribe(&self) -> Result<(), BusError> {
        let bus = &self.inner.bus;
        let last = bus.incident_stream_bounds().await?.last;
        let feed = bus.incident_messages_from(last + 1).await?;
        self.inner.registry.start_at(last);
        self.inner.subscriptions.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(follow(
            feed,
            bus.clone(),
            Arc::clone(&self.inner.registry),
            Arc::clone(&self.inner.subscriptions),
            self.inner.stop.clone(),
        ));
        Ok(())
    }
}

/// Fans out every message; when the subscription ends, subscribes again from the message
/// after the last one fanned out, so connected clients miss nothing.
async fn follow(
    mut feed: Feed,
    bus: Bus,
    registry: Arc<Registry>,
    subscriptions: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    loop {
        let ended = tokio::select! {
            () = stop.cancelled() => return,
            next = feed.next() => match next {
                Some(Ok(message)) => {
                    registry.fan_out(&message);
                    continue;
                }
                Some(Err(err)) => err.to_string(),
                None => "the reader ended".to_owned(),
            },
        };
        tracing::warn!(error = %ended, "the live stream's subscription ended; subscribing again");
        let mut delay = RESUBSCRIBE_MIN;
        feed = loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            match bus.incident_messages_from(registry.position() + 1).await {
                Ok(feed) => break feed,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot subscribe the live stream again yet");
                    delay = (delay * 2).min(RESUBSCRIBE_MAX);
                }
            }
        };
        subscriptions.fetch_add(1, Ordering::Relaxed);
    }
}
