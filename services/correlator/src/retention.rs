//! Retention: every `retention.interval_secs`, what is older than `retention.*_days` is deleted
//! in batches of `retention.batch_size` (see [`aurora_db::retention`]).

use std::time::Duration;

use aurora_db::DbPool;
use aurora_db::retention::{self, Policy};
use aurora_settings::RetentionSettings;
use tokio_util::sync::CancellationToken;

use crate::process::now;

/// Deletes what is due every `settings.interval_secs` until `shutdown`; failures are logged
/// and retried at the next interval.
pub async fn run(pool: DbPool, settings: RetentionSettings, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(settings.interval_secs));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let policy = Policy::at(&settings, now().naive_utc());
        let deleted = async {
            let mut conn = pool.get().await.map_err(|err| err.to_string())?;
            retention::run(&mut conn, &policy)
                .await
                .map_err(|err| err.to_string())
        };
        match deleted.await {
            Ok(counts) if counts == retention::Counts::default() => {}
            Ok(counts) => tracing::info!(?counts, "deleted what retention says is due"),
            Err(err) => tracing::warn!(error = %err, "retention failed; retrying next interval"),
        }
    }
}
