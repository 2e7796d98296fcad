//! The chaos run's own PostgreSQL cluster and NATS server, in its work directory on free
//! ports, so restarting and stopping them touches nothing anyone else uses.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::wait_until;

/// A port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Runs a command to completion; an error names it and carries its output.
async fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A PostgreSQL cluster made with `initdb` in the work directory.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user.
    as_postgres: bool,
}

impl Postgres {
    /// Makes and starts a cluster under `dir` (trust auth on loopback, fsync on).
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = server_bin_dir()?;
        let as_postgres = std::fs::metadata("/proc/self")?.uid() == 0;
        let data = dir.join("postgres");
        std::fs::create_dir_all(&data)?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&data)).await?;
        }
        let port = free_port()?;
        let pg = Self {
            bin,
            data,
            port,
            as_postgres,
        };
        run(pg
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&pg.data))
        .await?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            pg.data.display()
        );
        run(pg
            .command("pg_ctl")
            .arg("-D")
            .arg(&pg.data)
            .args(["-o", &options, "-l"])
            .arg(pg.data.join("server.log"))
            .args(["-w", "start"]))
        .await?;
        Ok(pg)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        run(self.command("createdb").args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            name,
        ]))
        .await
    }

    /// A fast restart: connections are cut, the server comes back with the same data.
    pub async fn restart(&self) -> anyhow::Result<()> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            // `-l` again: without it the new server would hold this command's output pipe.
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-m", "fast", "-w", "restart"]))
        .await
    }

    /// Stops the cluster (its files go with the work directory).
    pub async fn stop(&self) -> anyhow::Result<()> {
        run(self.command("pg_ctl").arg("-D").arg(&self.data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]))
        .await
    }
}

/// The newest installed PostgreSQL server's `bin` directory.
fn server_bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL server binaries not found in /usr/lib/postgresql (make up installs them)",
        )?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server with initdb in /usr/lib/postgresql")
}

/// A nats-server with JetStream on file storage in the work directory.
pub struct Nats {
    port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Nats {
    /// Starts the server.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut nats = Self {
            port: free_port()?,
            store: dir.join("nats"),
            log: dir.join("nats-server.log"),
            child: None,
        };
        nats.resume().await?;
        Ok(nats)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and store.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("nats-server");
        let child = Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .arg("-l")
            .arg(&self.log)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        self.child = Some(child);
        let port = self.port;
        wait_until(
            Duration::from_secs(30),
            "nats-server to listen",
            async || port_open(port).await,
        )
        .await
    }

    /// Stops it the way an operator does (SIGTERM: JetStream flushes its files first).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.take() {
            crate::stack::terminate(child, "nats-server").await?;
        }
        Ok(())
    }
}
