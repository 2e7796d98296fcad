//! The language-model analyst: any OpenAI-compatible chat-completions endpoint. It streams its
//! reasoning (saved as thoughts as the lines arrive), may call the configured diagnostic
//! commands as tools (nothing else), and works within budgets for tokens, tool calls and
//! time, retrying failed requests with backoff. Its caller falls back to the built-in analyst
//! when it fails.

use std::collections::BTreeMap;
use std::time::Duration;

use aurora_db::PooledConnection;
use aurora_db::analysis::Lease;
use aurora_settings::LlmSettings;
use futures::StreamExt;
use serde_json::{Value, json};

use aurora_rca::AlertContext;
use uuid::Uuid;

use crate::commands::CommandRunner;
use crate::context;
use crate::lease::{self, Interrupted};

/// Why the language-model analyst gave up.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint could not be reached or kept failing.
    #[error("the endpoint failed: {0}")]
    Endpoint(String),
    /// It answered something that is not a chat completion.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// A budget ran out.
    #[error("budget exhausted: {0}")]
    Budget(String),
    /// Saving a thought or a command run failed, or the attempt lost its lease: the analysis
    /// stops rather than falls back.
    #[error("cannot record the analysis: {0}")]
    Interrupted(#[from] Interrupted),
}

/// A configured language-model analyst.
#[derive(Debug, Clone)]
pub struct LlmAnalyst {
    settings: LlmSettings,
    api_key: Option<String>,
    client: reqwest::Client,
}

/// What it concluded.
#[derive(Debug, Clone)]
pub struct LlmOutcome {
    /// The Markdown summary.
    pub summary: String,
    /// Diagnostic commands it ran.
    pub tool_calls: u32,
    /// Tokens used, as reported (or estimated from characters when not reported).
    pub tokens: u64,
}

/// The incident's alerts as the analysis knows them, so that those joining it while the model
/// works are given to it between rounds.
#[derive(Debug, Clone)]
pub struct Alerts {
    /// The incident.
    pub incident_id: Uuid,
    /// The ids of the alerts already given.
    pub known: Vec<i32>,
    /// The alerts that joined while the model worked, as it was given them.
    pub joined: Vec<AlertContext>,
}

const SYSTEM_PROMPT: &str = "You are Aurora, an SRE investigating an incident. Use only the facts given \
and the output of the diagnostic commands you may run. Think step by step in short lines. Finish with a \
Markdown summary with the sections `## What happened`, `## Likely root cause` (ranked hypotheses with a \
confidence in percent, or 'Unknown' when the facts do not show a cause), `## Evidence` (each claim citing \
an alert field, a deployment, a past incident or a command output) and `## Next steps`.";

/// A tool call being assembled from streamed fragments.
#[derive(Debug, Default, Clone)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

impl LlmAnalyst {
    /// From settings; the API key is read from the named environment variable.
    pub fn new(settings: LlmSettings) -> Self {
        let api_key = settings
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        Self {
            settings,
            api_key,
            client: reqwest::Client::new(),
        }
    }

    /// Analyses an incident described by `facts` (JSON), with `commands` (display name,
    /// argument list) it may run as tools. Thoughts and command runs are saved as they happen.
    pub async fn analyse(
        &self,
        conn: &mut PooledConnection,
        lease: Lease,
        facts: &Value,
        commands: &[(String, Vec<String>)],
        runner: &CommandRunner,
        alerts: &mut Alerts,
    ) -> Result<LlmOutcome, LlmError> {
        let limit = Duration::from_secs(self.settings.timeout_secs);
        tokio::time::timeout(
            limit,
            self.converse(conn, lease, facts, commands, runner, alerts),
        )
        .await
        .map_err(|_| {
            LlmError::Budget(format!("no answer within {} s", self.settings.timeout_secs))
        })?
    }

