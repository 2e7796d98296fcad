//! Silences (maintenance windows): while one is active, an alert it matches is received,
//! stored and counted, but opens no incident and joins none.
//!
//! Matchers work as Alertmanager's do: on the source, service, environment, severity, title or
//! a label (`labels.<name>`), by equality (`=`, `!=`) or by a regular expression that must
//! match the whole value (`=~`, `!~`). A field the alert does not have is the empty string, so
//! `service!=checkout` matches an alert without a service. Every matcher of a silence must
//! match.

use std::fmt;
use std::str::FromStr;

use aurora_domain::NormalizedAlert;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest value or pattern a matcher takes.
const MAX_VALUE_CHARS: usize = 1024;
/// Largest compiled pattern, so a hostile pattern cannot take the correlator's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 16;

/// What a matcher looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The vendor (`alertmanager`, `grafana` …).
    Source,
    /// The alert's service.
    Service,
    /// The alert's environment.
    Environment,
    /// The alert's severity (`critical` … `unknown`).
    Severity,
    /// The alert's title.
    Title,
    /// One of the alert's labels.
    Label(String),
}

impl Field {
    fn value<'a>(&self, alert: &'a NormalizedAlert) -> &'a str {
        match self {
            Field::Source => alert.source_type.as_str(),
            Field::Service => alert.service.as_deref().unwrap_or(""),
            Field::Environment => alert.environment.as_deref().unwrap_or(""),
            Field::Severity => alert.severity.as_str(),
            Field::Title => &alert.title,
            Field::Label(name) => alert.labels.get(name).map_or("", String::as_str),
        }
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Ok(match name {
            "source" => Field::Source,
            "service" => Field::Service,
            "environment" => Field::Environment,
            "severity" => Field::Severity,
            "title" => Field::Title,
            _ => match name.strip_prefix("labels.") {
                Some(label) if !label.is_empty() => Field::Label(label.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown field `{name}`: use source, service, environment, severity, \
                         title or labels.<name>"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Source => f.write_str("source"),
            Field::Service => f.write_str("service"),
            Field::Environment => f.write_str("environment"),
            Field::Severity => f.write_str("severity"),
            Field::Title => f.write_str("title"),
            Field::Label(name) => write!(f, "labels.{name}"),
        }
    }
}

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`: the whole value matches the pattern.
    Matches,
    /// `!~`
    NotMatches,
}

impl Op {
    const ALL: [(Op, &'static str); 4] = [
        (Op::Matches, "=~"),
        (Op::NotMatches, "!~"),
        (Op::NotEqual, "!="),
        (Op::Equal, "="),
    ];

    /// As written.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(op, _)| *op == self)
            .map(|(_, text)| *text)
            .expect("every operator is listed")
    }
}

/// One condition of a silence, as stored and sent: `{"field", "op", "value"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "MatcherText", into = "MatcherText")]
pub struct Matcher {
    field: Field,
    op: Op,
    value: String,
    /// The value compiled, anchored, for `=~` and `!~`.
    pattern: Option<Regex>,
}

/// A matcher as written in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherText {
    field: String,
    op: String,
    value: String,
}

impl TryFrom<MatcherText> for Matcher {
    type Error = String;

    fn try_from(text: MatcherText) -> Result<Self, String> {
        let op = Op::ALL
            .iter()
            .find(|(_, written)| *written == text.op)
            .map(|(op, _)| *op)
            .ok_or_else(|| format!("unknown operator `{}`: use =, !=, =~ or !~", text.op))?;
        Matcher::new(text.field.parse()?, op, text.value)
    }
}

impl From<Matcher> for MatcherText {
    fn from(matcher: Matcher) -> Self {
        MatcherText {
            field: matcher.field.to_string(),
            op: matcher.op.as_str().to_owned(),
            value: matcher.value,
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.field, self.op, &self.value) == (&other.field, other.op, &other.value)
    }
}

impl Matcher {
    /// A matcher, its pattern compiled; the error names what is wrong.
    pub fn new(field: Field, op: Op, value: String) -> Result<Self, String> {
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(format!(
                "the value for `{field}` is longer than {MAX_VALUE_CHARS} characters"
            ));
        }
        let pattern = match op {
            Op::Matches | Op::NotMatches => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|err| format!("invalid pattern for `{field}`: {err}"))?,
            ),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(Matcher {
            field,
            op,
            value,
            pattern,
        })
    }

    /// Whether `alert` meets the condition.
    pub fn matches(&self, alert: &NormalizedAlert) -> bool {
        let value = self.field.value(alert);
        match (self.op, &self.pattern) {
            (Op::Equal, _) => value == self.value,
            (Op::NotEqual, _) => value != self.value,
            (Op::Matches, Some(pattern)) => pattern.is_match(value),
            (Op::NotMatches, Some(pattern)) => !pattern.is_match(value),
            (Op::Matches | Op::NotMatches, None) => unreachable!("compiled in new"),
        }
    }
}

