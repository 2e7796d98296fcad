//! The end of silences: the alerts a silence kept quiet that still fire are released when it
//! ends — each joins an incident or opens one, as a new alert would then — unless the silence
//! said `drop`. Without this they would wait for their vendor's next repeat, hours away for
//! Alertmanager's default `repeat_interval`.

use std::time::Duration;

use aurora_bus::HandlerError;
use aurora_correlation::OnExpiry;
use aurora_db::silences;
use aurora_domain::UserId;
use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;

use crate::Correlator;
use crate::process::{classify, now};

/// How often ended silences are looked for.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// A silence is released this long after it ended, so a correlator whose clock is a little
/// behind has stopped applying it.
const GRACE: TimeDelta = TimeDelta::seconds(3);
/// Ended silences handled per sweep.
const SILENCES: i64 = 50;
/// Quiet alerts released per silence and sweep, so one transaction stays short; the rest
/// follow at the next.
const ALERTS: i64 = 500;

/// Releases the quiet alerts of silences that ended; answers how many alerts were released.
pub async fn sweep(correlator: &Correlator) -> Result<usize, HandlerError> {
    let mut conn = correlator
        .pool()
        .get()
        .await
        .map_err(|err| HandlerError::Transient(err.to_string()))?;
    let ended = silences::ended_unreleased(&mut conn, (now() - GRACE).naive_utc(), SILENCES)
        .await
        .map_err(classify)?;
    drop(conn);
    let mut released = 0;
    for silence in ended {
        let user = UserId::parse(silence.user_id.clone())
            .map_err(|err| HandlerError::Poison(err.to_string()))?;
        // `drop`: what it kept quiet stays quiet; the release only marks it done.
        let limit = if silence.on_expiry == OnExpiry::Drop.as_str() {
            0
        } else {
            ALERTS
        };
        // One silence failing leaves the others to release.
        match correlator.release(&user, silence.id, limit).await {
            Ok(count) => released += count,
            Err(err) => {
                tracing::warn!(silence = %silence.id, error = %err, "cannot release a silence yet");
            }
        }
    }
    Ok(released)
}

/// Sweeps every [`SWEEP_INTERVAL`] until `shutdown`; failures are logged and retried.
pub async fn run(correlator: Correlator, shutdown: CancellationToken) {
    crate::sweep::every(
        SWEEP_INTERVAL,
        shutdown,
        "released alerts of ended silences",
        || sweep(&correlator),
    )
    .await;
}
