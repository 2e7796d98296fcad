//! Reading the `INCIDENTS` stream in order, by stream sequence: the API's live stream follows
//! it, and replays from it what a reconnecting client missed. Ephemeral ordered consumers, no
//! acknowledgements: reading changes nothing for the durable consumers.

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::{Bus, BusError};

/// One message of the `INCIDENTS` stream with its place in it.
#[derive(Debug, Clone)]
pub struct IncidentMessage {
    /// The order in which JetStream accepted it; unique within the stream, and the same for
    /// every reader, so it can name a position to resume from.
    pub sequence: u64,
    /// The change, as the last part of its subject names it (`created`, `updated` …).
    pub kind: String,
    /// The message as published (JSON).
    pub payload: Bytes,
}

/// The sequences a stream holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamBounds {
    /// The oldest message still kept (older ones aged out); above `last` when none is kept.
    pub first: u64,
    /// The newest message ever stored; 0 before the first.
    pub last: u64,
}

impl Bus {
    /// What the `INCIDENTS` stream holds now.
    pub async fn incident_stream_bounds(&self) -> Result<StreamBounds, BusError> {
        let name = self.topology().incidents_stream();
        let setup_error = |err: &dyn std::fmt::Display| BusError::Setup {
            what: format!("stream {name}"),
            detail: err.to_string(),
        };
        let mut stream = self
            .jetstream()
            .get_stream(&name)
            .await
            .map_err(|e| setup_error(&e))?;
        let state = &stream.info().await.map_err(|e| setup_error(&e))?.state;
        Ok(StreamBounds {
            first: state.first_sequence,
            last: state.last_sequence,
        })
    }

    /// Every incident message from stream sequence `start` on (at least 1), oldest first,
    /// without gaps: the ordered consumer underneath recreates itself where it left off when
    /// the server loses it. Waits for messages not yet published. The stream ends, or yields
    /// an error, only when the consumer cannot carry on; start again from the next sequence.
    pub async fn incident_messages_from(
        &self,
        start: u64,
    ) -> Result<BoxStream<'static, Result<IncidentMessage, BusError>>, BusError> {
        let name = self.topology().incidents_stream();
        let setup_error = |err: &dyn std::fmt::Display| BusError::Setup {
            what: format!("a reader of {name}"),
            detail: err.to_string(),
        };
        let stream = self
            .jetstream()
            .get_stream(&name)
            .await
            .map_err(|e| setup_error(&e))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| setup_error(&e))?;
        let messages = consumer.messages().await.map_err(|e| setup_error(&e))?;
        Ok(messages
            .map(move |message| {
                let read_error = |err: &dyn std::fmt::Display| BusError::Read {
                    what: name.clone(),
                    detail: err.to_string(),
                };
                let message = message.map_err(|e| read_error(&e))?;
                let sequence = message.info().map_err(|e| read_error(&e))?.stream_sequence;
                let kind = message
                    .subject
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                Ok(IncidentMessage {
                    sequence,
                    kind,
                    payload: message.message.payload,
                })
            })
            .boxed())
    }
}
