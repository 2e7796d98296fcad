//! The consumer loop every worker shares: decode, handle, then ack; never lose a message. What
//! can never be processed is kept as a dead letter and terminated, so it never blocks the
//! stream.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message, consumer::PullConsumer};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{BusError, trace};

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying later (database or bus unavailable): the message is redelivered.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (invalid content): the message is terminated.
    #[error("poison: {0}")]
    Poison(String),
}

/// A decoded message handed to a handler.
#[derive(Debug)]
pub struct Delivery<T> {
    /// The decoded payload.
    pub payload: T,
    /// 1 on first delivery, more on redeliveries.
    pub attempt: u64,
}

/// A message that can never be processed: undecodable, poison, or failing on every retry.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The stream it came from.
    pub stream: &'a str,
    /// Its subject.
    pub subject: &'a str,
    /// The consumer giving up on it.
    pub consumer: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The message as published.
    pub payload: &'a [u8],
    /// How often it was delivered.
    pub deliveries: u64,
}

/// Where dead letters are kept (a table in PostgreSQL, for the services).
pub trait DeadLetterSink {
    /// Keeps a dead letter. An error leaves the message on the stream (redelivered later), so
    /// nothing is lost when the sink itself is down.
    fn keep(&self, letter: DeadLetter<'_>) -> impl Future<Output = Result<(), String>>;
}

/// A message failing transiently this many times is set aside as a dead letter.
pub const MAX_DELIVERIES: u64 = 20;

/// The longest a transiently failing message waits before it is redelivered.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// How many messages a consumer works on at once, and which must wait for each other.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// Messages handled at once.
    pub max_in_flight: usize,
    /// The lane of a message, from its payload: messages of one lane are handled one after
    /// another in stream order; `None` is a lane of its own.
    pub lane_of: fn(&[u8]) -> Option<String>,
}

impl Lanes {
    /// Up to `max_in_flight` messages at once, in any order.
    pub fn unordered(max_in_flight: usize) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            lane_of: |_| None,
        }
    }

    /// Up to `max_in_flight` at once, but one at a time per lane.
    pub fn ordered_by(max_in_flight: usize, lane_of: fn(&[u8]) -> Option<String>) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            lane_of,
        }
    }
}

/// Pulls messages from `consumer` until `shutdown` fires, handing them to `handler`, several
/// at once as `lanes` allows. Ack comes only after the handler returns `Ok`, and is confirmed
/// by the server; while the handler works, an in-progress ack goes out every third of the
/// consumer's ack wait; in-flight messages are finished before the loop stops.
pub async fn consume<T, F, Fut, S>(
    mut consumer: PullConsumer,
    dead_letters: &S,
    shutdown: CancellationToken,
    lanes: Lanes,
    handler: F,
) -> Result<(), BusError>
where
    S: DeadLetterSink,
    T: DeserializeOwned,
    F: Fn(Delivery<T>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    // In-progress acks go out three times per ack wait, so a slow handler never loses its
    // message to another replica.
    let ack_wait = consumer
        .info()
        .await
        .map_or(Duration::from_secs(30), |info| info.config.ack_wait);
    let keep_alive = (ack_wait / 3).max(Duration::from_millis(100));
    let mut messages = consumer.messages().await.map_err(|err| BusError::Setup {
        what: "message stream".to_owned(),
        detail: err.to_string(),
    })?;
    let handler = &handler;
    let mut in_flight = FuturesUnordered::new();
    let mut busy_lanes: HashSet<String> = HashSet::new();
    // A message pulled while its lane was busy: it waits, and nothing more is pulled.
    let mut waiting: Option<(Message, Option<String>)> = None;
    loop {
        if waiting
            .as_ref()
            .is_some_and(|(_, lane)| lane.as_ref().is_none_or(|l| !busy_lanes.contains(l)))
        {
            let (message, lane) = waiting.take().expect("just checked");
            if let Some(lane) = &lane {
                busy_lanes.insert(lane.clone());
            }
            in_flight.push(async move {
                handle_one(message, keep_alive, dead_letters, handler).await;
                lane
            });
        }
        let can_pull = waiting.is_none() && in_flight.len() < lanes.max_in_flight;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(lane) = in_flight.next(), if !in_flight.is_empty() => {
                if let Some(lane) = lane {
                    busy_lanes.remove(&lane);
                }
            }
            next = messages.next(), if can_pull => match next {
                Some(Ok(message)) => {
                    let lane = (lanes.lane_of)(&message.payload);
                    waiting = Some((message, lane));
                }
                Some(Err(err)) => tracing::warn!(error = %err, "pulling messages failed; retrying"),
                None => break,
            },
        }
    }
    while in_flight.next().await.is_some() {}
    if let Some((message, _)) = waiting {
        // Never handled: offered again at once rather than after the ack wait.
        let _ = message.ack_with(AckKind::Nak(None)).await;
    }
    Ok(())
}

