//! Slack's Web API with a bot token: `chat.postMessage` for the incident's one message and its
//! threaded summary, `chat.update` to keep the message current, and `conversations.history` /
//! `conversations.replies` to find a message an interrupted attempt may have posted (each
//! message carries Aurora's metadata, so it can be recognised).
//!
//! Every text that comes from an alert is escaped (`&`, `<`, `>`), so an alert title can
//! neither mention `@channel` nor forge a link.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Failure, check_status, retry_after, send};
use crate::view::IncidentView;

/// The metadata type of an incident's message.
const INCIDENT_MESSAGE: &str = "aurora_incident";
/// The metadata type of an analysis summary posted in its thread.
const SUMMARY_MESSAGE: &str = "aurora_summary";
/// Pages of history read when looking for a message (200 messages each).
const SEARCH_PAGES: usize = 10;
/// Slack refuses a section's text beyond 3,000 characters.
const SECTION_LIMIT: usize = 2_900;

/// A Slack workspace, through its Web API.
#[derive(Debug)]
pub struct Slack {
    http: reqwest::Client,
    api: String,
    token: SecretString,
}

/// A message as `chat.postMessage` and `chat.update` take it.
#[derive(Debug, Clone)]
pub struct SlackMessage {
    /// The fallback text (notifications, screen readers).
    pub text: String,
    /// Block Kit blocks.
    pub blocks: Value,
    /// Aurora's metadata: what the message is, for finding it again.
    pub metadata: Value,
}

/// What `chat.update` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// The message now shows the incident as it is.
    Done,
    /// The message is gone (someone deleted it): post a new one.
    Gone,
}

impl Slack {
    /// Slack at `api` (`https://slack.com/api`) with a bot token.
    pub fn new(http: reqwest::Client, api: &str, token: SecretString) -> Self {
        Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Posts `message` to `channel` (in the thread of `thread_ts` when given); answers the
    /// channel's ID and the message's `ts`.
    pub async fn post(
        &self,
        channel: &str,
        message: &SlackMessage,
        thread_ts: Option<&str>,
    ) -> Result<(String, String), Failure> {
        let mut body = json!({
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "metadata": message.metadata,
            "unfurl_links": false,
        });
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        let answer = self.call("chat.postMessage", &body).await?;
        let channel = answer["channel"].as_str().unwrap_or(channel).to_owned();
        let ts = answer["ts"]
            .as_str()
            .ok_or_else(|| Failure::retry("chat.postMessage answered no ts"))?
            .to_owned();
        Ok((channel, ts))
    }

    /// Replaces the message `ts` in `channel` with `message`.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: &SlackMessage,
    ) -> Result<Updated, Failure> {
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
            "metadata": message.metadata,
        });
        match self.call("chat.update", &body).await {
            Ok(_) => Ok(Updated::Done),
            Err(Failure::Permanent(reason)) if reason.starts_with("message_not_found") => {
                Ok(Updated::Gone)
            }
            Err(failure) => Err(failure),
        }
    }

    /// The `ts` of a message carrying `metadata` posted in `channel` since `since` (in the
    /// thread of `thread_ts` when given): what an interrupted attempt may have posted. Reads
    /// at most [`SEARCH_PAGES`] pages, newest first.
    pub async fn find(
        &self,
        channel: &str,
        metadata: &Value,
        since: DateTime<Utc>,
        thread_ts: Option<&str>,
    ) -> Result<Option<String>, Failure> {
        // A minute of slack for clocks that disagree.
        let oldest = format!("{:.6}", since.timestamp() as f64 - 60.0);
        let method = if thread_ts.is_some() {
            "conversations.replies"
        } else {
            "conversations.history"
        };
        let mut cursor = String::new();
        for _ in 0..SEARCH_PAGES {
            let mut query = vec![
                ("channel", channel),
                ("oldest", oldest.as_str()),
                ("limit", "200"),
                ("include_all_metadata", "true"),
            ];
            if let Some(ts) = thread_ts {
                query.push(("ts", ts));
            }
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let request = self
                .http
                .get(format!("{}/{method}", self.api))
                .bearer_auth(self.token.expose_secret())
                .query(&query);
            let answer = read(method, request).await?;
            let found = answer["messages"].as_array().and_then(|messages| {
                messages
                    .iter()
                    .find(|m| {
                        m["metadata"]["event_type"] == metadata["event_type"]
                            && m["metadata"]["event_payload"] == metadata["event_payload"]
                    })
                    .and_then(|m| m["ts"].as_str().map(str::to_owned))
            });
            match answer["response_metadata"]["next_cursor"].as_str() {
                _ if found.is_some() => return Ok(found),
                Some(next) if !next.is_empty() => cursor = next.to_owned(),
                _ => return Ok(None),
            }
        }
        // Not found in what was read: posting again risks a second message, but not posting
        // would lose the announcement.
        Ok(None)
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, Failure> {
        let request = self
            .http
            .post(format!("{}/{method}", self.api))
            .bearer_auth(self.token.expose_secret())
            .json(body);
        read(method, request).await
    }
}

