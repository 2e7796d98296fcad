//! What the root-cause analysis writes: its claim on the incident, the chat session, thoughts,
//! suggestions, command runs and the summary.

use aurora_domain::AuroraStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::incidents::Incident;
use crate::schema::{
    analysis_claims, chat_messages, chat_sessions, command_runs, incident_suggestions,
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

/// The answer to a claim.
#[derive(Debug)]
pub enum Claim {
    /// This caller runs the analysis, under this lease.
    Claimed(Box<Incident>, Uuid),
    /// This caller runs the analysis another worker began and stopped renewing (it died),
    /// under this new lease.
    TakenOver(Box<Incident>, Uuid),
    /// It was claimed before (by another worker, or before a redelivery).
    AlreadyClaimed,
    /// The user already has `limit` analyses running; try again later.
    UserBusy,
}

/// Claims an incident's analysis for exactly one caller: an `idle` one (→ `running`), or a
/// `running` one whose lease was last renewed before `stale_before` (its worker died). Refused
/// while the user already has `per_user_limit` analyses running on live leases. One
/// transaction under the user's lock, so concurrent claims cannot overshoot the limit; each
/// change is conditional, so a claim and a renewal racing cannot both win.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    per_user_limit: i64,
    stale_before: NaiveDateTime,
) -> QueryResult<Claim> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        let Some((owner, status)) = incidents::table
            .find(incident_id)
            .select((incidents::user_id, incidents::aurora_status))
            .first::<(String, Option<String>)>(conn)
            .await
            .optional()?
        else {
            return Ok(Claim::AlreadyClaimed);
        };
        let idle = status.as_deref() == Some(AuroraStatus::Idle.as_str());
        let running = status.as_deref() == Some(AuroraStatus::Running.as_str());
        // Complete, failed or stopped analyses are never claimed again.
        if !idle && !running {
            return Ok(Claim::AlreadyClaimed);
        }
        let owner = aurora_domain::UserId::parse(owner)
            .map_err(|err| diesel::result::Error::DeserializationError(Box::new(err)))?;
        crate::lock_user(conn, &owner).await?;
        let live: i64 = incidents::table
            .inner_join(analysis_claims::table)
            .filter(incidents::user_id.eq(owner.as_str()))
            .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
            .filter(analysis_claims::renewed_at.ge(stale_before))
            .count()
            .get_result(conn)
            .await?;
        if live >= per_user_limit {
            return Ok(Claim::UserBusy);
        }
        let now = time::now();
        let lease = Uuid::new_v4();
        if running {
            let taken = diesel::update(analysis_claims::table.find(incident_id))
                .filter(analysis_claims::renewed_at.lt(stale_before))
                // A takeover keeps the first claim's time: the budget bounds all attempts.
                .set((
                    analysis_claims::renewed_at.eq(now),
                    analysis_claims::lease_id.eq(lease),
                ))
                .execute(conn)
                .await?;
            if taken == 0 {
                return Ok(Claim::AlreadyClaimed);
            }
            let incident = incidents::table
                .find(incident_id)
                .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
                .select(Incident::as_select())
                .first(conn)
                .await?;
            return Ok(Claim::TakenOver(Box::new(incident), lease));
        }
        let claimed = diesel::update(incidents::table.find(incident_id))
            .filter(incidents::aurora_status.eq(AuroraStatus::Idle.as_str()))
            .set((
                incidents::aurora_status.eq(AuroraStatus::Running.as_str()),
                incidents::updated_at.eq(now),
            ))
            .returning(Incident::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(incident) = claimed else {
            return Ok(Claim::AlreadyClaimed);
        };
        diesel::insert_into(analysis_claims::table)
            .values((
                analysis_claims::incident_id.eq(incident_id),
                analysis_claims::claimed_at.eq(now),
                analysis_claims::renewed_at.eq(now),
                analysis_claims::lease_id.eq(lease),
            ))
            .on_conflict(analysis_claims::incident_id)
            .do_update()
            .set((
                analysis_claims::claimed_at.eq(now),
                analysis_claims::renewed_at.eq(now),
                analysis_claims::lease_id.eq(lease),
            ))
            .execute(conn)
            .await?;
        Ok(Claim::Claimed(Box::new(incident), lease))
    })
    .await
}

/// Renews `lease` on a running analysis; answers false once the analysis is no longer running
/// or another attempt holds it.
pub async fn renew(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    lease: Uuid,
) -> QueryResult<bool> {
    let still_running = incidents::table
        .filter(incidents::id.eq(incident_id))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()));
    let renewed = diesel::update(analysis_claims::table.find(incident_id))
        .filter(analysis_claims::lease_id.eq(lease))
        .filter(diesel::dsl::exists(still_running))
        .set(analysis_claims::renewed_at.eq(time::now()))
        .execute(conn)
        .await?;
    Ok(renewed == 1)
}

