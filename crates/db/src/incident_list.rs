//! The filtered, keyset-paginated incident list the API serves.

use aurora_domain::{IncidentStatus, Severity, SourceType, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::QueryResult;
use crate::incidents::Incident;
use crate::schema::incidents;

/// Which incidents to list. Every value is bound as a parameter, never spliced into SQL.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only these statuses; merged incidents appear only when asked for here or with
    /// `include_merged`.
    pub status: Option<IncidentStatus>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only from this source.
    pub source_type: Option<SourceType>,
    /// Only incidents affecting this service.
    pub service: Option<String>,
    /// Only in this environment.
    pub environment: Option<String>,
    /// Created at or after.
    pub since: Option<NaiveDateTime>,
    /// Created before.
    pub until: Option<NaiveDateTime>,
    /// Every word must appear in the title (case-insensitive).
    pub words: Vec<String>,
    /// List merged incidents too.
    pub include_merged: bool,
}

/// Where the previous page ended: the last incident's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the last incident listed.
    pub created_at: NaiveDateTime,
    /// Its id, which breaks ties.
    pub id: Uuid,
}

/// `%`, `_` and `\` in a word match themselves, not patterns.
fn like_pattern(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of a user's incidents, newest first, after `cursor`; fetches `limit + 1` so the
/// caller knows whether another page follows.
pub async fn page(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    filter: &IncidentFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<Incident>> {
    let mut query = incidents::table
        .filter(incidents::user_id.eq(user_id.as_str()))
        .into_boxed();
    match filter.status {
        Some(status) => query = query.filter(incidents::status.eq(status.as_str())),
        None if !filter.include_merged => {
            query = query.filter(incidents::status.ne(IncidentStatus::Merged.as_str()));
        }
        None => {}
    }
    if let Some(severity) = filter.severity {
        query = query.filter(incidents::severity.eq(severity.as_str()));
    }
    if let Some(source) = filter.source_type {
        query = query.filter(incidents::source_type.eq(source.as_str()));
    }
    if let Some(service) = &filter.service {
        query = query.filter(
            incidents::alert_service
                .eq(service.clone())
                .or(incidents::affected_services.contains(vec![service.clone()])),
        );
    }
    if let Some(environment) = &filter.environment {
        query = query.filter(incidents::alert_environment.eq(environment.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(incidents::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(incidents::created_at.lt(until));
    }
    for word in &filter.words {
        query = query.filter(incidents::alert_title.ilike(like_pattern(word)));
    }
    if let Some(cursor) = cursor {
        query = query.filter(
            incidents::created_at
                .lt(cursor.created_at)
                .or(incidents::created_at
                    .eq(cursor.created_at)
                    .and(incidents::id.lt(cursor.id))),
        );
    }
    query
        .order((incidents::created_at.desc(), incidents::id.desc()))
        .limit(limit + 1)
        .select(Incident::as_select())
        .load(conn)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_characters_in_words_are_literal() {
        assert_eq!(super::like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
