//! The load generator: signed webhooks at a steady rate, a mix of new, repeated, correlated
//! and resolved alerts, retried as vendors retry, with every attempt and answer recorded.
//!
//! Alerts come in groups: one service of one user, sent by one vendor. A group's alerts
//! correlate into one incident (same service, same environment); groups never correlate
//! with each other (other services, titles of unrelated words). A group's first alert never
//! resolves, so its incident stays open and the outcome does not depend on arrival order.
//! An alert is resolved only once everything sent for it is stored: JetStream redelivers a
//! message that was in flight when a worker died after newer ones, and a firing applied after
//! its own resolve would leave the alert firing (a separate issue) — vendors, too, resolve
//! minutes after they fire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;

use aurora_chaos::payload::{self, AlertSpec, Vendor};

/// Words titles are made of; three per group, so two groups' titles share little.
const WORDS: &[&str] = &[
    "amber", "basalt", "cobalt", "dune", "ember", "fjord", "granite", "harbor", "iris", "juniper",
    "kelp", "lagoon", "meadow", "nebula", "onyx", "prairie", "quartz", "reef", "sierra", "tundra",
    "umber", "violet", "willow", "xenon", "yarrow", "zephyr", "atlas", "beacon", "cinder", "delta",
    "echo", "falcon", "glacier", "helix", "indigo", "jasper",
];

/// One user's credentials for each vendor.
#[derive(Clone)]
pub struct Tenant {
    /// Webhook token and signing secret, by vendor.
    pub integrations: HashMap<&'static str, (String, Option<String>)>,
}

/// A service of one user whose alerts come from one vendor.
struct Group {
    user: usize,
    vendor: Vendor,
    service: String,
    title: String,
    keys: Vec<usize>,
    /// Seconds into the run when it starts sending.
    opens_at: f64,
}

/// One alert, as its vendor keys it.
pub struct Key {
    /// Its group.
    pub group: usize,
    fingerprint: String,
    title: String,
    /// A resolve has been sent: nothing more is.
    resolved: bool,
    /// Webhooks for it not yet answered 202.
    in_flight: u32,
    /// Webhooks answered 202 whose delivery is not yet seen stored.
    unstored: u32,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 202: durably on JetStream.
    Accepted,
    /// Any other HTTP answer.
    Answered(u16),
    /// No connection (the ingress is not listening).
    Unreachable,
    /// Connected, but no answer came (the request was cut in flight, or timed out).
    Cut,
}

/// One attempt to deliver a webhook.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// Seconds into the run when it was sent.
    pub start: f64,
    /// … and when it ended.
    pub end: f64,
    /// How it ended.
    pub outcome: Outcome,
}

/// One webhook and everything that happened to it.
pub struct Sent {
    /// The user it was for.
    pub user: usize,
    /// Its alerts: key and whether it fired.
    pub alerts: Vec<(usize, bool)>,
    /// The run phase it was planned in.
    pub phase: usize,
    /// Every attempt.
    pub attempts: Vec<Attempt>,
    /// The delivery id of the 202.
    pub delivery_id: Option<String>,
    /// Given up on (a 4xx answer, or the retry deadline passed).
    pub abandoned: bool,
}

/// Everything the generator knows: the plan and the ledger.
pub struct State {
    groups: Vec<Group>,
    /// Every alert key.
    pub keys: Vec<Key>,
    /// Every webhook, in the order planned.
    pub sent: Vec<Sent>,
    /// Delivery id → webhook, for 202s not yet seen stored.
    pub unstored: HashMap<String, usize>,
    /// The phase new webhooks belong to.
    pub phase: usize,
    rng: StdRng,
    max_keys: usize,
}

/// The generator's settings.
#[derive(Debug, Clone, Copy)]
pub struct LoadSettings {
    /// Alerts per second offered.
    pub alerts_per_second: f64,
    /// Groups (incidents) per user.
    pub groups_per_user: usize,
    /// Most alerts in one group (below `correlation.max_alerts_per_incident`).
    pub max_keys_per_group: usize,
    /// Seconds over which the groups start, so incidents open throughout the run.
    pub spread_secs: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Seed of the plan: the same seed gives the same input.
    pub seed: u64,
}

impl State {
    /// A plan of `users` users' groups.
    pub fn new(users: usize, run: &str, settings: &LoadSettings) -> Self {
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let mut groups = Vec::new();
        let total = users * settings.groups_per_user;
        for index in 0..total {
            let words: Vec<&str> = WORDS.choose_multiple(&mut rng, 3).copied().collect();
            groups.push(Group {
                user: index % users,
                vendor: Vendor::ALL[(index / users) % Vendor::ALL.len()],
                service: format!("chaos-{run}-{index}"),
                title: format!("{} {} {} failing", words[0], words[1], words[2]),
                keys: Vec::new(),
                opens_at: settings.spread_secs * index as f64 / total as f64,
            });
        }
        Self {
            groups,
            keys: Vec::new(),
            sent: Vec::new(),
            unstored: HashMap::new(),
            phase: 0,
            rng,
            max_keys: settings.max_keys_per_group,
        }
    }

