#![doc = include_str!("../README.md")]

mod alertmanager;
mod bigpanda;
mod datadog;
mod draft;
mod dynatrace;
mod fields;
mod form;
mod grafana;
mod headers;
mod jenkins;
mod labels;
mod netdata;
mod pagerduty;
mod splunk;

use std::sync::Arc;

use aurora_domain::{Normalized, SourceType};
use chrono::{DateTime, Utc};

pub use alertmanager::Alertmanager;
pub use bigpanda::Bigpanda;
pub use datadog::Datadog;
pub use draft::json_without_nul;
pub use dynatrace::Dynatrace;
pub use form::form_body_as_json;
pub use grafana::Grafana;
pub use headers::Headers;
pub use jenkins::Jenkins;
pub use netdata::Netdata;
pub use pagerduty::Pagerduty;
pub use splunk::Splunk;

/// How a vendor signs its requests, when it does. The ingress verifies the scheme over the raw
/// body with the integration's signing secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// Grafana's `X-Grafana-Alerting-Signature`: hex HMAC-SHA256 of the body, or of
    /// `timestamp + ":" + body` when `X-Grafana-Alerting-Timestamp` is sent.
    Grafana,
    /// PagerDuty's `X-PagerDuty-Signature`: one or more comma-separated `v1=<hex HMAC-SHA256>`.
    Pagerduty,
    /// Aurora's own `X-Aurora-Signature: sha256=<hex HMAC-SHA256>`, which the pipeline snippets
    /// for Jenkins and CloudBees CI send.
    Aurora,
}

/// How a vendor checks that a webhook URL belongs to the user before it sends anything there.
/// The ingress answers the challenge on the vendor's route with the integration's signing
/// secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// Netdata Cloud's challenge–response check: a `GET` with a `crc_token` query parameter,
    /// answered with `{"response_token": "sha256=" + base64(HMAC-SHA256(challenge secret,
    /// crc_token))}`; the challenge secret is the one the user gave Netdata.
    NetdataCrc,
}

/// A body that cannot be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    /// Not JSON, or JSON of the wrong shape; the message names the field or the position.
    #[error("invalid {vendor} payload: {detail}")]
    InvalidPayload {
        /// The vendor's display name.
        vendor: &'static str,
        /// What is wrong, e.g. "missing field `alerts` at line 1 column 2".
        detail: String,
    },
}

/// One request as a vendor sees it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The request headers.
    pub headers: &'a Headers,
    /// The raw body bytes, exactly as received.
    pub body: &'a [u8],
    /// When the ingress received it: the start time of alerts whose vendor gives none.
    pub received_at: DateTime<Utc>,
}

/// A monitoring tool that sends alerts to Aurora by webhook.
pub trait Vendor: Send + Sync + 'static {
    /// Which source this is.
    fn source_type(&self) -> SourceType;

    /// The signature scheme the vendor uses, if it signs.
    fn signature_scheme(&self) -> Option<SignatureScheme> {
        None
    }

    /// The challenge the vendor sends to a new webhook URL, if it sends one.
    fn challenge(&self) -> Option<Challenge> {
        None
    }

    /// True when the vendor may send its body form-encoded
    /// (`application/x-www-form-urlencoded`) rather than as JSON: the ingress then accepts
    /// that content type on its route and keeps the body as [`form_body_as_json`] reads it.
    fn accepts_form_bodies(&self) -> bool {
        false
    }

    /// The vendor's id for this delivery, stable across its retries, when it sends one; the
    /// ingress mints one otherwise.
    fn delivery_id(&self, _headers: &Headers) -> Option<String> {
        None
    }

    /// Turns one request into normalized alerts.
    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError>;
}

/// The route a source's webhooks arrive on.
pub fn route_path(source: SourceType) -> &'static str {
    match source {
        SourceType::Grafana => "/api/grafana/alerts",
        SourceType::Alertmanager => "/api/alertmanager/alerts",
        SourceType::Datadog => "/api/datadog/webhook",
        SourceType::Netdata => "/api/netdata/alerts",
        SourceType::Pagerduty => "/api/pagerduty/webhook",
        SourceType::Splunk => "/api/splunk/alerts",
        SourceType::Jenkins => "/api/jenkins/deployment",
        SourceType::Cloudbees => "/api/cloudbees/deployment",
        SourceType::Dynatrace => "/api/dynatrace/problems",
        SourceType::Bigpanda => "/api/bigpanda/webhook",
    }
}

/// Every vendor Aurora can normalize today.
pub fn all() -> Vec<Arc<dyn Vendor>> {
    vec![
        Arc::new(Grafana),
        Arc::new(Alertmanager),
        Arc::new(Datadog),
        Arc::new(Netdata),
        Arc::new(Pagerduty),
        Arc::new(Splunk),
        Arc::new(Jenkins::JENKINS),
        Arc::new(Jenkins::CLOUDBEES),
        Arc::new(Dynatrace),
        Arc::new(Bigpanda),
    ]
}

/// The vendor for a source, if Aurora can normalize it.
pub fn for_source(source: SourceType) -> Option<Arc<dyn Vendor>> {
    all()
        .into_iter()
        .find(|vendor| vendor.source_type() == source)
}

/// Parses a JSON body into a vendor's payload type, naming the problem on failure.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(
    source: SourceType,
    body: &'a [u8],
) -> Result<T, VendorError> {
    serde_json::from_slice(body).map_err(|err| invalid(source, err.to_string()))
}

/// Parses a body that must be one JSON object.
pub(crate) fn parse_object(
    source: SourceType,
    body: &[u8],
) -> Result<serde_json::Value, VendorError> {
    let value: serde_json::Value = parse_json(source, body)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(invalid(source, "expected a JSON object"))
    }
}

/// An [`VendorError::InvalidPayload`] for a source.
pub(crate) fn invalid(source: SourceType, detail: impl Into<String>) -> VendorError {
    VendorError::InvalidPayload {
        vendor: source.display_name(),
        detail: detail.into(),
    }
}