/// Sends a Web API request and reads Slack's answer: `ok: false` errors are permanent except
/// those that say Slack itself is struggling.
async fn read(method: &str, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let answer = send(request).await?;
    check_status(&answer)?;
    let value: Value = serde_json::from_str(&answer.body)
        .map_err(|_| Failure::retry(format!("{method} answered something other than JSON")))?;
    if value["ok"] == json!(true) {
        return Ok(value);
    }
    let error = value["error"].as_str().unwrap_or("unknown_error");
    let reason = format!("{error} (from {method})");
    match error {
        "ratelimited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout" => Err(Failure::Retry {
            reason,
            after: retry_after(&answer.headers),
            maybe_sent: false,
        }),
        _ => Err(Failure::Permanent(reason)),
    }
}

/// Escapes text for Slack's mrkdwn: only `&`, `<` and `>` are special.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn emoji(severity: &str) -> &'static str {
    match severity {
        "critical" => "🔴",
        "high" => "🟠",
        "medium" => "🟡",
        _ => "🔵",
    }
}

fn status_line(view: &IncidentView) -> String {
    match (view.status.as_str(), view.merged_into) {
        ("merged", Some(target)) => format!("Merged into incident {target}"),
        ("resolved", _) => "✅ Resolved".to_owned(),
        ("analyzed", _) => "Analyzed, open".to_owned(),
        _ => "Investigating".to_owned(),
    }
}

/// The incident's message: severity, status, alerts, services, the likely cause once
/// analysed, and a link to the incident.
pub fn incident_message(view: &IncidentView) -> SlackMessage {
    let title: String = view.title.chars().take(120).collect();
    let place = match (&view.service, &view.environment) {
        (Some(service), Some(environment)) => format!("{service} ({environment})"),
        (Some(service), None) => service.clone(),
        (None, Some(environment)) => format!("({environment})"),
        (None, None) => "—".to_owned(),
    };
    let affected = if view.affected_services.is_empty() {
        "—".to_owned()
    } else {
        view.affected_services.join(", ")
    };
    let severity = view.severity.to_uppercase();
    let status = status_line(view);
    let text = format!(
        "{} [{severity}] {} — {status}, {} alert(s), {}",
        emoji(&view.severity),
        escape(&title),
        view.alert_count,
        escape(&place)
    );
    let field = |label: &str, value: &str| json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(value))});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "emoji": true,
            "text": format!("{} [{severity}] {title}", emoji(&view.severity))}}),
        json!({"type": "section", "fields": [
            field("Status", &status),
            field("Severity", &view.severity),
            field("Service", &place),
            field("Alerts", &view.alert_count.to_string()),
            field("Affected services", &affected),
            field("Source", &view.source),
        ]}),
    ];
    if let Some(cause) = &view.likely_cause {
        let cause: String = cause.chars().take(SECTION_LIMIT).collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("*Likely cause:* {}", escape(&cause))}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
        "text": format!("<{}|Open incident in Aurora> · started <!date^{}^{{date_short_pretty}} {{time}}|{}>",
            view.url, view.started_at.timestamp(), view.started_at.to_rfc3339())}]}));
    SlackMessage {
        text,
        blocks: Value::Array(blocks),
        metadata: incident_metadata(view.id),
    }
}

