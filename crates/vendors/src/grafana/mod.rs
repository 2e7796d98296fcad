//! Grafana: unified alerting (8+) and legacy dashboard alerting.
//!
//! Docs: <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>
//! Unified bodies are Alertmanager's group body plus Grafana's extras, so they share
//! [`GroupPayload`]; legacy bodies describe one rule.

mod legacy;

use aurora_domain::{Normalized, SourceType};
use serde_json::Value;

use crate::alertmanager::{GroupAlert, GroupPayload};
use crate::{SignatureScheme, Vendor, VendorError, WebhookRequest, invalid, parse_json};

/// Grafana's webhook contact point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grafana;

impl Vendor for Grafana {
    fn source_type(&self) -> SourceType {
        SourceType::Grafana
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme::Grafana)
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let source = self.source_type();
        let body: Value = parse_json(source, request.body)?;
        let alerts = if body.get("alerts").is_some() {
            GroupPayload::parse(source, body)?.normalize(
                source,
                request.received_at,
                is_test_alert,
            )?
        } else if legacy::looks_legacy(&body) {
            legacy::normalize(body, request.received_at)?
                .into_iter()
                .collect()
        } else {
            return Err(invalid(
                source,
                "missing field `alerts` (unified alerting) and `ruleName`/`state` (legacy alerting)",
            ));
        };
        Ok(Normalized {
            alerts,
            deployment: None,
        })
    }
}

/// The alert Grafana's "Test" button sends from a contact point: it must create nothing.
fn is_test_alert(alert: &GroupAlert) -> bool {
    alert.labels.get("alertname").map(String::as_str) == Some("TestAlert")
        && alert.labels.get("instance").map(String::as_str) == Some("Grafana")
}
