//! `GET /api/stats`: how much noise Aurora took away for the caller, the figure at the top of
//! the console.

use actix_web::{HttpResponse, web};
use aurora_db::{DbPool, stats};
use chrono::{DateTime, TimeDelta, Utc};
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

/// The caller's noise figures over a window.
#[derive(Debug, Serialize)]
struct Stats {
    /// The window's start (RFC 3339).
    since: DateTime<Utc>,
    #[serde(flatten)]
    noise: stats::Noise,
    /// Alerts received per incident opened; null when no incident opened.
    compression_ratio: Option<f64>,
}

pub(crate) async fn stats(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = parse_time("since", query.since.as_deref())?
        .map(|at| at.and_utc())
        .unwrap_or_else(|| Utc::now() - DEFAULT_WINDOW);
    let mut conn = pool.get().await?;
    let noise = stats::noise_since(&mut conn, &caller.0, since.naive_utc()).await?;
    let compression_ratio = (noise.incidents_opened > 0)
        .then(|| noise.alerts_received as f64 / noise.incidents_opened as f64);
    Ok(HttpResponse::Ok().json(Stats {
        since,
        noise,
        compression_ratio,
    }))
}
