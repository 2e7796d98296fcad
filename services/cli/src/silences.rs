//! `aurora silence …`: maintenance windows from the command line, as the API makes them.

use anyhow::Context;
use aurora_correlation::{Matcher, OnExpiry, silence};
use aurora_db::silences::{self, NewSilence, SilenceRow};
use aurora_db::time;
use aurora_domain::UserId;
use chrono::{DateTime, Utc};

use crate::Failure;
use crate::commands::{connect, owner};

/// What `aurora silence create` was given.
pub(crate) struct Create {
    pub user: String,
    pub matchers: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub duration: Option<String>,
    pub comment: String,
    pub created_by: Option<String>,
    pub on_expiry: Option<String>,
    pub json: bool,
}

/// `aurora silence create --user NAME --matcher M … (--duration D | --ends-at T) --comment C`.
pub(crate) async fn create(args: Create) -> Result<(), Failure> {
    let matchers = args
        .matchers
        .iter()
        .map(|text| text.parse::<Matcher>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::Usage)?;
    silence::check(&matchers, &args.comment).map_err(Failure::Usage)?;
    let now = time::now();
    let (starts_at, ends_at) = silence::window(
        args.starts_at,
        args.ends_at,
        args.duration.as_deref(),
        now.and_utc(),
    )
    .map_err(Failure::Usage)?;
    let on_expiry = args
        .on_expiry
        .as_deref()
        .map(str::parse::<OnExpiry>)
        .transpose()
        .map_err(Failure::Usage)?
        .unwrap_or_default();
    let (_, mut conn) = connect().await?;
    let user = user_id(&mut conn, &args.user).await?;
    let created_by = args.created_by.unwrap_or_else(|| args.user.clone());
    let row = silences::create(
        &mut conn,
        &user,
        &NewSilence {
            matchers: &matchers,
            starts_at: starts_at.naive_utc(),
            ends_at: ends_at.naive_utc(),
            comment: args.comment.trim(),
            created_by: &created_by,
            on_expiry,
        },
    )
    .await
    .context("creating the silence")?
    .map_err(Failure::Usage)?;
    if args.json {
        println!("{}", serde_json::json!({ "silence": row }));
    } else {
        println!("Created silence {}: {}", row.id, describe(&row));
    }
    Ok(())
}

/// `aurora silence list --user NAME [--include-expired] [--json]`.
pub(crate) async fn list(user: &str, include_expired: bool, json: bool) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    let user = user_id(&mut conn, user).await?;
    let ended_since = (!include_expired).then(time::now);
    let rows = silences::list(&mut conn, &user, ended_since, 500)
        .await
        .context("listing silences")?;
    if json {
        println!("{}", serde_json::json!({ "silences": rows }));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No silences.");
    }
    for row in rows {
        println!("{}  {}", row.id, describe(&row));
    }
    Ok(())
}

/// `aurora silence expire --user NAME ID`.
pub(crate) async fn expire(user: &str, id: &str) -> Result<(), Failure> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| Failure::Usage(format!("`{id}` is not a silence id")))?;
    let (_, mut conn) = connect().await?;
    let owner_id = user_id(&mut conn, user).await?;
    let now = time::now();
    let before = silences::find(&mut conn, &owner_id, id)
        .await
        .context("reading the silence")?
        .ok_or_else(|| Failure::Usage(format!("user `{user}` has no silence {id}")))?;
    if before.ends_at <= now {
        return Err(Failure::Usage(format!(
            "silence {id} already ended at {}",
            before.ends_at
        )));
    }
    silences::expire(&mut conn, &owner_id, id, now)
        .await
        .context("expiring the silence")?;
    println!("Expired silence {id}; what it kept quiet and still fires is released shortly.");
    Ok(())
}

async fn user_id(conn: &mut aurora_db::AsyncPgConnection, name: &str) -> Result<UserId, Failure> {
    let user = owner(conn, name).await?;
    UserId::parse(user.id).map_err(|err| Failure::Other(anyhow::anyhow!(err)))
}

/// One line a person reads: matchers, window, counts, author, why.
fn describe(row: &SilenceRow) -> String {
    let matchers: Vec<String> = serde_json::from_value::<Vec<Matcher>>(row.matchers.clone())
        .map(|all| all.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    format!(
        "{}  from {} until {} (on expiry: {}), {} kept quiet, by {}: {}",
        matchers.join(", "),
        row.starts_at,
        row.ends_at,
        row.on_expiry,
        row.suppressed_count,
        row.created_by,
        row.comment
    )
}