async fn handle_one<T, F, Fut, S>(
    message: Message,
    keep_alive: Duration,
    dead_letters: &S,
    handler: &F,
) where
    S: DeadLetterSink,
    T: DeserializeOwned,
    F: Fn(Delivery<T>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let attempt = message
        .info()
        .map_or(1, |info| info.delivered.max(1) as u64);
    let span = tracing::info_span!("bus.message", subject = %message.subject, attempt);
    trace::continue_from(message.headers.as_ref(), &span);
    async {
        let outcome = match serde_json::from_slice::<T>(&message.payload) {
            Ok(payload) => {
                // Long work tells JetStream it is still in progress, so the message is not
                // redelivered to another replica meanwhile.
                let work = handler(Delivery { payload, attempt });
                tokio::pin!(work);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
                loop {
                    tokio::select! {
                        outcome = &mut work => break outcome,
                        _ = ticks.tick() => {
                            if let Err(err) = message.ack_with(AckKind::Progress).await {
                                tracing::warn!(error = %err, "in-progress acknowledgement failed");
                            }
                        }
                    }
                }
            }
            Err(err) => Err(HandlerError::Poison(format!(
                "cannot decode message: {err}"
            ))),
        };
        let acked = match outcome {
            Ok(()) => message.double_ack().await,
            Err(err) => match dead_letter_reason(&err, attempt) {
                Some(reason) => {
                    let (stream, consumer) = message.info().map_or(("", ""), |info| (info.stream, info.consumer));
                    let letter = DeadLetter {
                        stream,
                        subject: message.subject.as_str(),
                        consumer,
                        reason: &reason,
                        payload: &message.payload,
                        deliveries: attempt,
                    };
                    match dead_letters.keep(letter).await {
                        Ok(()) => {
                            tracing::error!(%reason, "message set aside as a dead letter");
                            message.ack_with(AckKind::Term).await
                        }
                        Err(sink_error) => {
                            tracing::error!(%reason, error = %sink_error, "cannot keep the dead letter; leaving the message on the stream");
                            message.ack_with(AckKind::Nak(Some(MAX_RETRY_DELAY))).await
                        }
                    }
                }
                None => {
                    let delay = retry_delay(attempt);
                    tracing::warn!(reason = %err, ?delay, "message failed; it will be redelivered");
                    message.ack_with(AckKind::Nak(Some(delay))).await
                }
            },
        };
        if let Err(err) = acked {
            // The server redelivers after ack_wait; handlers are idempotent for this reason.
            tracing::warn!(error = %err, "acknowledgement was not confirmed");
        }
    }
    .instrument(span)
    .await;
}

/// Why a failed message becomes a dead letter, if it does: poison at once, a transient
/// failure once it has been delivered [`MAX_DELIVERIES`] times.
fn dead_letter_reason(err: &HandlerError, attempt: u64) -> Option<String> {
    match err {
        HandlerError::Poison(reason) => Some(reason.clone()),
        HandlerError::Transient(reason) if attempt >= MAX_DELIVERIES => {
            Some(format!("failed {attempt} times; last: {reason}"))
        }
        HandlerError::Transient(_) => None,
    }
}

/// Exponential backoff from 1 s, capped.
fn retry_delay(attempt: u64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(5) as u32;
    Duration::from_secs(1 << exponent).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(4));
        assert_eq!(retry_delay(50), MAX_RETRY_DELAY);
    }
}
