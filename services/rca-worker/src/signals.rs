//! Evidence from Prometheus: when an alert carries its expression (the `g0.expr` of
//! Alertmanager's and Grafana's `generatorURL`), the range of that expression around the
//! alert's start, and of the service's standard signals over the same window, ranked by which
//! moved first and most ([`aurora_rca::MetricEvidence`]).

use std::sync::LazyLock;
use std::time::Duration;

use aurora_rca::{AlertContext, MetricEvidence, Reading, Signal, read};
use aurora_settings::PrometheusSettings;
use chrono::{DateTime, TimeDelta, Utc};
use regex::Regex;
use serde::Deserialize;

use crate::commands::value_of;

/// Queries one Prometheus.
#[derive(Debug, Clone)]
pub struct MetricsProbe {
    client: reqwest::Client,
    settings: PrometheusSettings,
}

#[derive(Debug, Deserialize)]
struct RangeResponse {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<RangeData>,
}

#[derive(Debug, Deserialize)]
struct RangeData {
    result: Vec<RangeSeries>,
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    /// `[unix seconds, "value"]`.
    values: Vec<(f64, String)>,
}

/// Largest response body read, in bytes: a range query over one window is far smaller, and an
/// expression matching every series must not exhaust the worker's memory.
const MAX_BODY_BYTES: usize = 4 << 20;

