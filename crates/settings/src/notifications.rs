//! Where incidents are announced: Slack, PagerDuty and outgoing webhooks, chosen per incident
//! by routing rules (`[[notifications.routes]]`), in order, Alertmanager-style: the first rule
//! of the incident's user that matches decides, unless it says `continue = true`.

use std::collections::HashSet;

use serde::Deserialize;

use crate::{SOURCE_NAMES, SettingsError};

/// The notifier's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    /// The console's base URL: messages link to `<console_url>/incidents/<id>`.
    pub console_url: String,
    /// Attempts per delivery before it is kept as failed (`aurora notifications failed`).
    pub max_attempts: u32,
    /// Longest one request to Slack, PagerDuty or a webhook may take, in seconds.
    pub request_timeout_secs: u64,
    /// A delivery claimed by a notifier that died is tried again after this many seconds; an
    /// attempt gives up at four fifths of it.
    pub lease_secs: u64,
    /// Slack's Web API, with a bot token.
    #[serde(default)]
    pub slack: Option<SlackSettings>,
    /// PagerDuty's Events API v2.
    pub pagerduty: PagerDutySettings,
    /// Outgoing webhooks, by name.
    #[serde(default)]
    pub webhooks: Vec<WebhookEndpoint>,
    /// Routing rules, in order.
    #[serde(default)]
    pub routes: Vec<NotificationRoute>,
}

/// Slack's Web API.
#[derive(Debug, Clone, Deserialize)]
pub struct SlackSettings {
    /// The environment variable holding the bot token (`xoxb-…`).
    pub bot_token_env: String,
    /// The Web API's base URL.
    #[serde(default = "default_slack_api")]
    pub api_url: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api".to_owned()
}

/// PagerDuty's Events API v2.
#[derive(Debug, Clone, Deserialize)]
pub struct PagerDutySettings {
    /// Where events are sent.
    pub events_url: String,
}

/// An outgoing webhook: incident events as signed JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    /// Its name, which routes refer to.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// The environment variable holding its signing secret.
    pub secret_env: String,
}

/// A routing rule: which of one user's incidents it takes, and where they go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationRoute {
    /// Its name (in logs, and as the PagerDuty destination's name).
    pub name: String,
    /// The user whose incidents it routes: one user's incidents never reach another's channels.
    pub user: String,
    /// Services it takes (the incident's service or any it affects); empty: any.
    #[serde(default)]
    pub services: Vec<String>,
    /// Environments it takes; empty: any.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Severities it takes; empty: any.
    #[serde(default)]
    pub severities: Vec<String>,
    /// Sources it takes (the vendor of the alert that opened the incident); empty: any.
    #[serde(default)]
    pub sources: Vec<String>,
    /// An incident resolved within this many seconds of opening is never announced.
    #[serde(default)]
    pub notify_after_secs: u64,
    /// The Slack channel's ID (`C0123ABCD`): its message is posted there and kept current.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// The environment variable holding a PagerDuty integration's routing key.
    #[serde(default)]
    pub pagerduty_routing_key_env: Option<String>,
    /// Outgoing webhooks, by name.
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// Keep matching the rules after this one.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

const SEVERITY_NAMES: &[&str] = &["critical", "high", "medium", "low", "info", "unknown"];