    fn new_key(&mut self, group: usize) -> usize {
        let index = self.groups[group].keys.len();
        let vendor = self.groups[group].vendor;
        let raw: u64 = self.rng.random();
        let fingerprint = match vendor {
            Vendor::Datadog => (raw >> 12).to_string(),
            Vendor::Pagerduty => format!("Q{raw:016X}"),
            Vendor::Grafana | Vendor::Alertmanager => format!("{raw:016x}"),
        };
        let title = format!("{} #{index}", self.groups[group].title);
        self.keys.push(Key {
            group,
            fingerprint,
            title,
            resolved: false,
            in_flight: 0,
            unstored: 0,
        });
        let key = self.keys.len() - 1;
        self.groups[group].keys.push(key);
        key
    }

    /// Picks the alerts of the next webhook: for an open group, a new alert, a repeat, or
    /// the resolve of an alert whose every webhook is stored.
    fn plan(&mut self, now: f64) -> Option<(usize, Vec<(usize, bool)>)> {
        let open = self.groups.partition_point(|group| group.opens_at <= now);
        let group = self.rng.random_range(0..open.max(1));
        let vendor = self.groups[group].vendor;
        let count = self.rng.random_range(1..=vendor.max_alerts());
        let mut alerts: Vec<(usize, bool)> = Vec::with_capacity(count);
        for _ in 0..count {
            let keys = &self.groups[group].keys;
            let roll: f64 = self.rng.random();
            let choice = if keys.is_empty() || (roll < 0.15 && keys.len() < self.max_keys) {
                Some((self.new_key(group), true))
            } else if roll < 0.30 {
                let resolvable: Vec<usize> = keys[1..]
                    .iter()
                    .copied()
                    .filter(|&k| {
                        let key = &self.keys[k];
                        !key.resolved && key.in_flight == 0 && key.unstored == 0
                    })
                    .filter(|k| !alerts.iter().any(|(other, _)| other == k))
                    .collect();
                resolvable.choose(&mut self.rng).map(|&k| (k, false))
            } else {
                let firing: Vec<usize> = keys
                    .iter()
                    .copied()
                    .filter(|&k| !self.keys[k].resolved)
                    .filter(|k| !alerts.iter().any(|(other, _)| other == k))
                    .collect();
                firing.choose(&mut self.rng).map(|&k| (k, true))
            };
            if let Some((key, firing)) = choice {
                let key_state = &mut self.keys[key];
                key_state.in_flight += 1;
                if !firing {
                    key_state.resolved = true;
                }
                alerts.push((key, firing));
            }
        }
        (!alerts.is_empty()).then_some((group, alerts))
    }

    /// Records a webhook's delivery as stored: its alerts may be resolved now.
    pub fn mark_stored(&mut self, delivery_id: &str) {
        if let Some(index) = self.unstored.remove(delivery_id) {
            for &(key, _) in &self.sent[index].alerts {
                self.keys[key].unstored -= 1;
            }
        }
    }
}

/// The generator: plans webhooks at the offered rate and sends each until it is accepted.
pub struct Generator {
    /// Shared with the senders, the store watcher and the checks.
    pub state: Arc<Mutex<State>>,
    tenants: Arc<Vec<Tenant>>,
    ingress: String,
    http: reqwest::Client,
    epoch: Instant,
    started: DateTime<Utc>,
    settings: LoadSettings,
}

impl Generator {
    /// A generator for these users, sending to `ingress`.
    pub fn new(
        state: Arc<Mutex<State>>,
        tenants: Vec<Tenant>,
        ingress: String,
        epoch: Instant,
        settings: LoadSettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(settings.concurrency)
            .build()
            .expect("a plain HTTP client builds");
        Self {
            state,
            tenants: Arc::new(tenants),
            ingress,
            http,
            epoch,
            started: Utc::now(),
            settings,
        }
    }

