//! Connecting, stream and consumer setup, and publishing.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use serde::Serialize;

use crate::{Topology, trace};

/// Why the bus could not do something.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The server could not be reached.
    #[error("cannot connect to NATS: {0}")]
    Connect(#[source] async_nats::ConnectError),
    /// A stream or consumer could not be created or found.
    #[error("cannot set up {what}: {detail}")]
    Setup {
        /// The stream or consumer.
        what: String,
        /// The server's answer.
        detail: String,
    },
    /// Reading a stream failed part-way.
    #[error("cannot read {what}: {detail}")]
    Read {
        /// The stream.
        what: String,
        /// The server's or the client's answer.
        detail: String,
    },
    /// JetStream did not acknowledge a publish; the message may not be stored.
    #[error("JetStream did not acknowledge the message on {subject}: {detail}")]
    Publish {
        /// Where it was sent.
        subject: String,
        /// The server's answer.
        detail: String,
    },
}

/// A durable consumer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerBacklog {
    /// Messages of the stream not yet delivered to it.
    pub pending: u64,
    /// Messages delivered and not yet acknowledged.
    pub ack_pending: u64,
    /// Messages delivered more than once and not yet acknowledged.
    pub redelivered: u64,
}

/// What JetStream answered to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The message's sequence in its stream.
    pub sequence: u64,
    /// True when JetStream dropped it as a duplicate of an earlier `Nats-Msg-Id`.
    pub duplicate: bool,
}

/// A JetStream connection with Aurora's names.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    topology: Topology,
    /// Copies of each stream a JetStream cluster keeps (1 on a single server).
    replicas: usize,
}

/// How long JetStream remembers a `Nats-Msg-Id` to drop a repeat publish.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(2 * 60);
/// How long a publish whose acknowledgement was lost keeps being retried (with its
/// `Nats-Msg-Id`) before the caller is told it failed; well inside [`DUPLICATE_WINDOW`], so a
/// retry of a stored message is always recognised.
pub const PUBLISH_PATIENCE: Duration = Duration::from_secs(15);
/// How long messages stay, so a day of alerts can be replayed after an outage.
const RETENTION: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// Messages a durable consumer may have handed out unacknowledged, over all its replicas.
/// NATS' default, 1,000, would cap one correlator's batch at 1,000 and two replicas' at 500
/// each; this leaves room for ten replicas' batches at the default size.
pub const MAX_ACK_PENDING: i64 = 20_000;

impl Bus {
    /// Connects to NATS and creates the streams if they do not exist, one copy each (a single
    /// server).
    pub async fn connect(url: &str, topology: Topology) -> Result<Self, BusError> {
        Self::connect_replicated(url, topology, 1).await
    }

