//! The notifier under chaos: every user's incidents go to a local Slack and PagerDuty
//! stand-in, the first user's also to a webhook receiver; the notifier is killed with
//! deliveries in flight. Afterwards every incident must have exactly one Slack message showing
//! its final status and one threaded summary per analysis, PagerDuty must be left in the
//! incident's state, and every change of the first user's incidents must have reached the
//! webhook.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aurora_e2e::saas::{SLACK_TOKEN, StandIns};
use serde_json::Value;
use uuid::Uuid;

use crate::db::Reader;

/// Each answer of the stand-ins takes this long, so deliveries are in flight when the
/// notifier is killed.
const LATENCY: Duration = Duration::from_millis(40);
const CHANNEL: &str = "C0CHAOS001";
const WEBHOOK_SECRET: &str = "chaos-webhook-secret";

/// The stand-ins, listening.
pub fn start() -> StandIns {
    let stand_ins = StandIns::start();
    stand_ins.set_latency(LATENCY);
    stand_ins
}

/// The `[notifications]` settings: a rule per user to Slack and PagerDuty, the first user's
/// also to the webhook.
pub fn settings(stand_ins: &StandIns, user_ids: &[String]) -> String {
    let mut toml = format!(
        "[notifications]\nrequest_timeout_secs = 2\nlease_secs = 5\n\
         [notifications.slack]\nbot_token_env = \"CHAOS_SLACK_TOKEN\"\napi_url = \"{}\"\n\
         [notifications.pagerduty]\nevents_url = \"{}\"\n\
         [[notifications.webhooks]]\nname = \"bridge\"\nurl = \"{}\"\nsecret_env = \"CHAOS_WEBHOOK_SECRET\"\n",
        stand_ins.slack_api(),
        stand_ins.pagerduty_url(),
        stand_ins.webhook_url("bridge"),
    );
    for (index, user) in user_ids.iter().enumerate() {
        let webhooks = if index == 0 { "[\"bridge\"]" } else { "[]" };
        toml.push_str(&format!(
            "[[notifications.routes]]\nname = \"chaos-{index}\"\nuser = \"{user}\"\n\
             slack_channel = \"{CHANNEL}\"\npagerduty_routing_key_env = \"CHAOS_PD_KEY\"\nwebhooks = {webhooks}\n"
        ));
    }
    toml
}

