//! Sending the storm over keep-alive connections, one task and one HTTP/1.1 client per
//! connection, recording every answer's status and latency.
//!
//! Two ways: a closed loop (each connection sends its next request when the last is answered,
//! as fast as the server allows) and an open loop (request `i` is due at `start + i / rate`
//! whatever the answers do, and its latency counts from when it was due, so a slow server
//! is not excused by the client waiting for it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_chaos::payload::{self, AlertSpec, Vendor};
use chrono::{DateTime, Utc};

use crate::storm::{Planned, Planner};

/// Where the storm goes.
pub enum Target {
    /// Aurora's ingress, Alertmanager webhook route; one integration token per tenant.
    Aurora {
        /// Base URL.
        url: String,
        /// Each tenant's Alertmanager integration token.
        tokens: Vec<String>,
    },
    /// Alertmanager's own API, as Prometheus posts to it.
    Alertmanager {
        /// Base URL.
        url: String,
    },
}

impl Target {
    fn request(
        &self,
        client: &reqwest::Client,
        planned: &Planned,
        started: DateTime<Utc>,
    ) -> reqwest::RequestBuilder {
        let spec = AlertSpec {
            fingerprint: &planned.fingerprint,
            service: &planned.service,
            title: &planned.title,
            firing: planned.firing,
        };
        let (url, body) = match self {
            Target::Aurora { url, .. } => (
                format!("{url}{}", Vendor::Alertmanager.route()),
                payload::build(Vendor::Alertmanager, &[spec], "", started, None).body,
            ),
            Target::Alertmanager { url } => (
                format!("{url}/api/v2/alerts"),
                payload::alertmanager_api_body(&[spec], started),
            ),
        };
        let request = client
            .post(url)
            .header("Content-Type", "application/json")
            .body(body);
        match self {
            Target::Aurora { tokens, .. } => request.bearer_auth(&tokens[planned.tenant]),
            Target::Alertmanager { .. } => request,
        }
    }

    /// Whether an answer means the alert was taken: Aurora promises exactly 202 (stored on
    /// JetStream); Alertmanager answers 200.
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            Target::Aurora { .. } => status == 202,
            Target::Alertmanager { .. } => (200..300).contains(&status),
        }
    }
}

/// A storm: where it goes, what it sends, and when its alerts began (`startsAt`).
pub struct Storm {
    /// Where it goes.
    pub target: Target,
    /// What it sends; shared by every connection.
    pub planner: Mutex<Planner>,
    /// The alerts' start time.
    pub started: DateTime<Utc>,
}

/// What one phase's requests got.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers by HTTP status; 0 counts requests that got no answer.
    pub statuses: BTreeMap<u16, u64>,
    /// Accepted answers (see [`Target::accepts`]).
    pub accepted: u64,
    /// Every latency in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// From the phase's start to its last answer.
    pub secs: f64,
}

impl Outcome {
    /// Requests sent.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Requests answered per second.
    pub fn per_sec(&self) -> f64 {
        self.requests() as f64 / self.secs.max(1e-9)
    }

    /// The `q` quantile (0 to 1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let last = self.latencies_us.len().checked_sub(1)?;
        let at = ((last as f64) * q).round() as usize;
        Some(f64::from(self.latencies_us[at]) / 1000.0)
    }

    fn merge(&mut self, other: Outcome) {
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.accepted += other.accepted;
        self.latencies_us.extend(other.latencies_us);
        self.secs = self.secs.max(other.secs);
    }
}

/// One connection's sender.
struct Connection {
    client: reqwest::Client,
    storm: Arc<Storm>,
    start: Instant,
    outcome: Outcome,
}

impl Connection {
    fn new(storm: Arc<Storm>, start: Instant) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Self {
            client,
            storm,
            start,
            outcome: Outcome::default(),
        }
    }

    /// Plans and sends one request; its latency counts from `due`.
    async fn send(&mut self, due: Instant) {
        let storm = &self.storm;
        let planned = storm.planner.lock().expect("not poisoned").next();
        let request = storm.target.request(&self.client, &planned, storm.started);
        // The body is read to the end, so the connection is free for the next request.
        let status = match request.send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                answer.bytes().await.map_or(0, |_| status)
            }
            Err(_) => 0,
        };
        let accepted = storm.target.accepts(status);
        storm
            .planner
            .lock()
            .expect("not poisoned")
            .settle(planned.alert, accepted);
        let latency = due.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        *self.outcome.statuses.entry(status).or_default() += 1;
        self.outcome.accepted += u64::from(accepted);
        self.outcome.latencies_us.push(latency);
        self.outcome.secs = self.start.elapsed().as_secs_f64();
    }
}

/// As fast as the target answers, over `connections` connections, for `secs` seconds.
pub async fn closed_loop(storm: Arc<Storm>, connections: usize, secs: f64) -> Outcome {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let mut connection = Connection::new(storm.clone(), start);
        tasks.spawn(async move {
            while Instant::now() < end {
                connection.send(Instant::now()).await;
            }
            connection.outcome
        });
    }
    gather(tasks).await
}

/// `rate` requests per second, offered whatever the answers do, over `connections`
/// connections, for `secs` seconds.
pub async fn open_loop(storm: Arc<Storm>, connections: usize, rate: f64, secs: f64) -> Outcome {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let mut connection = Connection::new(storm.clone(), start);
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let due = start + Duration::from_secs_f64(index as f64 / rate);
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                connection.send(due).await;
            }
            connection.outcome
        });
    }
    gather(tasks).await
}

async fn gather(mut tasks: tokio::task::JoinSet<Outcome>) -> Outcome {
    let mut total = Outcome::default();
    while let Some(outcome) = tasks.join_next().await {
        total.merge(outcome.expect("a sender does not panic"));
    }
    total.latencies_us.sort_unstable();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_sorted_latencies() {
        let outcome = Outcome {
            latencies_us: (1..=100).map(|ms| ms * 1000).collect(),
            ..Outcome::default()
        };
        assert_eq!(outcome.quantile_ms(0.5), Some(51.0));
        assert_eq!(outcome.quantile_ms(0.99), Some(99.0));
        assert_eq!(Outcome::default().quantile_ms(0.5), None);
    }
}
