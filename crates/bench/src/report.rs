//! The figures: a Markdown table, the one-line summary `make bench` ends with, and the same
//! as JSON under `target/bench/`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::storm::Kind;

/// One phase's row.
#[derive(Debug, Clone, Default)]
pub struct PhaseRow {
    /// What ran: phase, connections, duration, offered rate.
    pub name: String,
    /// Requests sent.
    pub requests: u64,
    /// Accepted answers: 202 from Aurora, 2xx from Alertmanager.
    pub accepted: u64,
    /// Accepted answers per second, from the phase's start to its last answer.
    pub accepted_per_sec: f64,
    /// Requests answered per second, likewise.
    pub per_sec: f64,
    /// Request latency, milliseconds.
    pub p50_ms: Option<f64>,
    /// Request latency, milliseconds.
    pub p99_ms: Option<f64>,
    /// Alerts stored per second, from the phase's start to the last one stored.
    pub e2e_per_sec: Option<f64>,
    /// From the last answer to the last alert stored, seconds.
    pub drain_secs: Option<f64>,
    /// Incidents opened by the phase's alerts.
    pub incidents: Option<i64>,
    /// From an alert's arrival to the incident it opened, milliseconds.
    pub incident_p50_ms: Option<f64>,
    /// Likewise, 99th percentile.
    pub incident_p99_ms: Option<f64>,
}

/// The analyses' figures.
#[derive(Debug, Clone, Default)]
pub struct RcaFigures {
    /// Incidents opened in the run.
    pub incidents: i64,
    /// Of which analysed to `complete`.
    pub complete: i64,
    /// Complete analyses per second, from the first incident's creation to the last end.
    pub per_sec: Option<f64>,
    /// The same per RCA worker process.
    pub per_worker: Option<f64>,
    /// Incidents not complete, by `aurora_status`.
    pub left: Vec<(String, i64)>,
}

/// Every figure of a run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Phase A: closed loop, as fast as possible.
    pub max: Option<PhaseRow>,
    /// Phase B: open loop at a fixed rate.
    pub rate: Option<PhaseRow>,
    /// Phase A's storm against Alertmanager.
    pub alertmanager: Option<PhaseRow>,
    /// The analyses.
    pub rca: Option<RcaFigures>,
    /// Peak resident memory per service, KiB.
    pub rss_kib: Vec<(String, u64)>,
    /// Alertmanager's, for comparison.
    pub alertmanager_rss_kib: Option<u64>,
    /// Requests sent to Aurora by kind, in [`Kind::ALL`] order.
    pub mix: [u64; 4],
}

