//! The API's live stream read as a browser's `EventSource` reads it: blocks of `field: value`
//! lines separated by a blank line.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// One block of the stream: an event, a bare `id:` or a comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// `id:`, the stream sequence a reconnecting client sends back.
    pub id: Option<u64>,
    /// `event:` (`created`, `updated` …, `reset`).
    pub event: Option<String>,
    /// `data:`, parsed as JSON.
    pub data: Option<Value>,
    /// Comment lines (`: connected`), without the colon.
    pub comments: Vec<String>,
}

/// An open live stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Opens `GET /api/incidents/stream` as the owner of `token`, sending `last_event_id` as
    /// a reconnecting `EventSource` does. Answers the status and JSON body of a refusal.
    pub async fn open(
        api_url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Result<Self, (StatusCode, Value)> {
        let mut request = reqwest::Client::new()
            .get(format!("{api_url}/api/incidents/stream"))
            .bearer_auth(token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        if status != StatusCode::OK {
            return Err((status, response.json().await.unwrap_or(Value::Null)));
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next block; `None` once the server ended the stream. Panics after `timeout`.
    pub async fn next_block(&mut self, timeout: Duration) -> Option<Block> {
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let text: String = self.buffer.drain(..end + 2).collect();
                    return Some(parse(&text));
                }
                let chunk = self.response.chunk().await.expect("the stream reads")?;
                self.buffer
                    .push_str(std::str::from_utf8(&chunk).expect("the stream is UTF-8"));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("nothing from the live stream within {timeout:?}"))
    }

    /// The next named event, past comments and bare ids; `None` once the stream ended.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Block> {
        loop {
            let block = self.next_block(timeout).await?;
            if block.event.is_some() {
                return Some(block);
            }
        }
    }
}

fn parse(text: &str) -> Block {
    let mut block = Block::default();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            block.comments.push(comment.trim().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => block.id = Some(value.parse().expect("ids are stream sequences")),
            "event" => block.event = Some(value.to_owned()),
            "data" => block.data = Some(serde_json::from_str(value).expect("data is JSON")),
            other => panic!("unexpected field {other} in {text:?}"),
        }
    }
    block
}
