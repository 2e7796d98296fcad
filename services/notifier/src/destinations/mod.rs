//! The destinations a notification is sent to, with the secrets they need, and how their
//! answers are read: sent, worth another attempt (when, if the destination said), or never
//! going to work.

mod pagerduty;
pub mod slack;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use aurora_settings::NotificationSettings;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::SecretString;

pub use pagerduty::{PagerDuty, PagerDutyAction};
pub use slack::{Slack, SlackMessage, Updated};
pub use webhook::{Webhook, signature};

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt: the destination is down, slow or busy.
    Retry {
        /// What happened.
        reason: String,
        /// When the destination asked to be tried again (`Retry-After`).
        after: Option<Duration>,
        /// The request may have been carried out (it timed out, or its answer was cut off):
        /// the next attempt looks before it sends again, where the destination allows it.
        maybe_sent: bool,
    },
    /// Will not succeed however often it is tried (a refused token, an unknown channel, a
    /// payload the destination rejects).
    Permanent(String),
}

impl Failure {
    /// A failure after the request left: it may have been carried out.
    fn retry(reason: impl Into<String>) -> Self {
        Failure::Retry {
            reason: reason.into(),
            after: None,
            maybe_sent: true,
        }
    }
}

/// Everything the notifier can send to, built from the settings and the secrets their
/// variables hold.
#[derive(Debug)]
pub struct Destinations {
    /// Slack, when configured.
    pub slack: Option<Slack>,
    /// PagerDuty, with a routing key per rule.
    pub pagerduty: PagerDuty,
    /// Outgoing webhooks by name.
    pub webhooks: HashMap<String, Webhook>,
    /// The console's base URL.
    pub console_url: String,
    /// Attempts per delivery.
    pub max_attempts: u32,
    /// How long a claimed delivery is the claimer's.
    pub lease: Duration,
}

impl Destinations {
    /// Builds the destinations; `env` reads a variable. Fails, naming the setting, when a
    /// variable a destination needs is unset or empty.
    pub fn from_settings(
        settings: &NotificationSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let secret = |setting: &str, variable: &str| -> anyhow::Result<SecretString> {
            match env(variable).filter(|value| !value.is_empty()) {
                Some(value) => Ok(SecretString::from(value)),
                None => bail!("{setting} names `{variable}`, which is not set"),
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.request_timeout_secs))
            .connect_timeout(Duration::from_secs(settings.request_timeout_secs.min(5)))
            // A secret never follows a redirect to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aurora-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("the notifier's HTTP client")?;
        let slack = match &settings.slack {
            Some(slack) => Some(Slack::new(
                http.clone(),
                &slack.api_url,
                secret("notifications.slack.bot_token_env", &slack.bot_token_env)?,
            )),
            None => None,
        };
        let mut keys = HashMap::new();
        for route in &settings.routes {
            if let Some(variable) = &route.pagerduty_routing_key_env {
                let setting = format!(
                    "notifications.routes.{}.pagerduty_routing_key_env",
                    route.name
                );
                keys.insert(route.name.clone(), secret(&setting, variable)?);
            }
        }
        let mut webhooks = HashMap::new();
        for endpoint in &settings.webhooks {
            let setting = format!("notifications.webhooks.{}.secret_env", endpoint.name);
            webhooks.insert(
                endpoint.name.clone(),
                Webhook::new(
                    http.clone(),
                    &endpoint.url,
                    secret(&setting, &endpoint.secret_env)?,
                ),
            );
        }
        Ok(Self {
            slack,
            pagerduty: PagerDuty::new(http, &settings.pagerduty.events_url, keys),
            webhooks,
            console_url: settings.console_url.clone(),
            max_attempts: settings.max_attempts,
            lease: Duration::from_secs(settings.lease_secs),
        })
    }

    /// The delivery loops to run: one per kind configured, one per webhook.
    pub fn endpoints(&self) -> Vec<String> {
        let mut endpoints = Vec::new();
        if self.slack.is_some() {
            endpoints.push("slack".to_owned());
        }
        if !self.pagerduty.is_empty() {
            endpoints.push("pagerduty".to_owned());
        }
        let mut webhooks: Vec<String> = self
            .webhooks
            .keys()
            .map(|name| format!("webhook:{name}"))
            .collect();
        webhooks.sort();
        endpoints.extend(webhooks);
        endpoints
    }
}

/// An HTTP answer read whole: its status, headers and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

/// Sends `request` and reads the answer; a transport failure (refused, reset, timed out) is
/// worth another attempt.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<Answer, Failure> {
    let response = request.send().await.map_err(|err| {
        Failure::retry(if err.is_timeout() {
            "timed out".to_owned()
        } else {
            format!("unreachable: {}", without_url(&err))
        })
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .map_err(|err| Failure::retry(format!("answer cut off: {}", without_url(&err))))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport error without the URL (a webhook's URL may carry a token in its path).
fn without_url(err: &reqwest::Error) -> String {
    let mut err_text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(inner) = source {
        err_text = inner.to_string();
        source = inner.source();
    }
    if err_text.is_empty() {
        "connection failed".to_owned()
    } else {
        err_text
    }
}

/// What an HTTP status says: 2xx sent; 408, 425, 429 and 5xx worth another attempt (after
/// `Retry-After` when given); any other status never going to work.
pub(crate) fn check_status(answer: &Answer) -> Result<(), Failure> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let excerpt: String = answer.body.chars().take(200).collect();
    let reason = format!("HTTP {}: {}", status.as_u16(), excerpt.trim());
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.as_u16() == 425
        || status.is_server_error()
    {
        Err(Failure::Retry {
            reason,
            after: retry_after(&answer.headers),
            maybe_sent: false,
        })
    } else {
        Err(Failure::Permanent(reason))
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn answer(status: u16, retry: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(retry) = retry {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(retry).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: "nope".into(),
        }
    }

    #[test]
    fn statuses_say_whether_to_try_again() {
        assert_eq!(check_status(&answer(202, None)), Ok(()));
        assert_eq!(
            check_status(&answer(429, Some("7"))),
            Err(Failure::Retry {
                reason: "HTTP 429: nope".into(),
                after: Some(Duration::from_secs(7)),
                maybe_sent: false,
            })
        );
        assert!(matches!(
            check_status(&answer(503, None)),
            Err(Failure::Retry { after: None, .. })
        ));
        assert!(matches!(
            check_status(&answer(400, None)),
            Err(Failure::Permanent(_))
        ));
        assert!(matches!(
            check_status(&answer(301, None)),
            Err(Failure::Permanent(_))
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let date = (chrono::Utc::now() + chrono::TimeDelta::seconds(90)).to_rfc2822();
        let after = retry_after(&answer(429, Some(&date)).headers).unwrap();
        assert!(after > Duration::from_secs(80) && after <= Duration::from_secs(90));
        assert_eq!(retry_after(&answer(429, Some("soon")).headers), None);
    }

    #[test]
    fn a_missing_secret_is_named_at_start() {
        let settings = aurora_settings::Settings::load_from(
            None,
            Some(
                [("AURORA__NOTIFICATIONS__SLACK__BOT_TOKEN_ENV", "SLACK_TOKEN")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
        )
        .unwrap();
        let err = Destinations::from_settings(&settings.notifications, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("notifications.slack.bot_token_env names `SLACK_TOKEN`"),
            "{err}"
        );
        let built = Destinations::from_settings(&settings.notifications, |_| Some("xoxb-1".into()))
            .unwrap();
        assert_eq!(built.endpoints(), ["slack"]);
    }
}
