//! Prometheus Alertmanager under the same storm, for comparison: the Debian package's
//! binary with a route to a receiver that sends nothing, no clustering, its data in the
//! bench's work directory.

use std::path::Path;
use std::sync::{Arc, Mutex};

use aurora_chaos::infra::free_port;
use aurora_chaos::stack::Service;

use crate::load::{self, Outcome, Storm, Target};
use crate::stack::peak_rss_kib;
use crate::storm::Planner;

/// Where the Debian package `prometheus-alertmanager` installs it, and its name there.
const DIR: &str = "/usr/bin";
const NAME: &str = "prometheus-alertmanager";

/// Whether the package is installed (`scripts/ensure-services.sh --alertmanager` does it).
pub fn installed() -> bool {
    Path::new(DIR).join(NAME).exists()
}

/// Starts Alertmanager, runs the closed-loop storm against its API with a planner like the
/// one Aurora's phase A had, and stops it; its answers, and its peak resident memory (KiB).
pub async fn compare(
    work: &Path,
    planner: Planner,
    connections: usize,
    secs: f64,
) -> anyhow::Result<(Outcome, Option<u64>)> {
    let dir = work.join("alertmanager");
    std::fs::create_dir_all(dir.join("data"))?;
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )?;
    let port = free_port()?;
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        // Empty: no gossip with peers, as a single Alertmanager runs.
        "--cluster.listen-address=".to_owned(),
    ];
    let mut service = Service::new(NAME, Path::new(DIR), Vec::new(), &dir, port)
        .with_args(args)
        .with_ready_path("/-/ready");
    service.start(&reqwest::Client::new()).await?;
    let storm = Arc::new(Storm {
        target: Target::Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
        },
        planner: Mutex::new(planner),
        started: chrono::Utc::now(),
    });
    let outcome = load::closed_loop(storm, connections, secs).await;
    let rss = service.pid().and_then(peak_rss_kib);
    service.stop().await?;
    Ok((outcome, rss))
}
