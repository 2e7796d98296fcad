//! Talking to the stack as vendors and people do.

use std::path::Path;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::Value;

/// One of the repo's own example payloads (`crates/vendors/tests/examples`).
pub fn example(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vendors/tests/examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Hex HMAC-SHA256, as Grafana, PagerDuty and Aurora's CI snippets sign.
pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs a JSON body with an optional bearer token and extra headers; the status and the
/// JSON answer (null when the answer is not JSON).
pub async fn post_webhook(
    url: &str,
    token: Option<&str>,
    body: &[u8],
    headers: &[(&str, String)],
) -> (StatusCode, Value) {
    post_typed(url, token, "application/json", body, headers).await
}

/// POSTs a body of `content_type`, as [`post_webhook`] does a JSON one.
pub async fn post_typed(
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .body(body.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    answer(request).await
}

/// GETs with an optional bearer token.
pub async fn get_json(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("the service answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
