//! `aurora integration heartbeat …`: an integration's dead-man's switch.

use std::time::Duration;

use anyhow::Context;
use aurora_correlation::{MissingBeats, heartbeat::MIN_INTERVAL};
use aurora_db::{heartbeats, integrations};
use aurora_domain::{AlertStatus, UserId};

use crate::Failure;
use crate::commands::{connect, owner, parse_source};

/// `aurora integration heartbeat --user NAME --source SOURCE --alert NAME (--every D | --off)`.
pub(crate) async fn set(
    user: &str,
    source: &str,
    alert: &str,
    every: Option<&str>,
) -> Result<(), Failure> {
    let source = parse_source(source)?;
    let alert = alert.trim();
    if alert.is_empty() {
        return Err(Failure::Usage(
            "the heartbeat's alert name must not be empty".into(),
        ));
    }
    let interval = every
        .map(|every| {
            let interval = humantime::parse_duration(every)
                .map_err(|err| Failure::Usage(format!("invalid --every `{every}`: {err}")))?;
            if interval < MIN_INTERVAL || interval.as_secs() > i32::MAX as u64 {
                return Err(Failure::Usage(format!(
                    "invalid --every `{every}`: at least {}",
                    humantime::format_duration(MIN_INTERVAL)
                )));
            }
            Ok(interval)
        })
        .transpose()?;
    let (settings, mut conn) = connect().await?;
    let owner = owner(&mut conn, user).await?;
    // The beats come through it; one replaced later by another of the vendor keeps them.
    integrations::live_id(&mut conn, &owner.id, source)
        .await
        .context("looking up the integration")?
        .ok_or_else(|| Failure::Usage(format!("user `{user}` has no live {source} integration")))?;
    let user_id =
        UserId::parse(owner.id.clone()).map_err(|e| Failure::Other(anyhow::anyhow!(e)))?;
    let Some(interval) = interval else {
        let removed = heartbeats::remove(&mut conn, &user_id, source, alert)
            .await
            .context("removing the heartbeat")?
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "{user}'s {source} integration expects no `{alert}`"
                ))
            })?;
        if let Some(since) = removed.missing_since {
            // Nothing will resolve Aurora's alert for it any more: resolve it now.
            let heartbeat = removed
                .to_heartbeat()
                .expect("its vendor parsed from the command line");
            let resolve = MissingBeats {
                heartbeat: &heartbeat,
                user: &user_id,
                interval: Duration::from_secs(removed.interval_secs.unsigned_abs().into()),
                since: since.and_utc(),
            }
            .delivery(AlertStatus::Resolved, chrono::Utc::now());
            let topology = aurora_bus::Topology::new(Some(&settings.nats.prefix))
                .map_err(|err| Failure::Other(err.into()))?;
            let bus = aurora_bus::Bus::connect(&settings.nats.url, topology)
                .await
                .context("connecting to NATS (nats.url) to resolve its alert")?;
            bus.publish(
                bus.topology().alert_subject(source),
                &resolve.message_id(),
                &resolve,
            )
            .await
            .context("resolving its alert")?;
        }
        println!("{user}'s {source} integration no longer expects `{alert}`.");
        return Ok(());
    };
    let row = heartbeats::set(
        &mut conn,
        &user_id,
        source,
        alert,
        i32::try_from(interval.as_secs()).expect("checked above"),
    )
    .await
    .context("setting the heartbeat")?;
    println!(
        "{user}'s {source} integration must send `{alert}` at least every {}; when it stops, \
         Aurora opens an incident (heartbeat {}).",
        humantime::format_duration(interval),
        row.id
    );
    Ok(())
}
