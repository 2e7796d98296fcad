//! Aurora's services as separate processes, as `make up` runs them, started, killed and
//! stopped on the fault schedule's word; and the `aurora` CLI that prepares their database.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::wait_until;

/// Runs the `aurora` CLI at `cli` with `args` in the services' environment; its JSON output
/// (`--json`), or `null` for a command that prints none. An error carries its stderr.
pub async fn run_cli(
    cli: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> anyhow::Result<serde_json::Value> {
    run_cli_with_input(cli, env, args, "").await
}

/// [`run_cli`] with `input` on the CLI's standard input (signing secrets, which never go in
/// its arguments).
pub async fn run_cli_with_input(
    cli: &Path,
    env: &[(String, String)],
    args: &[&str],
    input: &str,
) -> anyhow::Result<serde_json::Value> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(cli)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", cli.display()))?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    let output = child
        .wait_with_output()
        .await
        .with_context(|| format!("running {}", cli.display()))?;
    if !output.status.success() {
        bail!(
            "aurora {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap_or_default())
}

/// Sends SIGTERM and waits (at most 30 s) for the process to exit.
pub async fn terminate(mut child: Child, name: &str) -> anyhow::Result<()> {
    let pid = child.id().context("the process has already been reaped")?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    if !status.success() {
        bail!("kill -TERM {pid} ({name}) failed");
    }
    match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
        Ok(exit) => {
            exit?;
            Ok(())
        }
        Err(_) => {
            child.kill().await?;
            bail!("{name} did not stop within 30 s of SIGTERM")
        }
    }
}

/// One service binary with its environment, log file and health address.
pub struct Service {
    name: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    health: String,
    child: Option<Child>,
}

impl Service {
    /// A service that is not started yet.
    pub fn new(
        name: &'static str,
        bin_dir: &Path,
        env: Vec<(String, String)>,
        work: &Path,
        health_port: u16,
    ) -> Self {
        Self {
            name,
            bin: bin_dir.join(name),
            args: Vec::new(),
            env,
            log: work.join(format!("{name}.log")),
            health: format!("http://127.0.0.1:{health_port}/readyz"),
            child: None,
        }
    }

    /// The same with command-line arguments (Aurora's services take theirs from the
    /// environment; other programs, such as Alertmanager, do not).
    pub fn with_args(mut self, args: Vec<String>) -> Self {
        self.args = args;
        self
    }

    /// The same, ready when `path` answers 2xx instead of Aurora's `/readyz`
    /// (Alertmanager's is `/-/ready`).
    pub fn with_ready_path(mut self, path: &str) -> Self {
        if let Some(base) = self.health.strip_suffix("/readyz") {
            self.health = format!("{base}{path}");
        }
        self
    }

    /// Its process id while it runs (for reading `/proc/<pid>`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts it and waits until it says it is ready.
    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        let url = self.health.clone();
        let what = format!("{} to be ready (log: {})", self.name, self.log.display());
        wait_until(Duration::from_secs(60), &what, async || {
            http.get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success())
        })
        .await
    }

    /// `kill -9`: no chance to finish anything.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// SIGTERM, and waits for it to finish its in-flight work and exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self.child.take() {
            Some(child) => terminate(child, self.name).await,
            None => Ok(()),
        }
    }
}