    async fn converse(
        &self,
        conn: &mut PooledConnection,
        lease: Lease,
        facts: &Value,
        commands: &[(String, Vec<String>)],
        runner: &CommandRunner,
        alerts: &mut Alerts,
    ) -> Result<LlmOutcome, LlmError> {
        let mut messages = vec![
            json!({"role": "system", "content": SYSTEM_PROMPT}),
            json!({"role": "user", "content": format!("The incident, as JSON:\n{facts}")}),
        ];
        let (mut tokens, mut tool_calls) = (0_u64, 0_u32);
        loop {
            // Alerts that joined since the last round are new context for the next one.
            let fresh = context::joined(conn, alerts.incident_id, &alerts.known)
                .await
                .map_err(Interrupted::from)?;
            if !fresh.is_empty() {
                lease::add_thought(conn, lease, "observation", &context::joined_note(&fresh))
                    .await?;
                let described: Vec<Value> = fresh
                    .iter()
                    .take(context::JOINED_SHOWN)
                    .map(context::alert_json)
                    .collect();
                let more = fresh.len().saturating_sub(context::JOINED_SHOWN);
                messages.push(json!({"role": "user", "content": format!(
                    "New alerts joined the incident while you were analysing it; take them into account:\n{}{}",
                    Value::Array(described),
                    if more > 0 { format!("\n(and {more} more like them)") } else { String::new() }
                )}));
                alerts.known.extend(fresh.iter().map(|a| a.id));
                alerts.joined.extend(fresh);
            }
            let may_call = !commands.is_empty() && tool_calls < self.settings.max_tool_calls;
            let remaining = self.settings.max_tokens.saturating_sub(tokens);
            if remaining == 0 {
                return Err(LlmError::Budget(format!("{} tokens used", tokens)));
            }
            let mut body = json!({
                "model": self.settings.model,
                "messages": messages,
                "stream": true,
                "max_tokens": remaining.min(4096),
            });
            if may_call {
                let names: Vec<&str> = commands.iter().map(|(name, _)| name.as_str()).collect();
                body["tools"] = json!([{
                    "type": "function",
                    "function": {
                        "name": "run_diagnostic",
                        "description": "Run one of the configured diagnostic commands and read its output.",
                        "parameters": {"type": "object", "properties": {"command": {"type": "string", "enum": names}}, "required": ["command"]}
                    }
                }]);
            }
            let round = self.round(conn, lease, &body).await?;
            tokens += round
                .tokens
                .unwrap_or_else(|| estimate_tokens(&body, &round.content));
            if round.calls.is_empty() {
                if round.content.trim().is_empty() {
                    return Err(LlmError::Protocol("an empty answer".into()));
                }
                return Ok(LlmOutcome {
                    summary: summary_part(&round.content),
                    tool_calls,
                    tokens,
                });
            }
            messages.push(json!({
                "role": "assistant",
                "content": round.content,
                "tool_calls": round.calls.iter().map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})).collect::<Vec<_>>(),
            }));
            for call in round.calls {
                tool_calls += 1;
                let output = self
                    .run_tool(
                        conn,
                        lease,
                        &call,
                        commands,
                        runner,
                        may_call && tool_calls <= self.settings.max_tool_calls,
                    )
                    .await?;
                messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": output}));
            }
        }
    }

    /// Runs a tool call if it names a configured command; answers what the model reads back.
    async fn run_tool(
        &self,
        conn: &mut PooledConnection,
        lease: Lease,
        call: &ToolCall,
        commands: &[(String, Vec<String>)],
        runner: &CommandRunner,
        allowed: bool,
    ) -> Result<String, LlmError> {
        let wanted = serde_json::from_str::<Value>(&call.arguments)
            .ok()
            .and_then(|a| a["command"].as_str().map(str::to_owned));
        let found = commands
            .iter()
            .find(|(name, _)| Some(name) == wanted.as_ref());
        let (Some((name, argv)), true) = (found, allowed && call.name == "run_diagnostic") else {
            let refusal = format!(
                "Refused the model's tool call {} {}: only the configured diagnostic commands may run, within the budget.",
                call.name, call.arguments
            );
            lease::add_thought(conn, lease, "action", &refusal).await?;
            return Ok(
                "refused: not a configured command, or the tool-call budget is spent".into(),
            );
        };
        lease::add_thought(conn, lease, "action", &format!("The model runs `{name}`.")).await?;
        let ran = runner.run_recorded(conn, lease, argv).await?;
        let exit = ran
            .exit_code
            .map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
        Ok(format!("`{name}` ({exit}):\n{}", ran.output))
    }

    /// One streamed request, retried with backoff when the endpoint fails.
    async fn round(
        &self,
        conn: &mut PooledConnection,
        lease: Lease,
        body: &Value,
    ) -> Result<Round, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        );
        let mut last = String::new();
        for attempt in 0..self.settings.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt.min(6))).await;
            }
            let mut request = self.client.post(&url).json(body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return read_stream(conn, lease, response).await;
                }
                Ok(response)
                    if response.status().is_server_error() || response.status().as_u16() == 429 =>
                {
                    last = format!("HTTP {}", response.status());
                }
                Ok(response) => {
                    return Err(LlmError::Endpoint(format!("HTTP {}", response.status())));
                }
                Err(err) => last = err.to_string(),
            }
        }
        Err(LlmError::Endpoint(format!(
            "{last} after {} attempts",
            self.settings.attempts.max(1)
        )))
    }
}

