//! The consumer loop every worker shares: decode, handle, then ack; never lose a message. What
//! can never be processed is kept as a dead letter and terminated, so it never blocks the
//! stream.

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
#[derive(Debug, Clone, thiserror::Error)]
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
    /// Its sequence in the stream: the order in which JetStream accepted it.
    pub sequence: u64,
    /// The trace its publisher was in (empty when it sent none): work done for this delivery
    /// in a batch continues it ([`crate::trace::continue_context`]).
    pub trace: opentelemetry::Context,
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

/// How a batch consumer takes messages off the stream.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most messages in one batch.
    pub max_messages: usize,
    /// Longest a batch waits to fill once its first message arrived.
    pub max_wait: Duration,
}

/// Pulls messages from `consumer` until `shutdown` fires, handing them to `handler` up to
/// `max_in_flight` at once, in any order. Ack comes only after the handler returns `Ok` (a
/// lost ack means a redelivery, which handlers find done); while the handler works, an
/// in-progress ack goes out every third of the consumer's ack wait; in-flight messages are
/// finished before the loop stops.
pub async fn consume<T, F, Fut, S>(
    consumer: PullConsumer,
    dead_letters: &S,
    shutdown: CancellationToken,
    max_in_flight: usize,
    handler: F,
) -> Result<(), BusError>
where
    S: DeadLetterSink,
    T: DeserializeOwned,
    F: Fn(Delivery<T>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let keep_alive = keep_alive(&consumer).await;
    let mut messages = consumer.messages().await.map_err(stream_error)?;
    let handler = &handler;
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            next = messages.next(), if in_flight.len() < max_in_flight.max(1) => match next {
                Some(Ok(message)) => in_flight.push(handle_one(message, keep_alive, dead_letters, handler)),
                Some(Err(err)) => tracing::warn!(error = %err, "pulling messages failed; retrying"),
                None => break,
            },
        }
    }
    while in_flight.next().await.is_some() {}
    Ok(())
}

/// Pulls messages from `consumer` until `shutdown` fires and hands them to `handler` in
/// batches: as many as the stream has, up to `batching.max_messages`, waiting at most
/// `batching.max_wait` for more once the first arrived. The handler answers one outcome per
/// delivery, in order; each message is then acked, redelivered later or set aside as its
/// outcome says. Undecodable messages never reach the handler: they become dead letters.
/// While the handler works, in-progress acks keep the whole batch from being redelivered; the
/// batch in hand is finished before the loop stops.
pub async fn consume_batches<T, F, Fut, S>(
    consumer: PullConsumer,
    dead_letters: &S,
    shutdown: CancellationToken,
    batching: Batching,
    handler: F,
) -> Result<(), BusError>
where
    S: DeadLetterSink,
    T: DeserializeOwned,
    F: Fn(Vec<Delivery<T>>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
{
    let keep_alive = keep_alive(&consumer).await;
    let max_messages = batching.max_messages.max(1);
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(max_messages)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(stream_error)?;
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            next = messages.next() => match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "pulling messages failed; retrying");
                    continue;
                }
                None => break,
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batching.max_wait;
        while batch.len() < max_messages {
            tokio::select! {
                next = messages.next() => match next {
                    Some(Ok(message)) => batch.push(message),
                    Some(Err(err)) => tracing::warn!(error = %err, "pulling messages failed; retrying"),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        handle_batch(batch, keep_alive, dead_letters, &handler).await;
    }
    Ok(())
}

async fn handle_batch<T, F, Fut, S>(
    batch: Vec<Message>,
    keep_alive: Duration,
    dead_letters: &S,
    handler: &F,
) where
    S: DeadLetterSink,
    T: DeserializeOwned,
    F: Fn(Vec<Delivery<T>>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
{
    let span = tracing::info_span!("bus.batch", messages = batch.len());
    async {
        let mut decoded = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut settling = Vec::new();
        for message in &batch {
            trace::link_from(message.headers.as_ref(), &tracing::Span::current());
            match decode(message) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    decoded.push(message);
                }
                Err(poison) => settling.push(settle(message, Err(poison), dead_letters)),
            }
        }
        if !deliveries.is_empty() {
            let expected = deliveries.len();
            let outcomes = keeping_alive(handler(deliveries), keep_alive, &decoded).await;
            assert_eq!(outcomes.len(), expected, "one outcome per delivery");
            settling.extend(
                decoded
                    .into_iter()
                    .zip(outcomes)
                    .map(|(message, outcome)| settle(message, outcome, dead_letters)),
            );
        }
        futures::future::join_all(settling).await;
    }
    .instrument(span)
    .await;
}

