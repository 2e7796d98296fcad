//! Prometheus Alertmanager's webhook body, which Grafana's unified alerting extends.
//!
//! Docs: <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, Normalized, NormalizedAlert, SourceType};
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;

use crate::draft::Draft;
use crate::{Vendor, VendorError, WebhookRequest, invalid, labels, parse_json};

/// A notification for one alert group: any number of alerts, each with its own status.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupPayload {
    /// `firing` when at least one alert fires; each alert carries its own status too.
    #[serde(default)]
    status: Option<String>,
    alerts: Vec<GroupAlert>,
    /// The Alertmanager (or Grafana) that sent it: the link when an alert has none.
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
}

/// One alert of a group.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupAlert {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    /// Alertmanager's hash of the label set; absent from some senders.
    #[serde(default)]
    fingerprint: Option<String>,
    /// Grafana only.
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: Option<String>,
    /// Grafana only.
    #[serde(default, rename = "panelURL")]
    panel_url: Option<String>,
}

impl GroupPayload {
    /// Parses a group body.
    pub(crate) fn parse(source: SourceType, value: serde_json::Value) -> Result<Self, VendorError> {
        serde_json::from_value(value).map_err(|err| invalid(source, err.to_string()))
    }

    /// One normalized alert per entry, skipping the entries `skip` rejects (test alerts).
    pub(crate) fn normalize(
        self,
        source: SourceType,
        received_at: DateTime<Utc>,
        skip: impl Fn(&GroupAlert) -> bool,
    ) -> Result<Vec<NormalizedAlert>, VendorError> {
        let group_status = self.status.as_deref();
        let external_url = non_empty(self.external_url);
        self.alerts
            .into_iter()
            .enumerate()
            .filter(|(_, alert)| !skip(alert))
            .map(|(index, alert)| {
                alert
                    .normalize(source, group_status, external_url.clone(), received_at)
                    .map_err(|VendorError::InvalidPayload { vendor, detail }| {
                        VendorError::InvalidPayload {
                            vendor,
                            detail: format!("alerts[{index}]: {detail}"),
                        }
                    })
            })
            .collect()
    }
}

impl GroupAlert {
    fn normalize(
        self,
        source: SourceType,
        group_status: Option<&str>,
        external_url: Option<String>,
        received_at: DateTime<Utc>,
    ) -> Result<NormalizedAlert, VendorError> {
        let status_word = self.status.as_deref().or(group_status).ok_or_else(|| {
            invalid(
                source,
                "missing field `status` on the alert and on the group",
            )
        })?;
        let status = status_word
            .parse::<AlertStatus>()
            .map_err(|err| invalid(source, format!("field `status`: {err}")))?;
        // Alertmanager's own fingerprint is a hash of the label set; without it, ours is too.
        let key = match non_empty(self.fingerprint) {
            Some(key) => vec![key],
            None => std::iter::once("labels".to_owned())
                .chain(self.labels.iter().flat_map(|(k, v)| [k.clone(), v.clone()]))
                .collect(),
        };
        let started_at = match self.starts_at.as_deref() {
            Some(text) => parse_start(text).ok_or_else(|| {
                invalid(
                    source,
                    format!("field `startsAt`: `{text}` is not RFC 3339"),
                )
            })?,
            None => None,
        };
        let title = ["alertname"]
            .iter()
            .filter_map(|key| self.labels.get(*key))
            .chain(
                ["summary", "title"]
                    .iter()
                    .filter_map(|key| self.annotations.get(*key)),
            )
            .find(|text| !text.trim().is_empty())
            .cloned();
        let mut draft = Draft::new(key);
        draft.status = status;
        draft.severity = labels::severity(&self.labels);
        draft.title = title;
        draft.service = labels::service(&self.labels);
        draft.environment = labels::environment(&self.labels);
        draft.started_at = started_at;
        draft.url = non_empty(self.generator_url)
            .or_else(|| non_empty(self.panel_url))
            .or_else(|| non_empty(self.dashboard_url))
            .or(external_url);
        let annotation = |key: &str| self.annotations.get(key).cloned();
        draft.describe(["summary", "description", "message"].map(annotation));
        draft.runbook_url = annotation("runbook_url").or_else(|| annotation("runbook"));
        draft.labels = self.labels;
        Ok(draft.finish(source, received_at))
    }
}

/// Parses `startsAt`; `Ok(None)` for the zero time Alertmanager sends when it has none.
fn parse_start(text: &str) -> Option<Option<DateTime<Utc>>> {
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    Some((at.year() > 1).then_some(at))
}

/// `None` for an absent or blank string: vendors send `""` for "no link".
pub(crate) fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Prometheus Alertmanager's webhook receiver.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alertmanager;

impl Vendor for Alertmanager {
    fn source_type(&self) -> SourceType {
        SourceType::Alertmanager
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let source = self.source_type();
        let payload = GroupPayload::parse(source, parse_json(source, request.body)?)?;
        let alerts = payload.normalize(source, request.received_at, |_| false)?;
        Ok(Normalized {
            alerts,
            deployment: None,
        })
    }
}