/// What one round of the conversation produced.
#[derive(Debug, Default)]
struct Round {
    content: String,
    calls: Vec<ToolCall>,
    tokens: Option<u64>,
}

/// Reads a streamed completion, saving each finished line of reasoning as a thought.
async fn read_stream(
    conn: &mut PooledConnection,
    lease: Lease,
    response: reqwest::Response,
) -> Result<Round, LlmError> {
    let mut round = Round::default();
    let mut calls: BTreeMap<u64, ToolCall> = BTreeMap::new();
    let (mut buffer, mut line) = (String::new(), String::new());
    let mut in_summary = false;
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| LlmError::Endpoint(err.to_string()))?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let event: String = buffer.drain(..=end).collect();
            let Some(data) = event.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            let value: Value =
                serde_json::from_str(data).map_err(|err| LlmError::Protocol(err.to_string()))?;
            if let Some(total) = value["usage"]["total_tokens"].as_u64() {
                round.tokens = Some(total);
            }
            let delta = &value["choices"][0]["delta"];
            if let Some(text) = delta["content"].as_str() {
                round.content.push_str(text);
                line.push_str(text);
                while let Some(newline) = line.find('\n') {
                    let finished: String = line.drain(..=newline).collect();
                    in_summary |= finished.trim_start().starts_with("## ");
                    // Reasoning lines become thoughts as they arrive; the summary is saved whole.
                    if !in_summary && !finished.trim().is_empty() {
                        lease::add_thought(conn, lease, "hypothesis", finished.trim()).await?;
                    }
                }
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let entry = calls
                    .entry(call["index"].as_u64().unwrap_or(0))
                    .or_default();
                if let Some(id) = call["id"].as_str() {
                    entry.id = id.to_owned();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    entry.name.push_str(name);
                }
                if let Some(arguments) = call["function"]["arguments"].as_str() {
                    entry.arguments.push_str(arguments);
                }
            }
        }
    }
    if !in_summary && !line.trim().is_empty() {
        lease::add_thought(conn, lease, "hypothesis", line.trim()).await?;
    }
    round.calls = calls.into_values().collect();
    Ok(round)
}

/// The summary: from the first `## ` heading on, or the whole answer when it has none.
fn summary_part(content: &str) -> String {
    match content.find("## ") {
        Some(start) => content[start..].trim().to_owned(),
        None => content.trim().to_owned(),
    }
}

/// About four characters a token, for endpoints that report no usage.
fn estimate_tokens(body: &Value, answer: &str) -> u64 {
    ((body.to_string().len() + answer.len()) / 4) as u64
}