/// The interval of in-progress acks: three per ack wait, so a slow handler never loses its
/// message to another replica.
async fn keep_alive(consumer: &PullConsumer) -> Duration {
    let mut consumer = consumer.clone();
    let ack_wait = consumer
        .info()
        .await
        .map_or(Duration::from_secs(30), |info| info.config.ack_wait);
    (ack_wait / 3).max(Duration::from_millis(100))
}

fn stream_error(err: impl std::fmt::Display) -> BusError {
    BusError::Setup {
        what: "message stream".to_owned(),
        detail: err.to_string(),
    }
}

/// 1 on first delivery, more on redeliveries.
fn attempt_of(message: &Message) -> u64 {
    message.info().map_or(1, |info| attempt(&info))
}

/// The delivery attempt JetStream's metadata counts (1 on first delivery).
fn attempt(info: &async_nats::jetstream::message::Info<'_>) -> u64 {
    info.delivered.max(1) as u64
}

/// The delivery a message carries; poison when its payload cannot be decoded or it has no
/// stream sequence (it did not come from a stream, so it has no place in the order of
/// acceptance).
fn decode<T: DeserializeOwned>(message: &Message) -> Result<Delivery<T>, HandlerError> {
    let payload = serde_json::from_slice::<T>(&message.payload)
        .map_err(|err| HandlerError::Poison(format!("cannot decode message: {err}")))?;
    let info = message
        .info()
        .map_err(|err| HandlerError::Poison(format!("message without a stream sequence: {err}")))?;
    Ok(Delivery {
        payload,
        attempt: attempt(&info),
        sequence: info.stream_sequence,
        trace: trace::context_of(message.headers.as_ref()),
    })
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
    let attempt = attempt_of(&message);
    let span = tracing::info_span!("bus.message", subject = %message.subject, attempt);
    trace::continue_from(message.headers.as_ref(), &span);
    async {
        let outcome = match decode(&message) {
            Ok(delivery) => keeping_alive(handler(delivery), keep_alive, &[&message]).await,
            Err(poison) => Err(poison),
        };
        settle(&message, outcome, dead_letters).await;
    }
    .instrument(span)
    .await;
}

/// Runs `work`, telling JetStream every `keep_alive` that `messages` are still in progress, so
/// long work does not see them redelivered to another replica meanwhile.
async fn keeping_alive<R>(
    work: impl Future<Output = R>,
    keep_alive: Duration,
    messages: &[&Message],
) -> R {
    tokio::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = ticks.tick() => {
                let progress = messages.iter().map(|m| m.ack_with(AckKind::Progress));
                for acked in futures::future::join_all(progress).await {
                    if let Err(err) = acked {
                        tracing::warn!(error = %err, "in-progress acknowledgement failed");
                    }
                }
            }
        }
    }
}

/// Acks a handled message, naks it for a later redelivery, or keeps it as a dead letter and
/// terminates it, as its outcome says.
async fn settle<S: DeadLetterSink>(
    message: &Message,
    outcome: Result<(), HandlerError>,
    dead_letters: &S,
) {
    let attempt = attempt_of(message);
    let acked = match outcome {
        // Not awaited for the server's confirmation: a lost ack only means a redelivery, and
        // handlers find redelivered work done.
        Ok(()) => message.ack().await,
        Err(err) => match dead_letter_reason(&err, attempt) {
            Some(reason) => {
                let (stream, consumer) = message
                    .info()
                    .map_or(("", ""), |info| (info.stream, info.consumer));
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
        tracing::warn!(error = %err, "acknowledgement could not be sent");
    }
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