fn int(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn mb(kib: u64) -> u64 {
    (kib + 512) / 1024
}

impl Figures {
    fn max_rss_mb(&self) -> Option<u64> {
        self.rss_kib.iter().map(|(_, kib)| mb(*kib)).max()
    }

    /// The Markdown tables.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| phase | requests | 202s/2xx | req/s | p50 ms | p99 ms | e2e alerts/s | drain s | incidents | alert→incident p50 ms | alert→incident p99 ms |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for row in [&self.max, &self.rate, &self.alertmanager]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                row.name,
                row.requests,
                row.accepted,
                row.per_sec,
                ms(row.p50_ms),
                ms(row.p99_ms),
                int(row.e2e_per_sec),
                ms(row.drain_secs),
                row.incidents
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                ms(row.incident_p50_ms),
                ms(row.incident_p99_ms),
            );
        }
        let mix: Vec<String> = Kind::ALL
            .iter()
            .zip(self.mix)
            .map(|(kind, count)| format!("{} {count}", kind.name()))
            .collect();
        let _ = writeln!(out, "\nAurora's requests: {}.", mix.join(", "));
        if let Some(rca) = &self.rca {
            let left: Vec<String> = rca
                .left
                .iter()
                .map(|(status, count)| format!("{status} {count}"))
                .collect();
            let _ = write!(
                out,
                "\n| analyses | incidents | complete | incidents/s | per worker | not complete |\n\
                 | --- | ---: | ---: | ---: | ---: | --- |\n\
                 | built-in analyst | {} | {} | {} | {} | {} |\n",
                rca.incidents,
                rca.complete,
                int(rca.per_sec),
                int(rca.per_worker),
                if left.is_empty() {
                    "none".to_owned()
                } else {
                    left.join(", ")
                },
            );
        }
        out.push_str("\n| service | peak RSS MB |\n| --- | ---: |\n");
        for (service, kib) in &self.rss_kib {
            let _ = writeln!(out, "| {service} | {} |", mb(*kib));
        }
        if let Some(kib) = self.alertmanager_rss_kib {
            let _ = writeln!(out, "| Alertmanager (comparison) | {} |", mb(kib));
        }
        out
    }

    /// The last line of the output: the headline figures.
    pub fn summary(&self) -> String {
        let accepted_per_sec = |row: &Option<PhaseRow>| row.as_ref().map(|r| r.accepted_per_sec);
        let rate = self.rate.as_ref();
        format!(
            "bench: ingest={} e2e={} p50_ms={} p99_ms={} e2e_p99_ms={} rca={} rss_mb={} alertmanager={}",
            int(accepted_per_sec(&self.max)),
            int(self.max.as_ref().and_then(|r| r.e2e_per_sec)),
            ms(rate.and_then(|r| r.p50_ms)),
            ms(rate.and_then(|r| r.p99_ms)),
            ms(rate.and_then(|r| r.incident_p99_ms)),
            int(self.rca.as_ref().and_then(|r| r.per_sec)),
            self.max_rss_mb()
                .map_or_else(|| "-".to_owned(), |mb| mb.to_string()),
            int(accepted_per_sec(&self.alertmanager)),
        )
    }

    /// Everything as JSON: the summary's figures at the top level, the rows beside them.
    pub fn json(&self, settings: Value) -> Value {
        let row = |row: &Option<PhaseRow>| {
            row.as_ref().map(|r| {
                json!({
                    "name": r.name, "requests": r.requests, "accepted": r.accepted,
                    "accepted_per_sec": r.accepted_per_sec, "per_sec": r.per_sec,
                    "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "e2e_per_sec": r.e2e_per_sec,
                    "drain_secs": r.drain_secs, "incidents": r.incidents, "incident_p50_ms": r.incident_p50_ms,
                    "incident_p99_ms": r.incident_p99_ms,
                })
            })
        };
        let rate = self.rate.as_ref();
        json!({
            "unix_time": chrono::Utc::now().timestamp(),
            "ingest": self.max.as_ref().map(|r| r.accepted_per_sec),
            "e2e": self.max.as_ref().and_then(|r| r.e2e_per_sec),
            "p50_ms": rate.and_then(|r| r.p50_ms),
            "p99_ms": rate.and_then(|r| r.p99_ms),
            "e2e_p99_ms": rate.and_then(|r| r.incident_p99_ms),
            "rca": self.rca.as_ref().and_then(|r| r.per_sec),
            "rss_mb": self.max_rss_mb(),
            "alertmanager": self.alertmanager.as_ref().map(|r| r.accepted_per_sec),
            "phases": { "max": row(&self.max), "rate": row(&self.rate), "alertmanager": row(&self.alertmanager) },
            "analyses": self.rca.as_ref().map(|r| json!({
                "incidents": r.incidents, "complete": r.complete, "per_sec": r.per_sec,
                "per_worker": r.per_worker, "not_complete": r.left.iter().map(|(s, n)| json!({ "status": s, "count": n })).collect::<Vec<_>>(),
            })),
            "rss_mb_by_service": self.rss_kib.iter().map(|(s, kib)| (s.clone(), json!(mb(*kib)))).collect::<serde_json::Map<_, _>>(),
            "alertmanager_rss_mb": self.alertmanager_rss_kib.map(mb),
            "mix": Kind::ALL.iter().zip(self.mix).map(|(k, n)| (k.name().replace(' ', "_"), json!(n))).collect::<serde_json::Map<_, _>>(),
            "settings": settings,
        })
    }
}

/// Writes `value` to `<dir>/<name>` (and, for a full run, to `<dir>/latest.json`).
pub fn write(dir: &Path, names: &[String], value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(value)?;
    for name in names {
        std::fs::write(dir.join(name), &text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_has_every_figure_rounded_as_promised() {
        let figures = Figures {
            max: Some(PhaseRow {
                accepted_per_sec: 4321.6,
                e2e_per_sec: Some(1999.4),
                ..PhaseRow::default()
            }),
            rate: Some(PhaseRow {
                p50_ms: Some(1.234),
                p99_ms: Some(12.07),
                incident_p99_ms: Some(250.0),
                ..PhaseRow::default()
            }),
            rca: Some(RcaFigures {
                per_sec: Some(80.2),
                ..RcaFigures::default()
            }),
            rss_kib: vec![("ingress".into(), 40_000), ("correlator-1".into(), 81_000)],
            ..Figures::default()
        };
        assert_eq!(
            figures.summary(),
            "bench: ingest=4322 e2e=1999 p50_ms=1.2 p99_ms=12.1 e2e_p99_ms=250.0 rca=80 rss_mb=79 alertmanager=-"
        );
    }
}
