//! Everything Aurora does with NATS JetStream.
//!
//! - [`Topology`] is the only place a subject or stream name is built.
//! - [`Bus`] connects, creates streams and consumers idempotently, and publishes with a
//!   `Nats-Msg-Id`, returning only once JetStream acknowledged the message.
//! - [`consume`] runs a handler over a durable pull consumer, one message at a time per task
//!   ([`consume_batches`]: in batches): ack after work, nak with a delay on transient errors,
//!   terminate poison messages.
//! - [`Bus::incident_messages_from`] reads `INCIDENTS` in order from a stream sequence (the
//!   API's live stream and its replay).
//! - W3C trace context travels in message headers ([`trace`]).

mod client;
mod consume;
mod incident_feed;
mod topology;
pub mod trace;

pub use client::{Bus, BusError, ConsumerBacklog, MAX_ACK_PENDING, PublishReceipt};
pub use consume::{
    Batching, DeadLetter, DeadLetterSink, Delivery, HandlerError, MAX_DELIVERIES, consume,
    consume_batches,
};
pub use incident_feed::{IncidentMessage, StreamBounds};
pub use topology::{IncidentSubject, Topology, TopologyError};