/// The variables the notifier reads its secrets from.
pub fn secrets() -> Vec<(String, String)> {
    [
        ("CHAOS_SLACK_TOKEN", SLACK_TOKEN),
        ("CHAOS_PD_KEY", "chaos-routing-key"),
        ("CHAOS_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// What the stand-ins saw, against the database.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Broken promises, one sentence each.
    pub violations: Vec<String>,
    /// Incidents or changes a destination never heard of.
    pub lost: usize,
    /// Slack messages posted twice, summaries posted twice.
    pub duplicated: usize,
    /// One line of figures.
    pub summary: String,
}

/// Compares what the stand-ins received with the incidents in the database.
pub async fn check(
    stand_ins: &StandIns,
    db: &mut Reader,
    first_user: &str,
) -> anyhow::Result<Verdict> {
    let incidents = db.incident_states().await?;
    let analyses = db.analyses_completed().await?;
    let events = db.announced_events().await?;
    let states = db.delivery_states().await?;
    let recorded = stand_ins.recorded();
    let mut verdict = Verdict::default();

    let mut top_level: HashMap<String, Vec<&aurora_e2e::saas::SlackMessage>> = HashMap::new();
    for message in recorded.slack.iter().filter(|m| m.thread_ts.is_none()) {
        if let Some(id) = message.metadata["event_payload"]["incident_id"].as_str() {
            top_level.entry(id.to_owned()).or_default().push(message);
        }
    }
    let (mut unannounced, mut twice, mut stale, mut summaries_off) = (0, 0, 0, 0);
    for incident in &incidents {
        let id = incident.id.to_string();
        let messages = top_level.get(&id).map(Vec::as_slice).unwrap_or_default();
        match messages {
            [] => unannounced += 1,
            [message] => {
                let shows = match incident.status.as_str() {
                    "resolved" => "Resolved",
                    "merged" => "Merged into",
                    "analyzed" => "Analyzed, open",
                    _ => "Investigating",
                };
                if !message.text.contains(shows) {
                    stale += 1;
                }
                let replies = recorded.replies_to(&message.ts).len();
                if replies as i64 != analyses.get(&incident.id).copied().unwrap_or(0) {
                    summaries_off += 1;
                }
            }
            _ => twice += 1,
        }
    }
    verdict.lost += unannounced;
    verdict.duplicated += twice + summaries_off;
    for (count, what) in [
        (unannounced, "incidents never announced in Slack"),
        (twice, "incidents announced in Slack more than once"),
        (
            stale,
            "Slack messages not showing their incident's final status",
        ),
        (
            summaries_off,
            "incidents without exactly one threaded summary per analysis",
        ),
    ] {
        if count > 0 {
            verdict.violations.push(format!("{count} {what}"));
        }
    }

    let mut pages: HashMap<&str, Vec<&str>> = HashMap::new();
    for event in &recorded.pagerduty {
        if let (Some(key), Some(action)) =
            (event["dedup_key"].as_str(), event["event_action"].as_str())
        {
            pages.entry(key).or_default().push(action);
        }
    }
    let (mut left_wrong, mut repeats) = (0, 0);
    for incident in &incidents {
        let actions = pages
            .get(incident.id.to_string().as_str())
            .cloned()
            .unwrap_or_default();
        repeats += actions.windows(2).filter(|pair| pair[0] == pair[1]).count();
        let open = matches!(incident.status.as_str(), "investigating" | "analyzed");
        let last = actions.last().copied();
        if (open && last != Some("trigger")) || (!open && last == Some("trigger")) {
            left_wrong += 1;
        }
    }
    if left_wrong > 0 {
        verdict.lost += left_wrong;
        verdict.violations.push(format!(
            "{left_wrong} incidents whose PagerDuty alert was left other than their state"
        ));
    }

    let expected: HashSet<String> = incidents
        .iter()
        .filter(|i| i.user_id == first_user)
        .map(|i| format!("{}:created", i.id))
        .chain(
            events
                .iter()
                .filter(|(_, _, user)| user == first_user)
                .map(|(id, incident, _)| format!("{incident}:{id}")),
        )
        .collect();
    let mut received: HashMap<&str, usize> = HashMap::new();
    for webhook in &recorded.webhooks {
        if let Some(delivery) = webhook.headers.get("x-aurora-delivery") {
            *received.entry(delivery.as_str()).or_default() += 1;
        }
    }
    let missing = expected
        .iter()
        .filter(|id| !received.contains_key(id.as_str()))
        .count();
    let resent: usize = received.values().map(|n| n - 1).sum();
    if missing > 0 {
        verdict.lost += missing;
        verdict.violations.push(format!(
            "{missing} of {} incident changes never reached the webhook",
            expected.len()
        ));
    }
    for state in ["pending", "dead"] {
        if let Some(count) = states.get(state).filter(|n| **n > 0) {
            verdict
                .violations
                .push(format!("{count} notification deliveries left {state}"));
        }
    }
    let body_of = |webhook: &aurora_e2e::saas::Received| -> Option<Value> {
        serde_json::from_slice(&webhook.body).ok()
    };
    let unsigned = recorded
        .webhooks
        .iter()
        .filter(|w| body_of(w).is_none() || !w.headers.contains_key("x-aurora-signature"))
        .count();
    if unsigned > 0 {
        verdict.violations.push(format!(
            "{unsigned} webhooks without a signature or a JSON body"
        ));
    }
    verdict.summary = format!(
        "{} incidents: {} Slack messages, {} updates, {} summaries; {} PagerDuty events ({repeats} repeats absorbed by dedup_key); {} webhooks for {} changes ({resent} resent after the kill, same X-Aurora-Delivery); deliveries {:?}",
        incidents.len(),
        top_level.values().map(Vec::len).sum::<usize>(),
        recorded.slack.iter().map(|m| m.updates).sum::<usize>(),
        recorded
            .slack
            .iter()
            .filter(|m| m.thread_ts.is_some())
            .count(),
        recorded.pagerduty.len(),
        recorded.webhooks.len(),
        expected.len(),
        states,
    );
    Ok(verdict)
}

/// An incident's owner and status.
#[derive(Debug, diesel::QueryableByName)]
pub struct IncidentState {
    /// Its id.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    /// Its owner.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub user_id: String,
    /// Its status.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub status: String,
}
