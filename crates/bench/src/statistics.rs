//! PostgreSQL plans Aurora's queries from table statistics, which autovacuum keeps current as
//! tables grow. A server running with `autovacuum = off` (as some test machines do) never
//! refreshes them, and a storm into a fresh database would then be measured against plans made
//! for empty tables. The bench refreshes its own database's statistics the way autovacuum
//! would, only when the server's autovacuum is off, and says so.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio_util::task::AbortOnDropHandle;

/// How often statistics are refreshed when autovacuum is off (its default naptime is 60 s;
/// the bench's tables grow much faster than a first naptime).
const EVERY: Duration = Duration::from_secs(10);

/// The columns Aurora's queries filter or join on: analysing the raw payloads and labels too
/// would cost the machine more than the storm's own queries.
const ANALYZE: &str = "ANALYZE \
    alerts (user_id, source_type, fingerprint, status, incident_id, resolved_at), \
    incidents (id, user_id, status, alert_environment, alert_service, updated_at), \
    alert_deliveries (user_id, delivery_id), incident_alerts (incident_id, alert_id), \
    incident_events (incident_id), deployments (user_id, service, deployed_at)";

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    autovacuum: String,
}

/// Starts refreshing the statistics of the database at `url` every [`EVERY`] if the server's
/// autovacuum is off, until the handle is dropped; `None` when autovacuum is on.
pub async fn keep_current(url: &str) -> anyhow::Result<Option<AbortOnDropHandle<()>>> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let setting: Setting = diesel::sql_query("SHOW autovacuum")
        .get_result(&mut conn)
        .await?;
    if setting.autovacuum == "on" {
        return Ok(None);
    }
    println!(
        "bench: the server runs with autovacuum off; the bench analyses its own database every {} s as autovacuum would",
        EVERY.as_secs()
    );
    Ok(Some(AbortOnDropHandle::new(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            if let Err(err) = conn.batch_execute(ANALYZE).await {
                eprintln!("bench: ANALYZE failed: {err}");
            }
        }
    }))))
}
