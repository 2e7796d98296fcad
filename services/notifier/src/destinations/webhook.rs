//! Outgoing webhooks: each incident event as JSON, signed so the receiver can tell it came
//! from Aurora and is fresh.
//!
//! `X-Aurora-Signature: sha256=<hex>` is the HMAC-SHA256, under the endpoint's secret, of
//! `<X-Aurora-Timestamp>.<body>`; receivers recompute it over the raw body and refuse old
//! timestamps. `X-Aurora-Delivery` is the same on every attempt of one delivery: receivers
//! drop a repeat by it.

use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::Sha256;

use super::{Failure, check_status, send};
use crate::view::IncidentView;

/// One receiver of signed events.
#[derive(Debug)]
pub struct Webhook {
    http: reqwest::Client,
    url: String,
    secret: SecretString,
}

impl Webhook {
    /// POSTs to `url`, signing with `secret`.
    pub fn new(http: reqwest::Client, url: &str, secret: SecretString) -> Self {
        Self {
            http,
            url: url.to_owned(),
            secret,
        }
    }

    /// Sends the event `event_type` of the incident `view`; `delivery` identifies it across
    /// attempts.
    pub async fn send(
        &self,
        delivery: &str,
        event_type: &str,
        view: &IncidentView,
    ) -> Result<(), Failure> {
        let now = Utc::now();
        let body = json!({
            "id": delivery,
            "type": event_type,
            "sent_at": now.to_rfc3339(),
            "incident": view,
        })
        .to_string();
        let timestamp = now.timestamp().to_string();
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Aurora-Event", event_type)
            .header("X-Aurora-Delivery", delivery)
            .header("X-Aurora-Timestamp", &timestamp)
            .header(
                "X-Aurora-Signature",
                signature(
                    self.secret.expose_secret().as_bytes(),
                    &timestamp,
                    body.as_bytes(),
                ),
            )
            .body(body);
        check_status(&send(request).await?)
    }
}

/// `sha256=<hex>` of `timestamp.body` under `secret`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with Python's hmac.
        assert_eq!(
            signature(b"secret", "1700000000", b"{}"),
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(
            signature(b"secret", "1700000001", b"{}"),
            signature(b"secret", "1700000000", b"{}")
        );
    }
}
