//! Small local stand-ins for the SaaS APIs the notifier talks to (the only stand-ins Aurora's
//! tests allow: Slack and PagerDuty cannot be reached from here). One HTTP server speaks the
//! parts used: Slack's `chat.postMessage`, `chat.update`, `conversations.history` and
//! `conversations.replies` (bot token checked, `ok: false` errors as Slack sends them),
//! PagerDuty's Events API v2 (`/pagerduty/enqueue`: every accepted event is kept, so a test
//! sees repeats PagerDuty itself would fold by `dedup_key`), and webhook receivers
//! (`/webhooks/<name>`). Every accepted request is recorded;
//! faults (an HTTP status with `Retry-After`, a Slack error, a slow answer) are scripted per
//! route and served in order.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The bot token the Slack stand-in accepts.
pub const SLACK_TOKEN: &str = "xoxb-test-token";

/// Routes a fault can be scripted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `chat.postMessage`.
    SlackPost,
    /// `chat.update`.
    SlackUpdate,
    /// `conversations.history` and `conversations.replies`.
    SlackHistory,
    /// The Events API.
    PagerDuty,
    /// Any webhook receiver.
    Webhook,
}

/// A scripted answer, served instead of the normal one (or, for `Slow`, before it).
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status, with `Retry-After` seconds when given; nothing is recorded.
    Status(u16, Option<u64>),
    /// Slack's `{"ok": false, "error": …}` with HTTP 200; nothing is recorded.
    SlackError(&'static str),
    /// The normal answer, recorded, but only after this long (a client that gave up does not
    /// see it: the request was handled all the same, as a slow SaaS would).
    Slow(Duration),
}

/// A Slack message as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct SlackMessage {
    /// Channel ID.
    pub channel: String,
    /// Its `ts`.
    pub ts: String,
    /// The thread it replies in.
    pub thread_ts: Option<String>,
    /// Fallback text, as last set.
    pub text: String,
    /// Blocks, as last set.
    pub blocks: Value,
    /// Aurora's metadata.
    pub metadata: Value,
    /// How often `chat.update` changed it.
    pub updates: usize,
}

/// A received webhook.
#[derive(Debug, Clone)]
pub struct Received {
    /// The receiver's name.
    pub name: String,
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// Everything the stand-ins accepted.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Slack messages, top-level and replies, in posting order.
    pub slack: Vec<SlackMessage>,
    /// PagerDuty events accepted, in order.
    pub pagerduty: Vec<Value>,
    /// Webhooks accepted, in order.
    pub webhooks: Vec<Received>,
    /// When each faulted or answered request arrived, by route.
    pub arrivals: HashMap<Route, Vec<Instant>>,
    faults: HashMap<Route, VecDeque<Fault>>,
    /// Every answer takes at least this long (a SaaS across the internet).
    latency: Duration,
    next_ts: u64,
}

impl Recorded {
    /// Top-level Slack messages about `incident` (by their metadata).
    pub fn slack_messages_of(&self, incident: &str) -> Vec<&SlackMessage> {
        self.slack
            .iter()
            .filter(|m| {
                m.thread_ts.is_none()
                    && m.metadata["event_payload"]["incident_id"] == json!(incident)
            })
            .collect()
    }

