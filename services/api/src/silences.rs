//! `/api/silences`: maintenance windows. While one is active, the caller's alerts it matches
//! are stored and counted but open no incident; when it ends, those still firing are new
//! alerts (`on_expiry: open`, the default) or stay quiet until they resolve (`drop`).

use actix_web::{HttpResponse, web};
use aurora_correlation::{Matcher, OnExpiry, silence};
use aurora_db::silences::{self, NewSilence, SilenceRow};
use aurora_db::{DbPool, time};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::incidents::parse_time;

/// Silences one page lists.
const LIST_LIMIT: i64 = 500;

/// The body of `POST /api/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSilence {
    matchers: Vec<serde_json::Value>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    /// `2h`, `90m`, `1d 12h`: instead of `ends_at`.
    duration: Option<String>,
    comment: String,
    created_by: Option<String>,
    on_expiry: Option<String>,
}

/// A silence as served: its row and where it stands now.
#[derive(Debug, Serialize)]
pub(crate) struct SilenceView {
    #[serde(flatten)]
    row: SilenceRow,
    /// `pending` (not started), `active` or `expired`.
    state: &'static str,
}

impl SilenceView {
    fn of(row: SilenceRow, now: NaiveDateTime) -> Self {
        // One expired before it began ends where it starts: it never holds.
        let state = if now >= row.ends_at || row.ends_at <= row.starts_at {
            "expired"
        } else if now < row.starts_at {
            "pending"
        } else {
            "active"
        };
        SilenceView { row, state }
    }
}

fn unprocessable(message: String) -> ApiError {
    ApiError::Unprocessable(message)
}

impl CreateSilence {
    fn matchers(&self) -> Result<Vec<Matcher>, ApiError> {
        self.matchers
            .iter()
            .enumerate()
            .map(|(i, matcher)| {
                serde_json::from_value(matcher.clone())
                    .map_err(|err| unprocessable(format!("invalid `matchers[{i}]`: {err}")))
            })
            .collect()
    }

    fn window(&self, now: NaiveDateTime) -> Result<(NaiveDateTime, NaiveDateTime), ApiError> {
        let time = |name, value: Option<&str>| {
            parse_time(name, value)
                .map(|at| at.map(|at| at.and_utc()))
                .map_err(|err| unprocessable(err.to_string()))
        };
        let (starts_at, ends_at) = silence::window(
            time("starts_at", self.starts_at.as_deref())?,
            time("ends_at", self.ends_at.as_deref())?,
            self.duration.as_deref(),
            now.and_utc(),
        )
        .map_err(unprocessable)?;
        Ok((starts_at.naive_utc(), ends_at.naive_utc()))
    }
}

pub(crate) async fn create(
    caller: Caller,
    pool: web::Data<DbPool>,
    body: web::Json<CreateSilence>,
) -> Result<HttpResponse, ApiError> {
    let now = time::now();
    let matchers = body.matchers()?;
    silence::check(&matchers, &body.comment).map_err(unprocessable)?;
    let (starts_at, ends_at) = body.window(now)?;
    let comment = body.comment.trim();
    let on_expiry = body
        .on_expiry
        .as_deref()
        .map(str::parse::<OnExpiry>)
        .transpose()
        .map_err(|err| unprocessable(format!("invalid `on_expiry`: {err}")))?
        .unwrap_or_default();
    let created_by = body
        .created_by
        .as_deref()
        .map(str::trim)
        .filter(|by| !by.is_empty())
        .unwrap_or(caller.0.as_str());
    let mut conn = pool.get().await?;
    let row = silences::create(
        &mut conn,
        &caller.0,
        &NewSilence {
            matchers: &matchers,
            starts_at,
            ends_at,
            comment,
            created_by,
            on_expiry,
        },
    )
    .await?
    .map_err(ApiError::Conflict)?;
    Ok(HttpResponse::Created().json(SilenceView::of(row, now)))
}

/// The query string of `GET /api/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Also those that ended since (RFC 3339); without it, only those not ended.
    ended_since: Option<String>,
}

pub(crate) async fn list(
    caller: Caller,
    pool: web::Data<DbPool>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = time::now();
    let since = parse_time("ended_since", query.ended_since.as_deref())?.unwrap_or(now);
    let mut conn = pool.get().await?;
    let rows = silences::list(&mut conn, &caller.0, Some(since), LIST_LIMIT).await?;
    let silences: Vec<SilenceView> = rows
        .into_iter()
        .map(|row| SilenceView::of(row, now))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "silences": silences })))
}

fn silence_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound("silence"))
}

pub(crate) async fn get(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = silence_id(&path)?;
    let mut conn = pool.get().await?;
    let row = silences::find(&mut conn, &caller.0, id)
        .await?
        .ok_or(ApiError::NotFound("silence"))?;
    Ok(HttpResponse::Ok().json(SilenceView::of(row, time::now())))
}

pub(crate) async fn expire(
    caller: Caller,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = silence_id(&path)?;
    let now = time::now();
    let mut conn = pool.get().await?;
    let before = silences::find(&mut conn, &caller.0, id)
        .await?
        .ok_or(ApiError::NotFound("silence"))?;
    if before.ends_at <= now {
        return Err(ApiError::Conflict(format!(
            "silence {id} already ended at {}",
            DateTime::<Utc>::from_naive_utc_and_offset(before.ends_at, Utc).to_rfc3339()
        )));
    }
    let row = silences::expire(&mut conn, &caller.0, id, now)
        .await?
        .ok_or(ApiError::NotFound("silence"))?;
    Ok(HttpResponse::Ok().json(SilenceView::of(row, now)))
}
