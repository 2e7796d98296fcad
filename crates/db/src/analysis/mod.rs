//! What the root-cause analysis writes: its claim on the incident ([`claims`]), the chat
//! session, thoughts, suggestions, command runs and the summary.

mod claims;

use std::borrow::Cow;

use aurora_domain::AuroraStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

pub use claims::{
    Claim, Lease, claim, complete, expire_running, hold, lapsed_leases, release, renew, waiting,
};

use crate::incidents::Incident;
use crate::schema::{
    chat_messages, chat_sessions, command_runs, incident_hypotheses, incident_suggestions,
    incident_thoughts, incidents,
};
use crate::{QueryResult, time};

/// A row of `incident_thoughts`: one step of the analysis, as a person watching reads it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident_thoughts)]
pub struct Thought {
    /// Order of thoughts.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// observation, hypothesis, action, conclusion or error.
    pub kind: String,
    /// The thought.
    pub content: String,
    /// When it was written.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
}

/// A row of `incident_hypotheses`: a cause the analysis ranked, with the facts behind it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident_hypotheses)]
pub struct Hypothesis {
    /// The row.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// 1 is the most likely.
    pub rank: i32,
    /// The cause, in a sentence.
    pub cause: String,
    /// In [0, 1].
    pub confidence: f64,
    /// The facts behind it, each citing where it comes from.
    pub evidence: Vec<String>,
    /// When the analysis wrote it.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
}

/// A cause to record, most likely first: (cause, confidence, evidence).
pub type RankedCause<'a> = (&'a str, f64, &'a [String]);