    /// Replies in the thread of `ts`.
    pub fn replies_to(&self, ts: &str) -> Vec<&SlackMessage> {
        self.slack
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    /// PagerDuty events for `incident`, by action.
    pub fn pagerduty_actions(&self, incident: &str) -> Vec<String> {
        self.pagerduty
            .iter()
            .filter(|e| e["dedup_key"] == json!(incident))
            .map(|e| e["event_action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The running stand-ins.
pub struct StandIns {
    /// Base URL, e.g. `http://127.0.0.1:40000`.
    pub url: String,
    recorded: Arc<Mutex<Recorded>>,
    handle: actix_web::dev::ServerHandle,
}

impl StandIns {
    /// Starts them on a free port.
    pub fn start() -> Self {
        let recorded = Arc::new(Mutex::new(Recorded {
            next_ts: 1,
            ..Recorded::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let data = web::Data::new(Arc::clone(&recorded));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route("/slack/chat.postMessage", web::post().to(slack_post))
                .route("/slack/chat.update", web::post().to(slack_update))
                .route("/slack/conversations.history", web::get().to(slack_history))
                .route("/slack/conversations.replies", web::get().to(slack_history))
                .route("/pagerduty/enqueue", web::post().to(pagerduty))
                .route("/webhooks/{name}", web::post().to(webhook))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("the stand-ins listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            recorded,
            handle,
        }
    }

    /// Slack's Web API base URL.
    pub fn slack_api(&self) -> String {
        format!("{}/slack", self.url)
    }

    /// The Events API URL.
    pub fn pagerduty_url(&self) -> String {
        format!("{}/pagerduty/enqueue", self.url)
    }

    /// A webhook receiver's URL.
    pub fn webhook_url(&self, name: &str) -> String {
        format!("{}/webhooks/{name}", self.url)
    }

    /// Serves `fault` on the next request to `route` (after those already scripted).
    pub fn fail_next(&self, route: Route, fault: Fault) {
        self.lock()
            .faults
            .entry(route)
            .or_default()
            .push_back(fault);
    }

    /// Makes every answer take at least `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Posts `count` messages of someone else's to `channel`, as a busy channel has.
    pub fn chatter(&self, channel: &str, count: usize) {
        let mut recorded = self.lock();
        for _ in 0..count {
            let ts = format!("1700000000.{:06}", recorded.next_ts);
            recorded.next_ts += 1;
            recorded.slack.push(SlackMessage {
                channel: channel.to_owned(),
                ts,
                thread_ts: None,
                text: "lunch?".to_owned(),
                blocks: Value::Null,
                metadata: Value::Null,
                updates: 0,
            });
        }
    }

    /// Drops the faults not served yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// What was accepted so far (a copy).
    pub fn recorded(&self) -> Recorded {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().expect("not poisoned")
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

type Shared = web::Data<Arc<Mutex<Recorded>>>;

/// The fault to serve for `route`, if any, noting the arrival; a `Slow` one when none is
/// scripted and answers have a latency.
fn take_fault(recorded: &Shared, route: Route) -> Option<Fault> {
    let mut recorded = recorded.lock().expect("not poisoned");
    recorded
        .arrivals
        .entry(route)
        .or_default()
        .push(Instant::now());
    let latency = recorded.latency;
    recorded
        .faults
        .get_mut(&route)
        .and_then(VecDeque::pop_front)
        .or((!latency.is_zero()).then_some(Fault::Slow(latency)))
}

/// The answer a scripted fault gives instead of the normal one, or how long a `Slow` one
/// delays it.
fn scripted(fault: Fault) -> Result<HttpResponse, Duration> {
    match fault {
        Fault::Status(status, retry_after) => {
            let mut answer = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status).expect("a valid status"),
            );
            if let Some(seconds) = retry_after {
                answer.insert_header(("Retry-After", seconds.to_string()));
            }
            Ok(answer.body("scripted failure"))
        }
        Fault::SlackError(error) => {
            Ok(HttpResponse::Ok().json(json!({"ok": false, "error": error})))
        }
        Fault::Slow(delay) => Err(delay),
    }
}

/// The scripted answer for `route`, or `None` to answer normally (after a `Slow` delay).
async fn faulted(recorded: &Shared, route: Route) -> Option<HttpResponse> {
    match scripted(take_fault(recorded, route)?) {
        Ok(answer) => Some(answer),
        Err(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
    }
}

fn slack_authorized(request: &HttpRequest) -> bool {
    request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {SLACK_TOKEN}"))
}

async fn slack_post(
    request: HttpRequest,
    recorded: Shared,
    body: web::Json<Value>,
) -> HttpResponse {
    if !slack_authorized(&request) {
        return HttpResponse::Ok().json(json!({"ok": false, "error": "invalid_auth"}));
    }
    // A slow answer comes after the message is posted: it exists even if the client gave up.
    let delay = match take_fault(&recorded, Route::SlackPost).map(scripted) {
        Some(Ok(answer)) => return answer,
        Some(Err(delay)) => Some(delay),
        None => None,
    };
    let Some(channel) = body["channel"].as_str() else {
        return HttpResponse::Ok().json(json!({"ok": false, "error": "channel_not_found"}));
    };
    let ts = {
        let mut recorded = recorded.lock().expect("not poisoned");
        let ts = format!("1700000000.{:06}", recorded.next_ts);
        recorded.next_ts += 1;
        let thread_ts = body["thread_ts"].as_str().map(str::to_owned);
        if let Some(thread) = &thread_ts
            && !recorded.slack.iter().any(|m| &m.ts == thread)
        {
            return HttpResponse::Ok().json(json!({"ok": false, "error": "thread_not_found"}));
        }
        recorded.slack.push(SlackMessage {
            channel: channel.to_owned(),
            ts: ts.clone(),
            thread_ts,
            text: body["text"].as_str().unwrap_or_default().to_owned(),
            blocks: body["blocks"].clone(),
            metadata: body["metadata"].clone(),
            updates: 0,
        });
        ts
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    HttpResponse::Ok().json(json!({"ok": true, "channel": channel, "ts": ts}))
}

async fn slack_update(
    request: HttpRequest,
    recorded: Shared,
    body: web::Json<Value>,
) -> HttpResponse {
    if !slack_authorized(&request) {
        return HttpResponse::Ok().json(json!({"ok": false, "error": "invalid_auth"}));
    }
    if let Some(answer) = faulted(&recorded, Route::SlackUpdate).await {
        return answer;
    }
    let mut recorded = recorded.lock().expect("not poisoned");
    let Some(message) = recorded
        .slack
        .iter_mut()
        .find(|m| body["channel"] == json!(m.channel) && body["ts"] == json!(m.ts))
    else {
        return HttpResponse::Ok().json(json!({"ok": false, "error": "message_not_found"}));
    };
    message.text = body["text"].as_str().unwrap_or_default().to_owned();
    message.blocks = body["blocks"].clone();
    message.updates += 1;
    HttpResponse::Ok().json(json!({"ok": true, "channel": message.channel, "ts": message.ts}))
}

async fn slack_history(
    request: HttpRequest,
    recorded: Shared,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if !slack_authorized(&request) {
        return HttpResponse::Ok().json(json!({"ok": false, "error": "invalid_auth"}));
    }
    if let Some(answer) = faulted(&recorded, Route::SlackHistory).await {
        return answer;
    }
    let recorded = recorded.lock().expect("not poisoned");
    let channel = query.get("channel").cloned().unwrap_or_default();
    let thread = query.get("ts");
    let messages: Vec<Value> = recorded
        .slack
        .iter()
        .rev()
        .filter(|m| m.channel == channel)
        .filter(|m| match thread {
            Some(thread) => m.thread_ts.as_ref() == Some(thread) || &m.ts == thread,
            None => m.thread_ts.is_none(),
        })
        .map(|m| json!({"ts": m.ts, "text": m.text, "metadata": m.metadata}))
        .collect();
    // Pages as Slack's cursors do: `limit` messages, newest first, then `next_cursor`.
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    let from: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<&Value> = messages.iter().skip(from).take(limit).collect();
    let next_cursor = if from + limit < messages.len() {
        (from + limit).to_string()
    } else {
        String::new()
    };
    HttpResponse::Ok().json(json!({
        "ok": true,
        "messages": page,
        "has_more": !next_cursor.is_empty(),
        "response_metadata": {"next_cursor": next_cursor},
    }))
}

async fn pagerduty(recorded: Shared, body: web::Json<Value>) -> HttpResponse {
    if let Some(answer) = faulted(&recorded, Route::PagerDuty).await {
        return answer;
    }
    if body["routing_key"].as_str().is_none_or(str::is_empty)
        || body["dedup_key"].as_str().is_none()
        || !matches!(
            body["event_action"].as_str(),
            Some("trigger" | "resolve" | "acknowledge")
        )
    {
        return HttpResponse::BadRequest()
            .json(json!({"status": "invalid event", "message": "Event object is invalid"}));
    }
    let dedup_key = body["dedup_key"].clone();
    recorded
        .lock()
        .expect("not poisoned")
        .pagerduty
        .push(body.into_inner());
    HttpResponse::Accepted()
        .json(json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}))
}

async fn webhook(
    request: HttpRequest,
    recorded: Shared,
    name: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(answer) = faulted(&recorded, Route::Webhook).await {
        return answer;
    }
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    recorded
        .lock()
        .expect("not poisoned")
        .webhooks
        .push(Received {
            name: name.into_inner(),
            headers,
            body: body.to_vec(),
        });
    HttpResponse::NoContent().finish()
}
