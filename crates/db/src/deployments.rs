//! Builds reported by CI systems, which correlation and analysis weigh as likely causes.

use aurora_domain::{DeploymentEvent, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::schema::deployments;
use crate::{QueryResult, time};

/// A row of `deployments`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = deployments)]
#[expect(missing_docs, reason = "the fields are the columns in migrations/")]
pub struct Deployment {
    pub id: i64,
    pub user_id: String,
    pub source_type: String,
    pub service: String,
    pub environment: Option<String>,
    pub result: String,
    pub build_number: Option<String>,
    pub build_url: Option<String>,
    pub commit_sha: Option<String>,
    pub branch: Option<String>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "time::serialize")]
    pub deployed_at: NaiveDateTime,
    #[serde(serialize_with = "time::serialize")]
    pub received_at: NaiveDateTime,
}

/// Stores a reported build: once per numbered build (a later report of the same build updates
/// it), else once per delivery, so a redelivered message stores nothing twice.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    delivery_id: &str,
    deployment: &DeploymentEvent,
    received_at: NaiveDateTime,
    raw_payload: &serde_json::value::RawValue,
) -> QueryResult<()> {
    // Builds are few: parsing the body into a value for the JSONB column costs nothing here.
    let raw_payload: serde_json::Value = serde_json::from_str(raw_payload.get())
        .map_err(|err| diesel::result::Error::SerializationError(Box::new(err)))?;
    let row = (
        deployments::user_id.eq(user_id.as_str()),
        deployments::source_type.eq(deployment.source_type.as_str()),
        deployments::service.eq(&deployment.service),
        deployments::environment.eq(&deployment.environment),
        deployments::result.eq(deployment.result.as_str()),
        deployments::build_number.eq(&deployment.build),
        deployments::build_url.eq(&deployment.url),
        deployments::commit_sha.eq(&deployment.commit),
        deployments::branch.eq(&deployment.branch),
        deployments::started_at.eq(deployment.started_at.map(|at| at.naive_utc())),
        deployments::deployed_at.eq(deployment.finished_at.naive_utc()),
        deployments::received_at.eq(received_at),
        deployments::raw_payload.eq(&raw_payload),
        deployments::delivery_id.eq(delivery_id),
    );
    let insert = diesel::insert_into(deployments::table).values(row);
    if deployment.build.is_some() {
        insert
            .on_conflict((
                deployments::user_id,
                deployments::source_type,
                deployments::service,
                deployments::build_number,
            ))
            .do_update()
            .set((
                deployments::environment.eq(excluded(deployments::environment)),
                deployments::result.eq(excluded(deployments::result)),
                deployments::build_url.eq(excluded(deployments::build_url)),
                deployments::commit_sha.eq(excluded(deployments::commit_sha)),
                deployments::branch.eq(excluded(deployments::branch)),
                deployments::started_at.eq(excluded(deployments::started_at)),
                deployments::deployed_at.eq(excluded(deployments::deployed_at)),
                deployments::received_at.eq(excluded(deployments::received_at)),
                deployments::raw_payload.eq(excluded(deployments::raw_payload)),
                deployments::delivery_id.eq(excluded(deployments::delivery_id)),
            ))
            .execute(conn)
            .await
            .map(drop)
    } else {
        insert
            .on_conflict((deployments::user_id, deployments::delivery_id))
            .do_nothing()
            .execute(conn)
            .await
            .map(drop)
    }
}

/// A user's deployments of a service, newest first.
pub async fn for_service(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    service: &str,
    limit: i64,
) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .filter(deployments::user_id.eq(user_id.as_str()))
        .filter(deployments::service.eq(service))
        .order(deployments::deployed_at.desc())
        .limit(limit)
        .select(Deployment::as_select())
        .load(conn)
        .await
}

/// A user's deployments of any of `services` since `since`, newest first.
pub async fn recent_for_services(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    services: &[String],
    since: NaiveDateTime,
) -> QueryResult<Vec<Deployment>> {
    deployments::table
        .filter(deployments::user_id.eq(user_id.as_str()))
        .filter(deployments::service.eq_any(services))
        .filter(deployments::deployed_at.ge(since))
        .order(deployments::deployed_at.desc())
        .limit(20)
        .select(Deployment::as_select())
        .load(conn)
        .await
}
