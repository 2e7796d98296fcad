//! Grafana's legacy (pre-8) dashboard alerting body: one rule per notification.
//!
//! Docs: <https://grafana.com/docs/grafana/v7.5/alerting/notifications/#webhook>

use std::collections::BTreeMap;

use aurora_domain::{AlertStatus, NormalizedAlert, SourceType};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::alertmanager::non_empty;
use crate::draft::Draft;
use crate::{VendorError, invalid, labels};

const SOURCE: SourceType = SourceType::Grafana;

/// The fields Aurora reads from a legacy notification.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyPayload {
    #[serde(default)]
    org_id: i64,
    #[serde(default)]
    dashboard_id: i64,
    #[serde(default)]
    panel_id: i64,
    #[serde(default)]
    rule_id: i64,
    #[serde(default)]
    rule_name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    /// `alerting`, `ok`, `no_data`, `paused` or `pending`.
    state: String,
    #[serde(default)]
    rule_url: Option<String>,
    /// The rule's notification message.
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// True when the body has the fields only legacy notifications have.
pub(super) fn looks_legacy(body: &Value) -> bool {
    body.get("state").is_some() && (body.get("ruleName").is_some() || body.get("ruleId").is_some())
}

/// The alert a legacy notification describes; `None` for a test notification or a rule that
/// is paused or pending, which are not problems yet.
pub(super) fn normalize(
    body: Value,
    received_at: DateTime<Utc>,
) -> Result<Option<NormalizedAlert>, VendorError> {
    let payload: LegacyPayload =
        serde_json::from_value(body).map_err(|err| invalid(SOURCE, err.to_string()))?;
    // Grafana's "Send test" uses rule id 0, which no saved rule has.
    if payload.rule_id == 0 {
        return Ok(None);
    }
    let status = match payload.state.as_str() {
        "alerting" | "no_data" => AlertStatus::Firing,
        "ok" => AlertStatus::Resolved,
        "paused" | "pending" => return Ok(None),
        other => {
            return Err(invalid(
                SOURCE,
                format!(
                    "field `state`: unknown value `{other}`; expected alerting, ok, no_data, paused or pending"
                ),
            ));
        }
    };
    let labels = payload.tags.unwrap_or_default();
    let ids = [
        payload.org_id,
        payload.dashboard_id,
        payload.panel_id,
        payload.rule_id,
    ];
    let mut draft = Draft::new(
        std::iter::once("grafana-legacy".to_owned())
            .chain(ids.iter().map(i64::to_string))
            .collect(),
    );
    draft.status = status;
    draft.severity = labels::severity(&labels);
    draft.title = non_empty(payload.rule_name)
        .or_else(|| non_empty(payload.title))
        .or_else(|| Some(format!("Grafana rule {}", payload.rule_id)));
    draft.service = labels::service(&labels);
    draft.environment = labels::environment(&labels);
    // Legacy bodies carry no start time: the draft falls back to the receipt time.
    draft.url = non_empty(payload.rule_url);
    draft.describe([payload.message]);
    draft.labels = labels;
    Ok(Some(draft.finish(SOURCE, received_at)))
}
