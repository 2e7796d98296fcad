//! Auto-resolve: sources that never send resolves (Splunk, Jenkins) get a timeout per source
//! (`correlation.sources.<source>.auto_resolve_secs`). A firing alert not heard from for that
//! long resolves, and its incident follows the resolve policy.

use std::time::Duration;

use aurora_bus::HandlerError;
use aurora_db::{AsyncConnection, QueryError, alerts, events, time};
use aurora_domain::UserId;
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

use crate::Correlator;
use crate::lifecycle;
use crate::process::classify;

/// How often silent alerts are looked for.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Alerts resolved per source and sweep, so one sweep stays short.
const BATCH: i64 = 500;

/// Resolves every alert that has been silent past its source's timeout; answers how many.
pub async fn sweep(correlator: &Correlator) -> Result<usize, HandlerError> {
    let mut resolved = 0;
    for (source, overrides) in &correlator.rules().settings.sources {
        let Some(timeout) = overrides.auto_resolve_secs else {
            continue;
        };
        let silent_since = time::now() - TimeDelta::seconds(timeout as i64);
        let mut conn = correlator
            .pool()
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let silent = alerts::silent_firing(&mut conn, source, silent_since, BATCH)
            .await
            .map_err(classify)?;
        for alert in silent {
            let user = UserId::parse(alert.user_id.clone())
                .map_err(|err| HandlerError::Poison(err.to_string()))?;
            let policy = correlator.rules().settings.resolve_policy;
            let changes = conn
                .transaction(async |conn| {
                    aurora_db::lock_user(conn, &user).await?;
                    // Re-read under the lock: a notification may have arrived since the scan.
                    let current = alerts::get(conn, alert.id).await?;
                    if current.status != "firing" || current.last_seen_at >= silent_since {
                        return Ok(Vec::new());
                    }
                    let now = time::now();
                    alerts::resolve(conn, alert.id, now).await?;
                    let Some(incident_id) = current.incident_id else { return Ok(Vec::new()) };
                    let detail = serde_json::json!({ "alert_id": alert.id, "auto_resolved_after_secs": timeout });
                    events::record(conn, incident_id, "alert_resolved", detail).await?;
                    Ok::<_, QueryError>(lifecycle::after_alert_resolved(conn, incident_id, policy, now).await?.into_iter().collect())
                })
                .await
                .map_err(classify)?;
            correlator.publish_changes(&changes).await?;
            resolved += 1;
        }
    }
    Ok(resolved)
}

/// Sweeps every [`SWEEP_INTERVAL`] until `shutdown`; failures are logged and retried.
pub async fn run(correlator: Correlator, shutdown: CancellationToken) {
    if correlator
        .rules()
        .settings
        .sources
        .values()
        .all(|o| o.auto_resolve_secs.is_none())
    {
        return;
    }
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        match sweep(&correlator).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "auto-resolved silent alerts"),
            Err(err) => {
                tracing::warn!(error = %err, "auto-resolve sweep failed; retrying next interval")
            }
        }
    }
}