/// Running analyses whose lease was last renewed before `stale_before`: their worker died.
pub async fn lapsed_leases(
    conn: &mut AsyncPgConnection,
    stale_before: NaiveDateTime,
) -> QueryResult<Vec<Uuid>> {
    analysis_claims::table
        .inner_join(incidents::table)
        .filter(analysis_claims::renewed_at.lt(stale_before))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
        .select(analysis_claims::incident_id)
        .load(conn)
        .await
}

/// Stops every analysis that has run since before `claimed_before` (its worker died, or it
/// hangs): `error`, with the reason as a thought. Answers the incidents stopped.
pub async fn expire_running(
    conn: &mut AsyncPgConnection,
    claimed_before: NaiveDateTime,
    budget_secs: u64,
) -> QueryResult<Vec<Uuid>> {
    let stale: Vec<Uuid> = analysis_claims::table
        .inner_join(incidents::table)
        .filter(analysis_claims::claimed_at.lt(claimed_before))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
        .select(analysis_claims::incident_id)
        .load(conn)
        .await?;
    let mut stopped = Vec::new();
    for incident_id in stale {
        // `fail` only changes a still-running analysis, so a race with its worker is harmless.
        let updated = diesel::update(incidents::table.find(incident_id))
            .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
            .set((
                incidents::aurora_status.eq(AuroraStatus::Error.as_str()),
                incidents::updated_at.eq(time::now()),
            ))
            .execute(conn)
            .await?;
        if updated == 1 {
            let reason =
                format!("The analysis ran past its {budget_secs} s time budget and was stopped.");
            add_thought(conn, incident_id, "error", &reason).await?;
            stopped.push(incident_id);
        }
    }
    Ok(stopped)
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
            chat_messages::content.eq(content),
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
                incident_thoughts::content.eq(content.as_ref()),
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

/// Ends a running analysis held under `lease` with its summary: `complete` and `analyzed_at`.
/// `None` when the analysis is no longer running (a merge or the time budget stopped it) or
/// another attempt took it over meanwhile. A summary a person wrote is kept: the analysis'
/// summary then becomes a thought. Call it inside the transaction that writes the outcome.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    lease: Uuid,
    summary: &str,
) -> QueryResult<Option<Incident>> {
    let now = time::now();
    let held = analysis_claims::table
        .filter(analysis_claims::incident_id.eq(incident_id))
        .filter(analysis_claims::lease_id.eq(lease));
    // Locked, so a person's edit lands either before (and is kept) or after this.
    let edited_by: Option<Option<String>> = incidents::table
        .find(incident_id)
        .select(incidents::aurora_summary_edited_by)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let person_wrote_summary = matches!(edited_by, Some(Some(_)));
    let completed = diesel::update(incidents::table.find(incident_id))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
        .filter(diesel::dsl::exists(held))
        .set((
            incidents::aurora_status.eq(AuroraStatus::Complete.as_str()),
            // Left out of the update (None) when a person wrote the summary.
            (!person_wrote_summary).then(|| incidents::aurora_summary.eq(summary)),
            incidents::analyzed_at.eq(now),
            incidents::updated_at.eq(now),
        ))
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if completed.is_some() && person_wrote_summary {
        let note = format!(
            "The summary written by a person is kept; the analysis concluded:\n\n{summary}"
        );
        add_thought(conn, incident_id, "conclusion", &note).await?;
    }
    Ok(completed)
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

/// Gives up `lease` on a running analysis after an error (the database went away
/// mid-analysis, say): the reason becomes a thought and the lease lapses at once, so the
/// message's redelivery, or any worker's sweep, takes the analysis over and runs it again.
/// Its time budget still counts from the first claim. Nothing happens if another attempt
/// holds the claim by now.
pub async fn release(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    lease: Uuid,
    reason: &str,
) -> QueryResult<()> {
    let released = diesel::update(analysis_claims::table.find(incident_id))
        .filter(analysis_claims::lease_id.eq(lease))
        .set(analysis_claims::renewed_at.eq(chrono::DateTime::UNIX_EPOCH.naive_utc()))
        .execute(conn)
        .await?;
    if released == 1 {
        add_thought(conn, incident_id, "error", reason).await?;
    }
    Ok(())
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
            incident_suggestions::title.eq(title),
            incident_suggestions::detail.eq(detail),
            incident_suggestions::risk.eq(risk),
            incident_suggestions::created_at.eq(time::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Stores a diagnostic command's run.
pub async fn record_command_run(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    argv: &[String],
    exit_code: Option<i32>,
    output: &str,
    duration_ms: i32,
    started_at: NaiveDateTime,
) -> QueryResult<CommandRun> {
    diesel::insert_into(command_runs::table)
        .values((
            command_runs::incident_id.eq(incident_id),
            command_runs::argv.eq(argv),
            command_runs::exit_code.eq(exit_code),
            command_runs::output.eq(output),
            command_runs::duration_ms.eq(duration_ms),
            command_runs::started_at.eq(started_at),
        ))
        .returning(CommandRun::as_returning())
        .get_result(conn)
        .await
}
