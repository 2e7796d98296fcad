//! Fresh stream and subject names per test on the real NATS server.

use aurora_bus::{Bus, Topology};
use futures::TryStreamExt;

use crate::{block_on_cleanup, unique_suffix};

/// A bus whose streams and subjects carry a prefix of their own; its streams are deleted when
/// this value is dropped.
pub struct TestBus {
    /// The connected bus, streams created.
    pub bus: Bus,
    /// The prefix, for services started by the test (`nats.prefix`).
    pub prefix: String,
    /// The server URL.
    pub url: String,
}

impl TestBus {
    /// Connects and creates this test's streams.
    pub async fn new() -> Self {
        let url = std::env::var("AURORA_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
        let prefix = format!("t{}", unique_suffix());
        let topology = Topology::new(Some(&prefix)).expect("a generated prefix is valid");
        let bus = Bus::connect(&url, topology)
            .await
            .unwrap_or_else(|err| panic!("NATS at {url}: {err}"));
        Self { bus, prefix, url }
    }

    /// How many messages a stream of this test holds.
    pub async fn stream_len(&self, stream: &str) -> u64 {
        let mut stream = self
            .bus
            .jetstream()
            .get_stream(stream)
            .await
            .expect("the test's stream exists");
        stream.info().await.expect("stream info").state.messages
    }

    /// The payloads of a stream's messages on `subject`, oldest first, decoded as JSON.
    pub async fn messages(&self, stream: &str, subject: &str) -> Vec<serde_json::Value> {
        let stream = self
            .bus
            .jetstream()
            .get_stream(stream)
            .await
            .expect("the test's stream exists");
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                ..Default::default()
            })
            .await
            .expect("an ordered consumer can be created");
        let pending = consumer.cached_info().num_pending;
        let mut messages = consumer.messages().await.expect("messages");
        let mut out = Vec::new();
        while (out.len() as u64) < pending {
            let Some(message) = messages.try_next().await.expect("message") else {
                break;
            };
            out.push(serde_json::from_slice(&message.payload).expect("bus messages are JSON"));
        }
        out
    }
}

impl TestBus {
    /// The incident messages published on one subject, oldest first.
    pub async fn incident_messages(
        &self,
        subject: aurora_bus::IncidentSubject,
    ) -> Vec<serde_json::Value> {
        let topology = self.bus.topology();
        self.messages(
            &topology.incidents_stream(),
            &topology.incident_subject(subject),
        )
        .await
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let jetstream = self.bus.jetstream().clone();
        let streams = [
            self.bus.topology().alerts_stream(),
            self.bus.topology().incidents_stream(),
        ];
        block_on_cleanup(async move {
            for stream in streams {
                let _ = jetstream.delete_stream(&stream).await;
            }
        });
    }
}