/// Replaces an incident's ranked causes with `causes`, most likely first: an analysis that
/// runs again leaves only its own.
pub async fn replace_hypotheses(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    causes: &[RankedCause<'_>],
) -> QueryResult<()> {
    diesel::delete(incident_hypotheses::table)
        .filter(incident_hypotheses::incident_id.eq(incident_id))
        .execute(conn)
        .await?;
    if causes.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let rows: Vec<_> = causes
        .iter()
        .zip(1..)
        .map(|((cause, confidence, evidence), rank)| {
            (
                incident_hypotheses::incident_id.eq(incident_id),
                incident_hypotheses::rank.eq(rank),
                incident_hypotheses::cause.eq(storable(cause).into_owned()),
                incident_hypotheses::confidence.eq(*confidence),
                incident_hypotheses::evidence.eq(evidence
                    .iter()
                    .map(|line| storable(line).into_owned())
                    .collect::<Vec<_>>()),
                incident_hypotheses::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(incident_hypotheses::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// An incident's ranked causes, most likely first.
pub async fn hypotheses(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<Hypothesis>> {
    incident_hypotheses::table
        .filter(incident_hypotheses::incident_id.eq(incident_id))
        .order(incident_hypotheses::rank.asc())
        .select(Hypothesis::as_select())
        .load(conn)
        .await
}

/// A row of `incident_suggestions`: a remediation step.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident_suggestions)]
pub struct Suggestion {
    /// Row id.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// The step in a few words.
    pub title: String,
    /// Why and how.
    pub detail: String,
    /// low, medium or high.
    pub risk: String,
    /// A command to run, as an argument list.
    pub command: Option<Vec<String>>,
    /// When it was suggested.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
}

/// A row of `command_runs`: a diagnostic command the analysis ran.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = command_runs)]
pub struct CommandRun {
    /// Row id.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// The argument list (never a shell line).
    pub argv: Vec<String>,
    /// Exit code; null when killed.
    pub exit_code: Option<i32>,
    /// Captured output, capped.
    pub output: String,
    /// Wall time.
    pub duration_ms: i32,
    /// When it started.
    #[serde(serialize_with = "time::serialize")]
    pub started_at: NaiveDateTime,
}

/// A row of `chat_messages`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = chat_messages)]
pub struct ChatMessage {
    /// Order of messages.
    pub id: i64,
    /// The session.
    pub session_id: Uuid,
    /// user, assistant or system.
    pub role: String,
    /// The message.
    pub content: String,
    /// When it was written.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
}

/// The incident's chat session: the one an earlier attempt made, else a new one recorded on
/// the incident.
pub async fn start_chat_session(
    conn: &mut AsyncPgConnection,
    incident: &Incident,
    title: &str,
) -> QueryResult<Uuid> {
    // An analysis taken over from a worker that died continues that worker's session.
    if let Some(session_id) = incident.aurora_chat_session_id {
        return Ok(session_id);
    }
    let session_id: Uuid = diesel::insert_into(chat_sessions::table)
        .values((
            chat_sessions::user_id.eq(&incident.user_id),
            chat_sessions::incident_id.eq(incident.id),
            chat_sessions::title.eq(title),
            chat_sessions::created_at.eq(time::now()),
        ))
        .returning(chat_sessions::id)
        .get_result(conn)
        .await?;
    diesel::update(incidents::table.find(incident.id))
        .set(incidents::aurora_chat_session_id.eq(session_id))
        .execute(conn)
        .await?;
    Ok(session_id)
}

/// Text as PostgreSQL stores it: without NUL characters, which it refuses in TEXT. Command
/// output and a model's words may hold them, and a write refused for ever would make the
/// analysis run again and again.
pub(crate) fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

/// Appends a message to a chat session.
pub async fn add_chat_message(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    role: &str,
    content: &str,
) -> QueryResult<()> {
    diesel::insert_into(chat_messages::table)
        .values((
            chat_messages::session_id.eq(session_id),
            chat_messages::role.eq(role),
            chat_messages::content.eq(storable(content)),
            chat_messages::created_at.eq(time::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Writes one thought; it is visible to readers as soon as this returns.
pub async fn add_thought(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    kind: &str,
    content: &str,
) -> QueryResult<()> {
    add_thoughts(conn, incident_id, &[(kind, content)]).await
}

/// Writes thoughts reached together (`(kind, content)`, in order) in one statement: one
/// commit instead of one per thought, which under a storm is what the worker waits on.
pub async fn add_thoughts<K: AsRef<str>, C: AsRef<str>>(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    thoughts: &[(K, C)],
) -> QueryResult<()> {
    if thoughts.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let rows: Vec<_> = thoughts
        .iter()
        .map(|(kind, content)| {
            (
                incident_thoughts::incident_id.eq(incident_id),
                incident_thoughts::kind.eq(kind.as_ref()),
                incident_thoughts::content.eq(storable(content.as_ref())),
                incident_thoughts::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(incident_thoughts::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// Writes thoughts as [`add_thoughts`] does, but only while `lease` holds the running
/// analysis; answers whether it did. The check and the insert are one statement that
/// share-locks the claim, so a takeover commits either after these thoughts or before the
/// check, never in between: an attempt that lost its claim writes nothing more.
pub async fn add_thoughts_held<K: AsRef<str>, C: AsRef<str>>(
    conn: &mut AsyncPgConnection,
    lease: Lease,
    thoughts: &[(K, C)],
) -> QueryResult<bool> {
    use diesel::sql_types::{Array, Text, Timestamp, Uuid as SqlUuid};
    if thoughts.is_empty() {
        return hold(conn, lease).await;
    }
    let kinds: Vec<&str> = thoughts.iter().map(|(kind, _)| kind.as_ref()).collect();
    let contents: Vec<Cow<'_, str>> = thoughts.iter().map(|(_, c)| storable(c.as_ref())).collect();
    let written = diesel::sql_query(
        "INSERT INTO incident_thoughts (incident_id, kind, content, created_at) \
         SELECT c.incident_id, t.kind, t.content, $4 \
         FROM analysis_claims c \
         CROSS JOIN unnest($5::text[], $6::text[]) WITH ORDINALITY AS t(kind, content, n) \
         WHERE c.incident_id = $1 AND c.lease_id = $2 \
           AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = c.incident_id AND i.aurora_status = $3) \
         ORDER BY t.n \
         FOR SHARE OF c",
    )
    .bind::<SqlUuid, _>(lease.incident_id)
    .bind::<SqlUuid, _>(lease.id)
    .bind::<Text, _>(AuroraStatus::Running.as_str())
    .bind::<Timestamp, _>(time::now())
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Text>, _>(&contents)
    .execute(conn)
    .await?;
    Ok(written > 0)
}

/// An incident's thoughts, in the order they were written.
pub async fn thoughts(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<Thought>> {
    incident_thoughts::table
        .filter(incident_thoughts::incident_id.eq(incident_id))
        .order(incident_thoughts::id.asc())
        .select(Thought::as_select())
        .load(conn)
        .await
}

/// An incident's suggestions.
pub async fn suggestions(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<Suggestion>> {
    incident_suggestions::table
        .filter(incident_suggestions::incident_id.eq(incident_id))
        .order(incident_suggestions::id.asc())
        .select(Suggestion::as_select())
        .load(conn)
        .await
}

/// The diagnostic commands run for an incident.
pub async fn command_runs(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<CommandRun>> {
    command_runs::table
        .filter(command_runs::incident_id.eq(incident_id))
        .order(command_runs::id.asc())
        .select(CommandRun::as_select())
        .load(conn)
        .await
}

/// The messages of a chat session.
pub async fn chat_messages(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> QueryResult<Vec<ChatMessage>> {
    chat_messages::table
        .filter(chat_messages::session_id.eq(session_id))
        .order(chat_messages::id.asc())
        .select(ChatMessage::as_select())
        .load(conn)
        .await
}

/// Records a remediation step.
pub async fn add_suggestion(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    title: &str,
    detail: &str,
    risk: &str,
) -> QueryResult<()> {
    diesel::insert_into(incident_suggestions::table)
        .values((
            incident_suggestions::incident_id.eq(incident_id),
            incident_suggestions::title.eq(storable(title)),
            incident_suggestions::detail.eq(storable(detail)),
            incident_suggestions::risk.eq(risk),
            incident_suggestions::created_at.eq(time::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Stores a diagnostic command's run, only while `lease` holds the running analysis (checked
/// as [`add_thoughts_held`] does); answers whether it did.
pub async fn record_command_run(
    conn: &mut AsyncPgConnection,
    lease: Lease,
    argv: &[String],
    exit_code: Option<i32>,
    output: &str,
    duration_ms: i32,
    started_at: NaiveDateTime,
) -> QueryResult<bool> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamp, Uuid as SqlUuid};
    let written = diesel::sql_query(
        "INSERT INTO command_runs (incident_id, argv, exit_code, output, duration_ms, started_at) \
         SELECT c.incident_id, $4, $5, $6, $7, $8 \
         FROM analysis_claims c \
         WHERE c.incident_id = $1 AND c.lease_id = $2 \
           AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = c.incident_id AND i.aurora_status = $3) \
         FOR SHARE OF c",
    )
    .bind::<SqlUuid, _>(lease.incident_id)
    .bind::<SqlUuid, _>(lease.id)
    .bind::<Text, _>(AuroraStatus::Running.as_str())
    .bind::<Array<Text>, _>(argv)
    .bind::<Nullable<Integer>, _>(exit_code)
    .bind::<Text, _>(storable(output))
    .bind::<Integer, _>(duration_ms)
    .bind::<Timestamp, _>(started_at)
    .execute(conn)
    .await?;
    Ok(written == 1)
}