impl MetricsProbe {
    /// A probe of the Prometheus `settings` name.
    pub fn new(settings: PrometheusSettings) -> Self {
        if let Some(name) = &settings.bearer_token_env
            && std::env::var_os(name).is_none()
        {
            tracing::warn!(variable = %name, "rca.prometheus.bearer_token_env names a variable that is not set; queries go without a token");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()
            .expect("a client with a timeout builds");
        Self { client, settings }
    }

    /// What the metrics show around `alert` of `user_id`'s incident; `None` when the alert
    /// carries no expression or the user may not query this Prometheus.
    pub async fn gather(&self, user_id: &str, alert: &AlertContext) -> Option<MetricEvidence> {
        if !self.settings.users.iter().any(|user| user == user_id) {
            return None;
        }
        let expression = alert.url.as_deref().and_then(expression_of)?;
        Some(self.evidence(alert, &expression).await)
    }

    /// The alert's expression and every signal, queried at once; a query that fails is
    /// recorded as such and the others still count.
    async fn evidence(&self, alert: &AlertContext, expression: &str) -> MetricEvidence {
        let start = alert.started_at - TimeDelta::seconds(self.settings.before_secs as i64);
        // Prometheus has nothing later than now: a window ending in the future would read
        // every series as one that stopped.
        let end = (alert.started_at + TimeDelta::seconds(self.settings.after_secs as i64))
            .min(Utc::now());
        // The alert's condition (`x > 5`) only has points while it holds: the side it compares
        // is the value that changed. Summed, so a selector of many series answers one.
        let measured = format!("sum(({}))", condition_operand(expression));
        let signals: Vec<(String, String)> = self
            .settings
            .signals
            .iter()
            .filter_map(|t| Some((t.name.clone(), fill(&t.query, alert)?)))
            .collect();
        let queries = std::iter::once(measured.as_str())
            .chain(signals.iter().map(|(_, query)| query.as_str()))
            .map(|query| self.reading(query, (start, end)));
        let mut readings = futures::future::join_all(queries).await.into_iter();
        let expression_reading = readings.next().expect("the expression was queried");
        let mut evidence = MetricEvidence {
            prometheus: without_credentials(&self.settings.url),
            expression: measured,
            expression_reading,
            signals: signals
                .into_iter()
                .zip(readings)
                .map(|((name, query), reading)| Signal {
                    name,
                    query,
                    reading,
                })
                .collect(),
        };
        evidence.rank();
        evidence
    }

    /// What `query` showed over `window`.
    async fn reading(&self, query: &str, window: (DateTime<Utc>, DateTime<Utc>)) -> Reading {
        match self.range(query, window).await {
            Ok(series) => read(&series, window),
            Err(err) => Reading::Failed(err),
        }
    }

    /// One range query; several series are added up point by point.
    async fn range(
        &self,
        query: &str,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<(DateTime<Utc>, f64)>, String> {
        let url = format!(
            "{}/api/v1/query_range",
            self.settings.url.trim_end_matches('/')
        );
        let seconds = |at: DateTime<Utc>| format!("{:.3}", at.timestamp_millis() as f64 / 1000.0);
        let mut request = self.client.get(&url).query(&[
            ("query", query.to_owned()),
            ("start", seconds(start)),
            ("end", seconds(end)),
            ("step", format!("{}s", self.settings.step_secs.max(1))),
        ]);
        if let Some(token) = self
            .settings
            .bearer_token_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
        {
            request = request.bearer_auth(token);
        }
        let failed = |err: &dyn std::fmt::Display| format!("query `{query}`: {err}");
        let mut response = request
            .send()
            .await
            .map_err(|err| failed(&err.without_url()))?;
        // 400 and 422 carry Prometheus' own error in the body; anything else (an auth proxy's
        // 401, a 502) does not.
        let status = response.status();
        if !(status.is_success() || status.as_u16() == 400 || status.as_u16() == 422) {
            return Err(failed(&format!("HTTP {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| failed(&err.without_url()))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(failed(&format!(
                    "answer larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let body: RangeResponse = serde_json::from_slice(&body).map_err(|err| failed(&err))?;
        if body.status != "success" {
            return Err(failed(&body.error.unwrap_or(body.status)));
        }
        let mut points: std::collections::BTreeMap<i64, f64> = Default::default();
        for series in body.data.map(|d| d.result).unwrap_or_default() {
            for (at, value) in series.values {
                if let Ok(value) = value.parse::<f64>()
                    && value.is_finite()
                {
                    *points.entry((at * 1000.0) as i64).or_default() += value;
                }
            }
        }
        Ok(points
            .into_iter()
            .filter_map(|(millis, value)| Some((DateTime::from_timestamp_millis(millis)?, value)))
            .collect())
    }
}

/// The URL as thoughts may cite it: without a user name or password.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => "(the configured Prometheus)".to_owned(),
    }
}

/// The PromQL expression a Prometheus graph link carries (`/graph?g0.expr=…`).
fn expression_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "g0.expr")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|expr| !expr.is_empty())
}

/// The side of the expression's outermost comparison that is not a number (`rate(x[5m]) > 0.5`
/// → `rate(x[5m])`, `5 < x` → `x`), or the whole expression when it compares nothing at the top
/// level. Comments (`# …`) are dropped first.
fn condition_operand(expression: &str) -> String {
    let expression = without_comments(expression);
    let (mut depth, mut quoted) = (0_i32, None::<char>);
    let bytes = expression.as_bytes();
    let mut split = None;
    for (i, c) in expression.char_indices() {
        match (quoted, c) {
            (Some(q), c) if c == q => quoted = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quoted = Some(c),
            (None, '(' | '{' | '[') => depth += 1,
            (None, ')' | '}' | ']') => depth -= 1,
            (None, '>' | '<') if depth == 0 => {
                let width = if bytes.get(i + 1) == Some(&b'=') {
                    2
                } else {
                    1
                };
                split = Some((i, i + width));
                break;
            }
            (None, '=' | '!') if depth == 0 && bytes.get(i + 1) == Some(&b'=') => {
                split = Some((i, i + 2));
                break;
            }
            _ => {}
        }
    }
    let Some((end, start)) = split else {
        return expression.trim().to_owned();
    };
    let left = expression[..end].trim();
    let right = expression[start..].trim();
    // `5 < bool x`: the modifier, not a metric named `boolean…`.
    let right = match right.strip_prefix("bool") {
        Some(rest) if rest.starts_with(|c: char| c.is_whitespace() || c == '(') => rest.trim(),
        _ => right,
    };
    if left.parse::<f64>().is_ok() {
        right.to_owned()
    } else {
        left.to_owned()
    }
}

/// The expression without `#` comments (outside quotes).
fn without_comments(expression: &str) -> String {
    expression
        .lines()
        .map(|line| {
            let mut quoted = None::<char>;
            for (i, c) in line.char_indices() {
                match (quoted, c) {
                    (Some(q), c) if c == q => quoted = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'' | '`') => quoted = Some(c),
                    (None, '#') => return &line[..i],
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The placeholders a signal's template may hold; PromQL's own braces are left alone.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{(service|environment|labels\.[A-Za-z_][A-Za-z0-9_]*)\}")
        .expect("a valid pattern")
});

/// A signal's template with the alert's values filled in; `None` when one is missing or is not
/// a plain name (a value is put inside PromQL quotes, so it may not carry quotes or braces).
fn fill(template: &str, alert: &AlertContext) -> Option<String> {
    let plain = |value: &str| {
        !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:/-".contains(c))
    };
    let mut out = String::new();
    let mut rest = 0;
    for found in PLACEHOLDER.captures_iter(template) {
        let whole = found.get(0).expect("a match");
        let value = value_of(&found[1], alert).filter(|v| plain(v))?;
        out.push_str(&template[rest..whole.start()]);
        out.push_str(&value);
        rest = whole.end();
    }
    out.push_str(&template[rest..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_comes_from_the_generator_link_and_its_condition_is_dropped() {
        let url = "http://prometheus:9090/graph?g0.expr=sum%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.5&g0.tab=1";
        let expression = expression_of(url).unwrap();
        assert_eq!(
            expression,
            r#"sum(rate(http_requests_total{code=~"5.."}[5m])) > 0.5"#
        );
        assert_eq!(
            condition_operand(&expression),
            r#"sum(rate(http_requests_total{code=~"5.."}[5m]))"#
        );
        assert_eq!(condition_operand("up == 0"), "up");
        assert_eq!(condition_operand(r#"x{a!="b"} != 1"#), r#"x{a!="b"}"#);
        assert_eq!(condition_operand("node_load1"), "node_load1");
        assert_eq!(condition_operand("5 < bool x"), "x");
        assert_eq!(condition_operand("5 < boolean_up"), "boolean_up");
        assert_eq!(
            condition_operand("# errors > 5\nrate(e[5m]) >= 2"),
            "rate(e[5m])"
        );
        assert_eq!(
            without_credentials("https://u:secret@prom:9090/"),
            "https://prom:9090"
        );
        assert_eq!(
            expression_of("https://grafana/alerting/grafana/abc/view"),
            None
        );
    }

    #[test]
    fn templates_take_plain_values_only() {
        let mut alert = crate::commands::tests::alert("db-1");
        alert.service = Some("checkout".into());
        assert_eq!(
            fill(
                r#"up{job="{service}",instance="{labels.instance}"}"#,
                &alert
            )
            .as_deref(),
            Some(r#"up{job="checkout",instance="db-1"}"#)
        );
        alert.service = Some(r#"x"}or vector(1)"#.into());
        assert_eq!(fill(r#"up{job="{service}"}"#, &alert), None);
        assert_eq!(fill(r#"up{job="{labels.missing}"}"#, &alert), None);
    }
}