    /// Sends until `until` (seconds into the run), then waits for every webhook to be answered
    /// 202 or given up (at `give_up`).
    pub async fn run(&self, until: f64, give_up: f64) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut planned_alerts = 0.0;
        let mut baseline = self.now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        while self.now() < until {
            tick.tick().await;
            let now = self.now();
            let due = (now - baseline) * self.settings.alerts_per_second;
            if due - planned_alerts > self.settings.alerts_per_second {
                // More than a second behind (every sender busy retrying): do not burst later.
                baseline = now - planned_alerts / self.settings.alerts_per_second;
            }
            while planned_alerts < (now - baseline) * self.settings.alerts_per_second {
                let permit = permits.clone().acquire_owned().await.expect("never closed");
                let Some(index) = self.plan_one() else { break };
                planned_alerts += self.state.lock().expect("not poisoned").sent[index]
                    .alerts
                    .len() as f64;
                let sender = self.sender();
                tasks.spawn(async move {
                    sender.deliver(index, give_up).await;
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn plan_one(&self) -> Option<usize> {
        let now = self.now();
        let mut state = self.state.lock().expect("not poisoned");
        let (group, alerts) = state.plan(now)?;
        let user = state.groups[group].user;
        let phase = state.phase;
        state.sent.push(Sent {
            user,
            alerts,
            phase,
            attempts: Vec::new(),
            delivery_id: None,
            abandoned: false,
        });
        Some(state.sent.len() - 1)
    }

    fn sender(&self) -> Sender {
        Sender {
            state: self.state.clone(),
            tenants: self.tenants.clone(),
            ingress: self.ingress.clone(),
            http: self.http.clone(),
            epoch: self.epoch,
            started: self.started,
        }
    }
}

/// Delivers one webhook, retrying as a vendor does.
struct Sender {
    state: Arc<Mutex<State>>,
    tenants: Arc<Vec<Tenant>>,
    ingress: String,
    http: reqwest::Client,
    epoch: Instant,
    started: DateTime<Utc>,
}

impl Sender {
    async fn deliver(&self, index: usize, give_up: f64) {
        // The vendor's own id for this delivery, the same on every retry.
        let vendor_delivery_id = uuid::Uuid::new_v4().to_string();
        let (vendor, user, specs) = {
            let state = self.state.lock().expect("not poisoned");
            let sent = &state.sent[index];
            let group = &state.groups[state.keys[sent.alerts[0].0].group];
            let specs: Vec<(String, String, String, bool)> = sent
                .alerts
                .iter()
                .map(|&(key, firing)| {
                    let key = &state.keys[key];
                    (
                        key.fingerprint.clone(),
                        group.service.clone(),
                        key.title.clone(),
                        firing,
                    )
                })
                .collect();
            (group.vendor, sent.user, specs)
        };
        let alerts: Vec<AlertSpec<'_>> = specs
            .iter()
            .map(|(fingerprint, service, title, firing)| AlertSpec {
                fingerprint,
                service,
                title,
                firing: *firing,
            })
            .collect();
        let (token, secret) = &self.tenants[user].integrations[vendor.source()];
        let url = format!("{}{}", self.ingress, vendor.route());
        let mut backoff = Duration::from_millis(100);
        loop {
            // Built per attempt: Grafana's signature carries the time it was made.
            let request = payload::build(
                vendor,
                &alerts,
                &vendor_delivery_id,
                self.started,
                secret.as_deref(),
            );
            let start = self.epoch.elapsed().as_secs_f64();
            let mut builder = self
                .http
                .post(&url)
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .body(request.body);
            for (name, value) in request.headers {
                builder = builder.header(name, value);
            }
            let (outcome, delivery_id) = match builder.send().await {
                Ok(answer) if answer.status().as_u16() == 202 => {
                    let body: serde_json::Value = answer.json().await.unwrap_or_default();
                    let id = body["delivery_id"].as_str().map(str::to_owned);
                    (Outcome::Accepted, id)
                }
                Ok(answer) => (Outcome::Answered(answer.status().as_u16()), None),
                Err(err) if err.is_connect() => (Outcome::Unreachable, None),
                Err(_) => (Outcome::Cut, None),
            };
            let end = self.epoch.elapsed().as_secs_f64();
            let refused_for_good = matches!(outcome, Outcome::Answered(code) if (400..500).contains(&code) && code != 408 && code != 429);
            let finished = outcome == Outcome::Accepted || refused_for_good || end > give_up;
            self.record(
                index,
                Attempt {
                    start,
                    end,
                    outcome,
                },
                finished,
                delivery_id,
            );
            if finished {
                return;
            }
            // A vendor's retry back-off, not a wait for a result.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

impl Sender {
    /// Records an attempt; once the webhook is finished, its alerts are no longer in flight,
    /// and an accepted one waits to be seen stored.
    fn record(&self, index: usize, attempt: Attempt, finished: bool, delivery_id: Option<String>) {
        let mut state = self.state.lock().expect("not poisoned");
        state.sent[index].attempts.push(attempt);
        if !finished {
            return;
        }
        let accepted = attempt.outcome == Outcome::Accepted && delivery_id.is_some();
        let keys: Vec<usize> = state.sent[index]
            .alerts
            .iter()
            .map(|&(key, _)| key)
            .collect();
        for key in keys {
            state.keys[key].in_flight -= 1;
            if accepted {
                state.keys[key].unstored += 1;
            }
        }
        match delivery_id.filter(|_| accepted) {
            Some(id) => {
                state.unstored.insert(id.clone(), index);
                state.sent[index].delivery_id = Some(id);
            }
            None => state.sent[index].abandoned = true,
        }
    }
}
