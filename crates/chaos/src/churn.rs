//! Incident changes made through the API while it is killed. Each PATCH commits the change
//! with its timeline event and then publishes it; a `kill -9` between the two must lose
//! nothing: the event waits in the outbox and the correlator's relay publishes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::StreamExt;
use tokio::task::JoinHandle;

/// PATCHes in flight at once, so a kill finds some between their commit and their publish.
const AT_ONCE: usize = 8;

/// The running churn.
pub struct Churn {
    stop: Arc<AtomicBool>,
    changed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Churn {
    /// Starts switching the open tab of `token`'s newest incidents back and forth through the
    /// API at `api_url` (a change that leaves the incidents' outcome alone); requests to a
    /// dead API just fail.
    pub fn start(http: reqwest::Client, api_url: String, token: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let changed = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, changed) = (stop.clone(), changed.clone());
            async move {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let tab = if round.is_multiple_of(2) {
                        "chat"
                    } else {
                        "thoughts"
                    };
                    let ids = incident_ids(&http, &api_url, &token).await;
                    if ids.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                    futures::stream::iter(ids)
                        .map(|id| {
                            let request = http
                                .patch(format!("{api_url}/api/incidents/{id}"))
                                .bearer_auth(&token)
                                .json(&serde_json::json!({ "active_tab": tab }))
                                .send();
                            async move { request.await.is_ok_and(|r| r.status().is_success()) }
                        })
                        .buffer_unordered(AT_ONCE)
                        .for_each(|ok| {
                            if ok {
                                changed.fetch_add(1, Ordering::Relaxed);
                            }
                            async {}
                        })
                        .await;
                }
            }
        });
        Self {
            stop,
            changed,
            task,
        }
    }

    /// How many changes the API confirmed so far.
    pub fn changed(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    /// Stops it; answers how many changes the API confirmed.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.changed.load(Ordering::Relaxed)
    }
}

/// The ids of the user's newest incidents, none while the API is down.
async fn incident_ids(http: &reqwest::Client, api_url: &str, token: &str) -> Vec<String> {
    let Ok(answer) = http
        .get(format!("{api_url}/api/incidents?limit=50"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return Vec::new();
    };
    let page: serde_json::Value = answer.json().await.unwrap_or_default();
    page["incidents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|incident| incident["id"].as_str().map(str::to_owned))
        .collect()
}