impl FromStr for Matcher {
    type Err = String;

    /// `service=checkout`, `severity!=critical`, `title=~.*disk.*`, `labels.team!~db-.*`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (at, op, written) = Op::ALL
            .iter()
            .filter_map(|(op, written)| text.find(written).map(|at| (at, *op, *written)))
            // The first operator in the text; at one place, the longest (`!=` before `=`).
            .min_by_key(|(at, _, written)| (*at, std::cmp::Reverse(written.len())))
            .ok_or_else(|| format!("`{text}` has no operator: write field=value, !=, =~ or !~"))?;
        let field = text[..at].trim().parse()?;
        Matcher::new(field, op, text[at + written.len()..].trim().to_owned())
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.field, self.op.as_str(), self.value)
    }
}

/// What happens, when a silence ends, to the alerts it kept quiet that still fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
    /// They are new alerts then: each joins an incident or opens one.
    #[default]
    Open,
    /// They stay quiet until they resolve; a later firing is new.
    Drop,
}

impl OnExpiry {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OnExpiry::Open => "open",
            OnExpiry::Drop => "drop",
        }
    }
}

impl FromStr for OnExpiry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "open" => Ok(OnExpiry::Open),
            "drop" => Ok(OnExpiry::Drop),
            other => Err(format!("unknown on_expiry `{other}`: use open or drop")),
        }
    }
}

/// Most matchers one silence takes.
pub const MAX_MATCHERS: usize = 32;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// What a silence's maker gave, checked: at least one matcher (none would silence
/// everything) and a comment saying why. The error names the field.
pub fn check(matchers: &[Matcher], comment: &str) -> Result<(), String> {
    if matchers.is_empty() {
        return Err(
            "invalid `matchers`: give at least one; a silence without matchers would \
                    silence everything"
                .into(),
        );
    }
    if matchers.len() > MAX_MATCHERS {
        return Err(format!("invalid `matchers`: at most {MAX_MATCHERS}"));
    }
    let comment = comment.trim();
    if comment.is_empty() || comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(format!(
            "invalid `comment`: say why, in 1 to {MAX_COMMENT_CHARS} characters"
        ));
    }
    Ok(())
}

/// When a silence holds, from what its maker gave: a start (`now` when not given) and either
/// an end or a duration (`2h`, `90m`, `1d 12h`). It must end after it starts, and after `now`.
pub fn window(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    duration: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let starts_at = starts_at.unwrap_or(now);
    let ends_at = match (ends_at, duration) {
        (Some(_), Some(_)) => return Err("give either `ends_at` or `duration`, not both".into()),
        (None, None) => return Err("give `ends_at` or `duration` (e.g. \"2h\")".into()),
        (Some(ends_at), None) => ends_at,
        (None, Some(duration)) => {
            let too_long = || "invalid `duration`: too long".to_owned();
            let duration = humantime::parse_duration(duration)
                .map_err(|err| format!("invalid `duration`: {err}"))?;
            let duration = chrono::TimeDelta::from_std(duration).map_err(|_| too_long())?;
            starts_at
                .checked_add_signed(duration)
                .ok_or_else(too_long)?
        }
    };
    if ends_at <= starts_at {
        return Err("invalid `ends_at`: must be after `starts_at`".into());
    }
    if ends_at <= now {
        return Err("invalid `ends_at`: already past".into());
    }
    Ok((starts_at, ends_at))
}

/// A silence as the decision reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// Its id.
    pub id: Uuid,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends (or was expired).
    pub ends_at: DateTime<Utc>,
    /// What its alerts do when it ends.
    pub on_expiry: OnExpiry,
}

impl Silence {
    /// Whether it silences `alert` at `now`.
    pub fn silences(&self, alert: &NormalizedAlert, now: DateTime<Utc>) -> bool {
        self.starts_at <= now
            && now < self.ends_at
            && self.matchers.iter().all(|m| m.matches(alert))
    }
}

#[cfg(test)]
mod tests {
    use aurora_domain::{AlertStatus, Fingerprint, Severity, SourceType};
    use chrono::TimeDelta;