impl NotificationSettings {
    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        let http = |setting: &str, url: &str| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(())
            } else {
                Err(SettingsError(format!(
                    "{setting} must start with http:// or https://, got `{url}`"
                )))
            }
        };
        http("notifications.console_url", &self.console_url)?;
        http(
            "notifications.pagerduty.events_url",
            &self.pagerduty.events_url,
        )?;
        if let Some(slack) = &self.slack {
            http("notifications.slack.api_url", &slack.api_url)?;
        }
        if self.max_attempts == 0 || self.request_timeout_secs == 0 {
            return Err(SettingsError(
                "notifications.max_attempts and notifications.request_timeout_secs must be at least 1".into(),
            ));
        }
        if self.lease_secs < 2 * self.request_timeout_secs {
            return Err(SettingsError(format!(
                "notifications.lease_secs ({}) must be at least twice notifications.request_timeout_secs ({}): an attempt (a search, then a send) must end within its lease, or another notifier sends it again",
                self.lease_secs, self.request_timeout_secs
            )));
        }
        let mut webhooks = HashSet::new();
        for webhook in &self.webhooks {
            let setting = format!("notifications.webhooks.{}", webhook.name);
            if !webhooks.insert(webhook.name.as_str()) {
                return Err(SettingsError(format!("{setting}: the name is used twice")));
            }
            http(&format!("{setting}.url"), &webhook.url)?;
        }
        let mut names = HashSet::new();
        for route in &self.routes {
            let setting = format!("notifications.routes.{}", route.name);
            if !names.insert(route.name.as_str()) {
                return Err(SettingsError(format!("{setting}: the name is used twice")));
            }
            if route.slack_channel.is_none()
                && route.pagerduty_routing_key_env.is_none()
                && route.webhooks.is_empty()
            {
                return Err(SettingsError(format!(
                    "{setting}: names no destination (slack_channel, pagerduty_routing_key_env or webhooks)"
                )));
            }
            if let Some(channel) = &route.slack_channel {
                if self.slack.is_none() {
                    return Err(SettingsError(format!(
                        "{setting}.slack_channel needs [notifications.slack] with a bot token"
                    )));
                }
                if !is_channel_id(channel) {
                    return Err(SettingsError(format!(
                        "{setting}.slack_channel must be a channel ID such as C0123ABCD (channel details, at the bottom), got `{channel}`"
                    )));
                }
            }
            if let Some(unknown) = route
                .webhooks
                .iter()
                .find(|w| !webhooks.contains(w.as_str()))
            {
                return Err(SettingsError(format!(
                    "{setting}.webhooks: no webhook named `{unknown}` in [[notifications.webhooks]]"
                )));
            }
            if let Some(unknown) = route
                .severities
                .iter()
                .find(|s| !SEVERITY_NAMES.contains(&s.as_str()))
            {
                return Err(SettingsError(format!(
                    "{setting}.severities: unknown severity `{unknown}`; expected one of {}",
                    SEVERITY_NAMES.join(", ")
                )));
            }
            if let Some(unknown) = route
                .sources
                .iter()
                .find(|s| !SOURCE_NAMES.contains(&s.as_str()))
            {
                return Err(SettingsError(format!(
                    "{setting}.sources: unknown source `{unknown}`; expected one of {}",
                    SOURCE_NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Slack channel IDs: `C…` (public), `G…` (private, older), upper-case letters and digits.
fn is_channel_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G'])
        && channel
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use crate::Settings;

    fn load(toml: &str) -> Result<Settings, String> {
        let dir = std::env::temp_dir().join(format!(
            "aurora-notify-settings-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("aurora.toml");
        std::fs::write(&path, toml).unwrap();
        let loaded = Settings::load_from(Some(path), Some(Default::default()));
        let _ = std::fs::remove_dir_all(&dir);
        loaded.map_err(|err| err.to_string())
    }

    fn uuid_like() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    const SLACK: &str = "[notifications.slack]\nbot_token_env = \"SLACK_TOKEN\"\n";

    #[test]
    fn routes_load_with_their_destinations() {
        let settings = load(&format!(
            "{SLACK}[[notifications.webhooks]]\nname = \"bridge\"\nurl = \"https://bridge.example/hook\"\nsecret_env = \"BRIDGE_SECRET\"\n\
             [[notifications.routes]]\nname = \"payments\"\nuser = \"u1\"\nservices = [\"checkout\"]\nseverities = [\"critical\"]\n\
             slack_channel = \"C0123ABCD\"\npagerduty_routing_key_env = \"PD_KEY\"\nwebhooks = [\"bridge\"]\nnotify_after_secs = 120\ncontinue = true\n"
        ))
        .unwrap();
        let route = &settings.notifications.routes[0];
        assert_eq!(route.notify_after_secs, 120);
        assert!(route.continue_matching);
        assert_eq!(
            settings.notifications.slack.unwrap().api_url,
            "https://slack.com/api"
        );
    }

    #[test]
    fn a_route_that_cannot_work_is_refused_by_name() {
        for (toml, expected) in [
            (
                "[[notifications.routes]]\nname = \"r\"\nuser = \"u\"\nslack_channel = \"C0123ABCD\"\n".to_owned(),
                "notifications.routes.r.slack_channel needs [notifications.slack]",
            ),
            (
                format!("{SLACK}[[notifications.routes]]\nname = \"r\"\nuser = \"u\"\nslack_channel = \"#ops\"\n"),
                "must be a channel ID",
            ),
            (
                "[[notifications.routes]]\nname = \"r\"\nuser = \"u\"\nwebhooks = [\"nope\"]\n".to_owned(),
                "no webhook named `nope`",
            ),
            (
                "[[notifications.routes]]\nname = \"r\"\nuser = \"u\"\n".to_owned(),
                "names no destination",
            ),
            (
                "[[notifications.routes]]\nname = \"r\"\nuser = \"u\"\nseverities = [\"sev1\"]\npagerduty_routing_key_env = \"K\"\n".to_owned(),
                "unknown severity `sev1`",
            ),
            (
                "[[notifications.routes]]\nname = \"r\"\npagerduty_routing_key_env = \"K\"\n".to_owned(),
                "user",
            ),
        ] {
            let err = load(&toml).unwrap_err();
            assert!(err.contains(expected), "{err} should say {expected}");
        }
    }
}