    /// Connects to NATS and creates the streams if they do not exist with `replicas` copies
    /// each (`nats.stream_replicas`: 3 on a three-node JetStream cluster, so a message whose
    /// publish was acknowledged survives the loss of a node). Existing streams keep theirs:
    /// change a live stream's replicas with `nats stream edit`.
    pub async fn connect_replicated(
        url: &str,
        topology: Topology,
        replicas: usize,
    ) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("aurora")
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(BusError::Connect)?;
        let bus = Self {
            jetstream: jetstream::new(client.clone()),
            client,
            topology,
            replicas,
        };
        bus.ensure_streams().await?;
        Ok(bus)
    }

    /// The names this bus uses.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True while the connection to the server is up (readiness).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates `ALERTS` and `INCIDENTS` if missing; harmless to repeat.
    async fn ensure_streams(&self) -> Result<(), BusError> {
        for (name, subjects) in [
            (
                self.topology.alerts_stream(),
                self.topology.all_alert_subjects(),
            ),
            (
                self.topology.incidents_stream(),
                self.topology.all_incident_subjects(),
            ),
        ] {
            let config = stream::Config {
                name: name.clone(),
                subjects: vec![subjects],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: RETENTION,
                num_replicas: self.replicas,
                ..Default::default()
            };
            self.jetstream
                .get_or_create_stream(config)
                .await
                .map_err(|err| BusError::Setup {
                    what: format!("stream {name}"),
                    detail: err.to_string(),
                })?;
        }
        Ok(())
    }

    /// Creates (or finds) a durable pull consumer with explicit acks, shared by all replicas,
    /// that starts at the beginning of the stream when it is first created.
    /// One made by an earlier version with a lower [`MAX_ACK_PENDING`] is raised to it.
    pub async fn durable_consumer(
        &self,
        stream_name: &str,
        durable: &str,
        filter_subject: String,
        ack_wait: Duration,
    ) -> Result<consumer::PullConsumer, BusError> {
        self.durable_consumer_from(
            stream_name,
            durable,
            filter_subject,
            ack_wait,
            consumer::DeliverPolicy::All,
        )
        .await
    }

    /// [`Bus::durable_consumer`] that, when first created, takes only messages published from
    /// then on: a service added to a running deployment (the notifier) does not act on the
    /// days of history the stream keeps. Once created, it resumes where it stopped.
    pub async fn durable_consumer_from_now(
        &self,
        stream_name: &str,
        durable: &str,
        filter_subject: String,
        ack_wait: Duration,
    ) -> Result<consumer::PullConsumer, BusError> {
        self.durable_consumer_from(
            stream_name,
            durable,
            filter_subject,
            ack_wait,
            consumer::DeliverPolicy::New,
        )
        .await
    }

    async fn durable_consumer_from(
        &self,
        stream_name: &str,
        durable: &str,
        filter_subject: String,
        ack_wait: Duration,
        deliver_policy: consumer::DeliverPolicy,
    ) -> Result<consumer::PullConsumer, BusError> {
        let setup_error = |err: &dyn std::fmt::Display| BusError::Setup {
            what: format!("consumer {durable} on {stream_name}"),
            detail: err.to_string(),
        };
        let stream = self
            .jetstream
            .get_stream(stream_name)
            .await
            .map_err(|e| setup_error(&e))?;
        let config = consumer::pull::Config {
            durable_name: Some(durable.to_owned()),
            filter_subject,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            max_ack_pending: MAX_ACK_PENDING,
            deliver_policy,
            ..Default::default()
        };
        let existing = stream
            .get_or_create_consumer(durable, config.clone())
            .await
            .map_err(|e| setup_error(&e))?;
        if existing.cached_info().config.max_ack_pending >= MAX_ACK_PENDING {
            return Ok(existing);
        }
        // Creating a durable consumer again under its name updates what may change, and keeps
        // its position in the stream.
        match stream.create_consumer(config).await {
            Ok(updated) => Ok(updated),
            Err(err) => {
                tracing::warn!(
                    consumer = durable,
                    error = %err,
                    "could not raise the consumer's max_ack_pending; its batches stay smaller"
                );
                Ok(existing)
            }
        }
    }

    /// When a stream was created, in microseconds since the Unix epoch: with a message's
    /// stream sequence, the order in which JetStream accepted it, also across a recreation of
    /// the stream (whose sequences start again at 1).
    pub async fn stream_epoch(&self, stream_name: &str) -> Result<i64, BusError> {
        let setup_error = |err: &dyn std::fmt::Display| BusError::Setup {
            what: format!("stream {stream_name}"),
            detail: err.to_string(),
        };
        let mut stream = self
            .jetstream
            .get_stream(stream_name)
            .await
            .map_err(|e| setup_error(&e))?;
        let info = stream.info().await.map_err(|e| setup_error(&e))?;
        i64::try_from(info.created.unix_timestamp_nanos() / 1000).map_err(|e| setup_error(&e))
    }

    /// How far a durable consumer is behind, from the server's consumer info.
    pub async fn consumer_backlog(
        &self,
        stream_name: &str,
        consumer: &str,
    ) -> Result<ConsumerBacklog, BusError> {
        let read_error = |err: &dyn std::fmt::Display| BusError::Read {
            what: format!("consumer {consumer} of {stream_name}"),
            detail: err.to_string(),
        };
        let stream = self
            .jetstream
            .get_stream(stream_name)
            .await
            .map_err(|e| read_error(&e))?;
        let info = stream
            .consumer_info(consumer)
            .await
            .map_err(|e| read_error(&e))?;
        Ok(ConsumerBacklog {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
        })
    }

    /// When the first message a durable consumer has not been sent yet was stored:
    /// everything stored before it has been sent to the consumer. `None` when it has been sent
    /// everything.
    pub async fn first_unsent(
        &self,
        stream_name: &str,
        consumer: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, BusError> {
        let read_error = |err: &dyn std::fmt::Display| BusError::Read {
            what: format!("consumer {consumer} of {stream_name}"),
            detail: err.to_string(),
        };
        let stream = self
            .jetstream
            .get_stream(stream_name)
            .await
            .map_err(|e| read_error(&e))?;
        let info = stream
            .consumer_info(consumer)
            .await
            .map_err(|e| read_error(&e))?;
        if info.num_pending == 0 {
            return Ok(None);
        }
        let message = stream
            .get_raw_message(info.delivered.stream_sequence + 1)
            .await
            .map_err(|e| read_error(&e))?;
        Ok(chrono::DateTime::from_timestamp_nanos(
            i64::try_from(message.time.unix_timestamp_nanos()).unwrap_or(i64::MAX),
        )
        .into())
    }

    /// Publishes `message` as JSON with a `Nats-Msg-Id` and the current trace context, and
    /// returns once JetStream has stored it (or recognised it as a duplicate).
    pub async fn publish<T: Serialize>(
        &self,
        subject: String,
        message_id: &str,
        message: &T,
    ) -> Result<PublishReceipt, BusError> {
        let payload = serde_json::to_vec(message).expect("bus messages always serialize");
        self.publish_raw(subject, message_id, payload).await
    }

    /// Publishes bytes as they are (a dead letter's replay), like [`Bus::publish`].
    ///
    /// When NATS is not connected it fails at once, sending nothing (a disconnected client
    /// would buffer the message and send it later, after the caller was told it failed).
    /// Once a publish went out but its acknowledgement did not come back (the server went
    /// down right then), the message may or may not be stored: it is sent again with the same
    /// `Nats-Msg-Id` as soon as the connection is back, for up to [`PUBLISH_PATIENCE`], so that
    /// JetStream's answer (stored, or a duplicate of what it stored) settles it.
    pub async fn publish_raw(
        &self,
        subject: String,
        message_id: &str,
        payload: Vec<u8>,
    ) -> Result<PublishReceipt, BusError> {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id);
        trace::inject_current(&mut headers);
        let payload = bytes::Bytes::from(payload);
        let publish_error = |detail: String| BusError::Publish {
            subject: subject.clone(),
            detail,
        };
        let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
        let mut unsettled: Option<String> = None;
        loop {
            let connected =
                self.client.connection_state() == async_nats::connection::State::Connected;
            let outcome = if connected {
                match self
                    .jetstream
                    .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                    .await
                {
                    Ok(ack) => ack.await.map_err(|err| (true, err.to_string())),
                    Err(err) => Err((false, err.to_string())),
                }
            } else {
                Err((false, "not connected to NATS".to_owned()))
            };
            match outcome {
                Ok(ack) => {
                    return Ok(PublishReceipt {
                        sequence: ack.sequence,
                        duplicate: ack.duplicate,
                    });
                }
                Err((went_out, detail)) => {
                    if went_out {
                        unsettled = Some(detail.clone());
                    }
                    let Some(first) = &unsettled else {
                        return Err(publish_error(detail));
                    };
                    if tokio::time::Instant::now() >= deadline {
                        return Err(publish_error(format!(
                            "{first}; still unsettled after {} s ({detail})",
                            PUBLISH_PATIENCE.as_secs()
                        )));
                    }
                    // Waiting for the connection to come back, not for a result.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Publishes an incident change on `incidents.<change>`, once per change.
    pub async fn publish_incident_change(
        &self,
        change: &aurora_domain::IncidentChanged,
    ) -> Result<PublishReceipt, BusError> {
        let subject = self
            .topology
            .incident_subject(crate::IncidentSubject::for_change(change.change));
        self.publish(subject, &change.message_id(), change).await
    }

    /// Tells every ingress that an integration changed (revoked, secrets replaced), so none
    /// keeps accepting what it cached. Returns once the server has the message.
    pub async fn announce_integration_change(
        &self,
        change: &aurora_domain::IntegrationChanged,
    ) -> Result<(), BusError> {
        let subject = self.topology.integration_changes_subject();
        let publish_error = |detail: String| BusError::Publish {
            subject: subject.clone(),
            detail,
        };
        let payload = serde_json::to_vec(change).expect("bus messages always serialize");
        self.client
            .publish(subject.clone(), payload.into())
            .await
            .map_err(|err| publish_error(err.to_string()))?;
        self.client
            .flush()
            .await
            .map_err(|err| publish_error(err.to_string()))
    }

    /// Integration changes as they are announced, for an ingress' cache; the server has the
    /// subscription when this returns.
    pub async fn subscribe_integration_changes(&self) -> Result<async_nats::Subscriber, BusError> {
        let setup_error = |detail: String| BusError::Setup {
            what: "integration changes subscription".into(),
            detail,
        };
        let subscriber = self
            .client
            .subscribe(self.topology.integration_changes_subject())
            .await
            .map_err(|err| setup_error(err.to_string()))?;
        self.client
            .flush()
            .await
            .map_err(|err| setup_error(err.to_string()))?;
        Ok(subscriber)
    }

    /// How many times this client has connected to the server (reconnects included).
    pub fn connects(&self) -> u64 {
        self.client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The JetStream context, for tests and tools that inspect streams.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }
}