    use super::*;

    fn alert() -> NormalizedAlert {
        NormalizedAlert {
            source_type: SourceType::Grafana,
            fingerprint: Fingerprint::parse("f").unwrap(),
            status: AlertStatus::Firing,
            severity: Severity::High,
            title: "Disk almost full on db-1".into(),
            service: Some("postgres".into()),
            environment: Some("production".into()),
            started_at: Utc::now(),
            labels: [("team".to_owned(), "storage".to_owned())].into(),
            url: None,
            description: None,
            runbook_url: None,
        }
    }

    fn matches(text: &str) -> bool {
        text.parse::<Matcher>().unwrap().matches(&alert())
    }

    #[test]
    fn matchers_compare_every_field_by_equality_and_whole_pattern() {
        assert!(matches("source=grafana"));
        assert!(matches("service=postgres"));
        assert!(matches("environment!=staging"));
        assert!(matches("severity=~high|critical"));
        assert!(matches("title=~Disk .*"));
        assert!(!matches("title=~Disk"), "the whole value must match");
        assert!(matches("labels.team=storage"));
        assert!(matches("labels.owner="), "a missing label is empty");
        assert!(matches("labels.team!~db-.*"));
        assert!(!matches("service!=postgres"));
    }

    #[test]
    fn bad_matchers_are_refused_with_what_is_wrong() {
        for (text, says) in [
            ("service", "no operator"),
            ("host=db-1", "unknown field `host`"),
            ("labels.=x", "unknown field"),
            ("title=~(", "invalid pattern for `title`"),
        ] {
            let err = text.parse::<Matcher>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let json = serde_json::json!({"field": "service", "op": "==", "value": "x"});
        let err = serde_json::from_value::<Matcher>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown operator `==`"), "{err}");
    }

    #[test]
    fn matchers_read_and_write_the_same_text_and_json() {
        for text in [
            "service=checkout",
            "severity!=info",
            "title=~a=b",
            "labels.x!~y",
        ] {
            let matcher: Matcher = text.parse().unwrap();
            assert_eq!(matcher.to_string(), text);
            let json = serde_json::to_value(&matcher).unwrap();
            assert_eq!(serde_json::from_value::<Matcher>(json).unwrap(), matcher);
        }
    }

    #[test]
    fn a_window_takes_an_end_or_a_duration_and_must_end_later() {
        let now = Utc::now();
        assert_eq!(
            window(None, None, Some("1h 30m"), now),
            Ok((now, now + TimeDelta::minutes(90)))
        );
        let later = now + TimeDelta::hours(1);
        assert_eq!(
            window(Some(later), Some(later + TimeDelta::hours(2)), None, now),
            Ok((later, later + TimeDelta::hours(2)))
        );
        for (starts, ends, duration, says) in [
            (None, None, None, "`ends_at` or `duration`"),
            (None, Some(later), Some("1h"), "not both"),
            (None, None, Some("soon"), "invalid `duration`"),
            (
                None,
                Some(now - TimeDelta::hours(1)),
                None,
                "after `starts_at`",
            ),
            (
                Some(now - TimeDelta::hours(3)),
                Some(now - TimeDelta::hours(1)),
                None,
                "already past",
            ),
        ] {
            let err = window(starts, ends, duration, now).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_silence_needs_a_matcher_and_a_reason() {
        let matcher: Matcher = "service=x".parse().unwrap();
        assert!(check(&[], "why").unwrap_err().contains("at least one"));
        assert!(
            check(std::slice::from_ref(&matcher), "  ")
                .unwrap_err()
                .contains("`comment`")
        );
        assert_eq!(check(&[matcher], "upgrade"), Ok(()));
    }

    #[test]
    fn a_silence_holds_only_within_its_window_and_with_all_matchers() {
        let now = Utc::now();
        let silence = Silence {
            id: Uuid::nil(),
            matchers: vec![
                "service=postgres".parse().unwrap(),
                "severity=high".parse().unwrap(),
            ],
            starts_at: now - TimeDelta::minutes(1),
            ends_at: now + TimeDelta::minutes(1),
            on_expiry: OnExpiry::Open,
        };
        assert!(silence.silences(&alert(), now));
        assert!(
            !silence.silences(&alert(), now + TimeDelta::minutes(1)),
            "ended"
        );
        assert!(
            !silence.silences(&alert(), now - TimeDelta::minutes(2)),
            "not begun"
        );
        let mut critical = alert();
        critical.severity = Severity::Critical;
        assert!(!silence.silences(&critical, now));
    }
}
