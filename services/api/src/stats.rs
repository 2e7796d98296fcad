//! `GET /api/stats`: how much noise Aurora took away for the caller — notifications received
//! and what became of them, incidents opened, and the ratio of the two — overall, per source
//! and per service. The console's headline figure is the overall ratio of the last day.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use aurora_db::{DbPool, stats};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::incidents::parse_time;

/// The window when `since` is not given: the last day.
const DEFAULT_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The query string of `GET /api/stats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    since: Option<String>,
}

/// Notifications and incidents of one group (everything, a source or a service).
#[derive(Debug, Default, Serialize)]
struct Figures {
    /// Every notification processed: the sum of the outcomes below and `opened`.
    alerts_received: i64,
    /// Repeats of alerts already open.
    deduplicated: i64,
    /// New alerts that joined an open incident.
    correlated: i64,
    /// Kept quiet by a silence.
    suppressed: i64,
    /// Resolves.
    resolved: i64,
    /// Resolved alerts firing again in their own incident.
    refired: i64,
    /// Incidents opened (merged ones included).
    incidents_opened: i64,
    /// `alerts_received / incidents_opened`; null when none opened.
    compression_ratio: Option<f64>,
}

impl Figures {
    fn add(&mut self, outcome: &str, count: i64) {
        self.alerts_received += count;
        match outcome {
            "deduplicated" => self.deduplicated += count,
            "correlated" => self.correlated += count,
            "suppressed" => self.suppressed += count,
            "resolved" => self.resolved += count,
            "refired" => self.refired += count,
            // `opened`: counted in `incidents_opened` from the incidents themselves, which
            // also holds those opened when a silence ended.
            _ => {}
        }
    }

    fn finish(mut self) -> Self {
        self.compression_ratio = (self.incidents_opened > 0)
            .then(|| self.alerts_received as f64 / self.incidents_opened as f64);
        self
    }
}

/// The caller's noise figures over a window.
#[derive(Debug, Serialize)]
struct Stats {
    /// The window's start (RFC 3339): `since` rounded down to the hour, as counts are kept.
    since: DateTime<Utc>,
    #[serde(flatten)]
    total: Figures,
    /// Per vendor.
    by_source: BTreeMap<String, Figures>,
    /// Per service ("" for alerts that named none).
    by_service: BTreeMap<String, Figures>,
}

pub(crate) async fn stats(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = parse_time("since", query.since.as_deref())?
        .map(|at| at.and_utc())
        .unwrap_or_else(|| Utc::now() - DEFAULT_WINDOW);
    let since = since.duration_trunc(TimeDelta::hours(1)).unwrap_or(since);
    let mut conn = pool.get().await?;
    let notifications = stats::notifications_since(&mut conn, &caller.0, since.naive_utc()).await?;
    let incidents = stats::incidents_since(&mut conn, &caller.0, since.naive_utc()).await?;
    let mut total = Figures::default();
    let mut by_source: BTreeMap<String, Figures> = BTreeMap::new();
    let mut by_service: BTreeMap<String, Figures> = BTreeMap::new();
    for counted in &notifications {
        total.add(&counted.outcome, counted.count);
        by_source
            .entry(counted.source_type.clone())
            .or_default()
            .add(&counted.outcome, counted.count);
        by_service
            .entry(counted.service.clone())
            .or_default()
            .add(&counted.outcome, counted.count);
    }
    for opened in &incidents {
        total.incidents_opened += opened.count;
        by_source
            .entry(opened.source_type.clone())
            .or_default()
            .incidents_opened += opened.count;
        by_service
            .entry(opened.service.clone())
            .or_default()
            .incidents_opened += opened.count;
    }
    let finish = |groups: BTreeMap<String, Figures>| {
        groups
            .into_iter()
            .map(|(key, figures)| (key, figures.finish()))
            .collect()
    };
    Ok(HttpResponse::Ok().json(Stats {
        since,
        total: total.finish(),
        by_source: finish(by_source),
        by_service: finish(by_service),
    }))
}
