//! What the vendor tests share.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};

use aurora_domain::{Normalized, SourceType};
use aurora_vendors::{Headers, VendorError, WebhookRequest};
use chrono::{DateTime, Utc};

/// A fixed receipt time, so snapshots are stable.
pub fn received_at() -> DateTime<Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

/// Normalizes `body` as `source` with no headers.
pub fn normalize(source: SourceType, body: &[u8]) -> Result<Normalized, VendorError> {
    let vendor = aurora_vendors::for_source(source).expect("every source has a vendor");
    let headers = Headers::default();
    vendor.normalize(WebhookRequest {
        headers: &headers,
        body,
        received_at: received_at(),
    })
}

/// The repo's own example payloads.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/examples")
}

/// One example payload.
pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(examples_dir().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// Each shared fixture folder and the sources whose routes take its bodies (Grafana's body is
/// Alertmanager's plus extras; CloudBees CI sends Jenkins' bodies).
pub const FIXTURE_FOLDERS: &[(&str, &[SourceType])] = &[
    ("grafana", &[SourceType::Grafana]),
    (
        "alertmanager",
        &[SourceType::Alertmanager, SourceType::Grafana],
    ),
    ("datadog", &[SourceType::Datadog]),
    ("netdata", &[SourceType::Netdata]),
    ("pagerduty", &[SourceType::Pagerduty]),
    ("splunk", &[SourceType::Splunk]),
    ("jenkins", &[SourceType::Jenkins, SourceType::Cloudbees]),
    ("dynatrace", &[SourceType::Dynatrace]),
    ("bigpanda", &[SourceType::Bigpanda]),
];
