//! Who holds an incident's analysis: the claim (`idle` → `running`), its lease, takeovers of
//! lapsed leases, the time budget, release after a failure, and completion by the holder.

use std::time::Duration;

use aurora_domain::AuroraStatus;
use diesel::data_types::PgInterval;
use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{add_thought, storable};
use crate::incidents::Incident;
use crate::schema::{analysis_claims, incidents};
use crate::{QueryResult, time};

/// The lease one attempt holds on an incident's analysis. Renewals, writes, releases and the
/// completion of an attempt change something only while its lease is the one on the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The incident analysed.
    pub incident_id: Uuid,
    /// The attempt (`analysis_claims.lease_id`).
    pub id: Uuid,
}

/// The answer to a claim.
#[derive(Debug)]
pub enum Claim {
    /// This caller runs the analysis, under this lease.
    Claimed(Box<Incident>, Lease),
    /// This caller runs the analysis another worker began and stopped renewing (it died),
    /// under this new lease.
    TakenOver(Box<Incident>, Lease),
    /// It was claimed before (by another worker, or before a redelivery).
    AlreadyClaimed,
    /// The user already has `limit` analyses running; try again later.
    UserBusy,
}

/// A lease's length as PostgreSQL reads it.
///
/// Leases are stamped and judged by PostgreSQL's clock alone (`now()`, the time its transaction
/// began), never by a worker's: a worker whose clock runs ahead would otherwise see every live
/// lease as lapsed and take it over, and one whose clock runs behind would stamp renewals that
/// look lapsed to everyone else. Callers pass lengths, never instants.
fn interval(length: Duration) -> PgInterval {
    PgInterval::from_microseconds(i64::try_from(length.as_micros()).unwrap_or(i64::MAX))
}

/// Claims an incident's analysis for exactly one caller: an `idle` one (→ `running`), or a
/// `running` one whose lease was last renewed more than `lease` ago by the database's clock
/// (its worker died). Refused while the user already has `per_user_limit` analyses running on
/// live leases. One transaction under the user's lock, so concurrent claims cannot overshoot
/// the limit; each change is conditional, so a claim and a renewal racing cannot both win.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    per_user_limit: i64,
    lease: Duration,
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
            .filter(analysis_claims::renewed_at.ge(now - interval(lease)))
            .count()
            .get_result(conn)
            .await?;
        if live >= per_user_limit {
            return Ok(Claim::UserBusy);
        }
        let lease_id = Uuid::new_v4();
        let held = Lease {
            incident_id,
            id: lease_id,
        };
        if running {
            let taken = diesel::update(analysis_claims::table.find(incident_id))
                .filter(analysis_claims::renewed_at.lt(now - interval(lease)))
                // A takeover keeps the first claim's time: the budget bounds all attempts.
                .set((
                    analysis_claims::renewed_at.eq(now),
                    analysis_claims::lease_id.eq(lease_id),
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
            return Ok(Claim::TakenOver(Box::new(incident), held));
        }
        let claimed = diesel::update(incidents::table.find(incident_id))
            .filter(incidents::aurora_status.eq(AuroraStatus::Idle.as_str()))
            .set((
                incidents::aurora_status.eq(AuroraStatus::Running.as_str()),
                incidents::updated_at.eq(time::now()),
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
                analysis_claims::lease_id.eq(lease_id),
            ))
            .on_conflict(analysis_claims::incident_id)
            .do_update()
            .set((
                analysis_claims::claimed_at.eq(now),
                analysis_claims::renewed_at.eq(now),
                analysis_claims::lease_id.eq(lease_id),
            ))
            .execute(conn)
            .await?;
        Ok(Claim::Claimed(Box::new(incident), held))
    })
    .await
}

/// Renews `lease` on a running analysis; answers false once the analysis is no longer running
/// or another attempt holds it.
pub async fn renew(conn: &mut AsyncPgConnection, lease: Lease) -> QueryResult<bool> {
    let still_running = incidents::table
        .filter(incidents::id.eq(lease.incident_id))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()));
    let renewed = diesel::update(analysis_claims::table.find(lease.incident_id))
        .filter(analysis_claims::lease_id.eq(lease.id))
        .filter(diesel::dsl::exists(still_running))
        .set(analysis_claims::renewed_at.eq(now))
        .execute(conn)
        .await?;
    Ok(renewed == 1)
}

/// Whether `lease` still holds a running analysis, and if so keeps it held (its claim row
/// share-locked) until the caller's transaction ends: a takeover, which rewrites that row,
/// waits until then, so what the transaction writes lands before any takeover or not at all.
pub async fn hold(conn: &mut AsyncPgConnection, lease: Lease) -> QueryResult<bool> {
    let still_running = incidents::table
        .filter(incidents::id.eq(lease.incident_id))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()));
    let held = analysis_claims::table
        .find(lease.incident_id)
        .filter(analysis_claims::lease_id.eq(lease.id))
        .filter(diesel::dsl::exists(still_running))
        .select(analysis_claims::incident_id)
        .for_share()
        .first::<Uuid>(conn)
        .await
        .optional()?;
    Ok(held.is_some())
}

/// Running analyses whose lease was last renewed more than `lease` ago by the database's
/// clock (their worker died), at most `limit`, longest lapsed first.
pub async fn lapsed_leases(
    conn: &mut AsyncPgConnection,
    lease: Duration,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    analysis_claims::table
        .inner_join(incidents::table)
        .filter(analysis_claims::renewed_at.lt(now - interval(lease)))
        .filter(incidents::aurora_status.eq(AuroraStatus::Running.as_str()))
        .order(analysis_claims::renewed_at.asc())
        .limit(limit)
        .select(analysis_claims::incident_id)
        .load(conn)
        .await
}