/// What marks an incident's message.
pub fn incident_metadata(incident: Uuid) -> Value {
    json!({"event_type": INCIDENT_MESSAGE, "event_payload": {"incident_id": incident.to_string()}})
}

/// The analysis summary as a threaded reply (Markdown made mrkdwn, cut to what a section
/// holds, with a link to the rest).
pub fn summary_message(view: &IncidentView, summary: &str, event_key: &str) -> SlackMessage {
    let mrkdwn = to_mrkdwn(summary);
    let body = if mrkdwn.chars().count() > SECTION_LIMIT {
        let cut: String = mrkdwn.chars().take(SECTION_LIMIT).collect();
        format!("{cut}…\n<{}|The whole analysis>", view.url)
    } else {
        mrkdwn
    };
    SlackMessage {
        text: format!("Analysis of {}", escape(&view.title)),
        blocks: json!([{"type": "section", "text": {"type": "mrkdwn", "text": body}}]),
        metadata: json!({"event_type": SUMMARY_MESSAGE, "event_payload": {
            "incident_id": view.id.to_string(), "event_key": event_key}}),
    }
}

/// Markdown headings and bold as Slack's mrkdwn, everything escaped.
fn to_mrkdwn(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| {
            let line = escape(line);
            match line.trim_start_matches('#') {
                rest if rest.len() < line.len() => format!("*{}*", rest.trim()),
                _ => line.replace("**", "*"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::incident;

    #[test]
    fn alert_text_cannot_mention_or_link() {
        let mut incident = incident("u1", "checkout", "critical");
        incident.alert_title = Some("<!channel> pay <https://evil.example|here> & now".into());
        let view = IncidentView::new(&incident, Some("<@U123> did it".into()), "http://a");
        let message = incident_message(&view);
        // The header is plain text, which Slack never parses for mentions or links; every
        // mrkdwn text and the fallback text are escaped.
        assert_eq!(message.blocks[0]["text"]["type"], "plain_text");
        let mut mrkdwn = vec![message.text.clone()];
        for block in message.blocks.as_array().unwrap() {
            for text in [&block["text"]]
                .into_iter()
                .chain(block["fields"].as_array().into_iter().flatten())
            {
                if text["type"] == "mrkdwn" {
                    mrkdwn.push(text["text"].as_str().unwrap().to_owned());
                }
            }
        }
        let rendered = mrkdwn.join(" ");
        assert!(!rendered.contains("<!channel>"), "{rendered}");
        assert!(!rendered.contains("<https://evil"), "{rendered}");
        assert!(!rendered.contains("<@U123>"), "{rendered}");
        assert!(
            message.text.contains("&lt;!channel&gt; pay"),
            "{}",
            message.text
        );
        assert!(rendered.contains("*Likely cause:* &lt;@U123&gt; did it"));
    }

    #[test]
    fn the_message_shows_what_on_call_needs() {
        let view = IncidentView::new(
            &incident("u1", "checkout", "critical"),
            Some("Most likely cause: deploy 42 (80%).".into()),
            "https://aurora.example",
        );
        let message = incident_message(&view);
        let blocks = message.blocks.to_string();
        for expected in [
            "[CRITICAL] HighErrorRate",
            "Investigating",
            "checkout (production)",
            "checkout, payments",
            "*Alerts*\\n3",
            "Most likely cause: deploy 42",
            "https://aurora.example/incidents/",
        ] {
            assert!(
                blocks.contains(expected),
                "{expected} missing from {blocks}"
            );
        }
        assert_eq!(
            message.metadata["event_payload"]["incident_id"],
            view.id.to_string()
        );
    }

    #[test]
    fn a_summary_becomes_mrkdwn_and_is_cut_to_fit() {
        let view = IncidentView::new(&incident("u1", "checkout", "high"), None, "http://a");
        let short = summary_message(&view, "## Likely root cause\n\n1. **deploy** <b>", "7");
        assert_eq!(
            short.blocks[0]["text"]["text"],
            "*Likely root cause*\n\n1. *deploy* &lt;b&gt;"
        );
        let long = summary_message(&view, &"x".repeat(10_000), "7");
        let text = long.blocks[0]["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() < 3_000 && text.ends_with("|The whole analysis>"));
    }
}
