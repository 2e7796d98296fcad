//! Which destinations an incident is announced to: its user's routing rules, in order; the
//! first that matches decides unless it says `continue = true`.

use std::time::Duration;

use aurora_db::incidents::Incident;
use aurora_settings::NotificationRoute;

/// The kinds of destination, each served by its own delivery loop (a slow Slack never delays
/// a page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A Slack channel, by ID.
    Slack {
        /// The channel.
        channel: String,
    },
    /// PagerDuty, with the routing key the rule names.
    PagerDuty {
        /// The rule (its routing key is looked up by it).
        rule: String,
    },
    /// An outgoing webhook, by name.
    Webhook {
        /// The endpoint's name.
        name: String,
    },
}

impl Destination {
    /// Its key among an incident's destinations: `slack:<channel>`, `pagerduty:<rule>`,
    /// `webhook:<name>`.
    pub fn target(&self) -> String {
        match self {
            Destination::Slack { channel } => format!("slack:{channel}"),
            Destination::PagerDuty { rule } => format!("pagerduty:{rule}"),
            Destination::Webhook { name } => format!("webhook:{name}"),
        }
    }

    /// The destination a key names; `None` for a key this version does not know.
    pub fn of_target(target: &str) -> Option<Self> {
        let (kind, name) = target.split_once(':')?;
        let name = name.to_owned();
        match kind {
            "slack" => Some(Destination::Slack { channel: name }),
            "pagerduty" => Some(Destination::PagerDuty { rule: name }),
            "webhook" => Some(Destination::Webhook { name }),
            _ => None,
        }
    }

    /// The delivery loop serving it: `slack`, `pagerduty`, or `webhook:<name>` (one loop per
    /// webhook endpoint, so one slow receiver delays no other).
    pub fn endpoint(&self) -> String {
        match self {
            Destination::Slack { .. } => "slack".to_owned(),
            Destination::PagerDuty { .. } => "pagerduty".to_owned(),
            Destination::Webhook { name } => format!("webhook:{name}"),
        }
    }

    /// The kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Slack { .. } => "slack",
            Destination::PagerDuty { .. } => "pagerduty",
            Destination::Webhook { .. } => "webhook",
        }
    }
}

/// A destination a rule chose, with the rule's delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Where.
    pub destination: Destination,
    /// The rule's name.
    pub rule: String,
    /// The rule's `notify_after_secs`.
    pub notify_after: Duration,
}

/// The routing rules.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<NotificationRoute>,
}

impl Router {
    /// Rules in the order they are tried.
    pub fn new(routes: Vec<NotificationRoute>) -> Self {
        Self { routes }
    }

    /// Where `incident` goes, as it is now, each destination once (the first rule naming it
    /// gives its delay).
    pub fn route(&self, incident: &Incident) -> Vec<Routed> {
        let mut routed: Vec<Routed> = Vec::new();
        for route in self.routes.iter().filter(|r| matches(r, incident)) {
            let destinations = route
                .slack_channel
                .iter()
                .map(|channel| Destination::Slack {
                    channel: channel.clone(),
                })
                .chain(
                    route
                        .pagerduty_routing_key_env
                        .iter()
                        .map(|_| Destination::PagerDuty {
                            rule: route.name.clone(),
                        }),
                )
                .chain(
                    route
                        .webhooks
                        .iter()
                        .map(|name| Destination::Webhook { name: name.clone() }),
                );
            for destination in destinations {
                if !routed.iter().any(|r| r.destination == destination) {
                    routed.push(Routed {
                        destination,
                        rule: route.name.clone(),
                        notify_after: Duration::from_secs(route.notify_after_secs),
                    });
                }
            }
            if !route.continue_matching {
                break;
            }
        }
        routed
    }
}

fn matches(route: &NotificationRoute, incident: &Incident) -> bool {
    let any_or = |allowed: &[String], value: Option<&str>| {
        allowed.is_empty() || value.is_some_and(|v| allowed.iter().any(|a| a == v))
    };
    route.user == incident.user_id
        && (route.services.is_empty()
            || incident
                .alert_service
                .iter()
                .chain(&incident.affected_services)
                .any(|service| route.services.contains(service)))
        && any_or(&route.environments, incident.alert_environment.as_deref())
        && any_or(&route.severities, incident.severity.as_deref())
        && any_or(&route.sources, Some(&incident.source_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, toml_rest: &str) -> NotificationRoute {
        toml::from_str(&format!("name = \"{name}\"\nuser = \"u1\"\n{toml_rest}")).unwrap()
    }

    fn incident(service: &str, severity: &str) -> Incident {
        crate::view::tests::incident("u1", service, severity)
    }

    #[test]
    fn the_first_matching_rule_decides_unless_it_continues() {
        let router = Router::new(vec![
            route(
                "payments",
                "services = [\"checkout\"]\nseverities = [\"critical\"]\nslack_channel = \"C0PAYMENTS\"\npagerduty_routing_key_env = \"K\"\nnotify_after_secs = 60",
            ),
            route("default", "slack_channel = \"C0GENERAL1\""),
        ]);
        let critical = router.route(&incident("checkout", "critical"));
        assert_eq!(
            critical
                .iter()
                .map(|r| r.destination.target())
                .collect::<Vec<_>>(),
            ["slack:C0PAYMENTS", "pagerduty:payments"]
        );
        assert_eq!(critical[0].notify_after, Duration::from_secs(60));
        let medium = router.route(&incident("checkout", "medium"));
        assert_eq!(medium[0].destination.target(), "slack:C0GENERAL1");
        let mut other_user = incident("checkout", "critical");
        other_user.user_id = "u2".into();
        assert!(router.route(&other_user).is_empty());

        let continuing = Router::new(vec![
            route("first", "slack_channel = \"C0PAYMENTS\"\ncontinue = true"),
            route(
                "second",
                "slack_channel = \"C0PAYMENTS\"\nwebhooks = [\"bridge\"]",
            ),
            route("never", "slack_channel = \"C0GENERAL1\""),
        ]);
        let targets: Vec<String> = continuing
            .route(&incident("checkout", "low"))
            .iter()
            .map(|r| r.destination.target())
            .collect();
        assert_eq!(targets, ["slack:C0PAYMENTS", "webhook:bridge"]);
    }

    #[test]
    fn targets_name_their_destination_and_loop() {
        for destination in [
            Destination::Slack {
                channel: "C0123ABCD".into(),
            },
            Destination::PagerDuty { rule: "r".into() },
            Destination::Webhook { name: "w".into() },
        ] {
            assert_eq!(
                Destination::of_target(&destination.target()),
                Some(destination.clone())
            );
        }
        assert_eq!(
            Destination::Webhook { name: "w".into() }.endpoint(),
            "webhook:w"
        );
    }
}
