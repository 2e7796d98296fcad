//! Auto-resolve: sources that never send resolves (Splunk, Jenkins) get a timeout per source
//! (`correlation.sources.<source>.auto_resolve_secs`). A firing alert not heard from for that
//! long resolves, and its incident follows the resolve policy.

use std::collections::HashMap;
use std::time::Duration;

use aurora_bus::HandlerError;
use aurora_db::alerts;
use aurora_domain::{SourceType, UserId};
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

use crate::Correlator;
use crate::process::{classify, now};

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
        let source: SourceType = source
            .parse()
            .map_err(|err: aurora_domain::ParseEnumError| HandlerError::Poison(err.to_string()))?;
        let silent_since = now() - TimeDelta::seconds(timeout as i64);
        let mut conn = correlator
            .pool()
            .get()
            .await
            .map_err(|err| HandlerError::Transient(err.to_string()))?;
        let silent =
            alerts::silent_firing(&mut conn, source.as_str(), silent_since.naive_utc(), BATCH)
                .await
                .map_err(classify)?;
        drop(conn);
        let mut by_user: HashMap<&str, Vec<(SourceType, &str)>> = HashMap::new();
        for alert in &silent {
            by_user
                .entry(&alert.user_id)
                .or_default()
                .push((source, &alert.fingerprint));
        }
        for (user, keys) in by_user {
            let user = UserId::parse(user).map_err(|err| HandlerError::Poison(err.to_string()))?;
            // Decided again under the user's lock: a notification may have arrived since.
            resolved += correlator
                .auto_resolve(&user, keys, silent_since, timeout)
                .await?;
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
    crate::sweep::every(
        SWEEP_INTERVAL,
        shutdown,
        "auto-resolved silent alerts",
        || sweep(&correlator),
    )
    .await;
}