/// How old a waiting incident may be and still be analysed: an incident left `idle` longer
/// (by an earlier version, which gave up on incidents whose user stayed busy) is history, and
/// running its runbooks now would take slots from new incidents.
const WAITING_AT_MOST: Duration = Duration::from_secs(24 * 3600);

/// Incidents whose analysis waits to be claimed: `idle` (neither merged nor resolved, and
/// opened within [`WAITING_AT_MOST`]) since they opened more
/// than `idle_for` ago by the database's clock, and within what their user may still start
/// (`per_user_limit` less the analyses running on leases renewed within `lease`), oldest
/// first, at most `limit`. Their user was at the limit when their event came, or their event
/// was never handled; [`claim`] decides, as for any other.
pub async fn waiting(
    conn: &mut AsyncPgConnection,
    idle_for: Duration,
    per_user_limit: i64,
    lease: Duration,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    use diesel::sql_types::{BigInt, Interval, Text};

    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }

    let waiting: Vec<Waiting> = diesel::sql_query(
        "WITH live AS ( \
             SELECT r.user_id, count(*) AS running \
             FROM incidents r JOIN analysis_claims c ON c.incident_id = r.id \
             WHERE r.aurora_status = $2 AND c.renewed_at >= now() - $5 \
             GROUP BY r.user_id \
         ), idle AS ( \
             SELECT i.id, i.user_id, i.created_at, \
                    row_number() OVER (PARTITION BY i.user_id ORDER BY i.created_at, i.id) AS place \
             FROM incidents i \
             WHERE i.aurora_status = $1 AND i.status NOT IN ($3, $8) \
               AND i.created_at < now() - $4 AND i.created_at > now() - $9 \
         ) \
         SELECT idle.id FROM idle LEFT JOIN live ON live.user_id = idle.user_id \
         WHERE idle.place <= $6 - coalesce(live.running, 0) \
         ORDER BY idle.created_at, idle.id \
         LIMIT $7",
    )
    .bind::<Text, _>(AuroraStatus::Idle.as_str())
    .bind::<Text, _>(AuroraStatus::Running.as_str())
    .bind::<Text, _>(aurora_domain::IncidentStatus::Merged.as_str())
    .bind::<Interval, _>(interval(idle_for))
    .bind::<Interval, _>(interval(lease))
    .bind::<BigInt, _>(per_user_limit)
    .bind::<BigInt, _>(limit)
    .bind::<Text, _>(aurora_domain::IncidentStatus::Resolved.as_str())
    .bind::<Interval, _>(interval(WAITING_AT_MOST))
    .load(conn)
    .await?;
    Ok(waiting.into_iter().map(|w| w.id).collect())
}

/// Stops every analysis first claimed more than `budget` ago by the database's clock (it
/// hangs, or keeps failing): `error`, with the reason as a thought. Answers the incidents
/// stopped.
pub async fn expire_running(
    conn: &mut AsyncPgConnection,
    budget: Duration,
) -> QueryResult<Vec<Uuid>> {
    let stale: Vec<Uuid> = analysis_claims::table
        .inner_join(incidents::table)
        .filter(analysis_claims::claimed_at.lt(now - interval(budget)))
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
            let reason = format!(
                "The analysis ran past its {} s time budget and was stopped.",
                budget.as_secs()
            );
            add_thought(conn, incident_id, "error", &reason).await?;
            stopped.push(incident_id);
        }
    }
    Ok(stopped)
}

/// Ends a running analysis held under `lease` with its summary: `complete` and `analyzed_at`.
/// `None` when the analysis is no longer running (a merge or the time budget stopped it) or
/// another attempt took it over meanwhile. A summary a person wrote is kept: the analysis'
/// summary then becomes a thought. Call it inside the transaction that writes the outcome.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    lease: Lease,
    summary: &str,
) -> QueryResult<Option<Incident>> {
    let at = time::now();
    let incident_id = lease.incident_id;
    // Held to the end of the caller's transaction, so no takeover slips in before it commits.
    if !hold(conn, lease).await? {
        return Ok(None);
    }
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
        .set((
            incidents::aurora_status.eq(AuroraStatus::Complete.as_str()),
            // Left out of the update (None) when a person wrote the summary.
            (!person_wrote_summary).then(|| incidents::aurora_summary.eq(storable(summary))),
            incidents::analyzed_at.eq(at),
            incidents::updated_at.eq(at),
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

/// Gives up `lease` on a running analysis after an error (the database went away
/// mid-analysis, say): the reason becomes a thought and the lease lapses at once, so the
/// message's redelivery, or any worker's sweep, takes the analysis over and runs it again.
/// Its time budget still counts from the first claim. Nothing happens if another attempt
/// holds the claim by now.
pub async fn release(conn: &mut AsyncPgConnection, lease: Lease, reason: &str) -> QueryResult<()> {
    let incident_id = lease.incident_id;
    let released = diesel::update(analysis_claims::table.find(incident_id))
        .filter(analysis_claims::lease_id.eq(lease.id))
        .set(analysis_claims::renewed_at.eq(chrono::DateTime::UNIX_EPOCH.naive_utc()))
        .execute(conn)
        .await?;
    if released == 1 {
        add_thought(conn, incident_id, "error", reason).await?;
    }
    Ok(())
}
