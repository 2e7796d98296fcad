//! `Last-Event-ID`: what a reconnecting client missed, read back from the `INCIDENTS` stream
//! between the id it names and where its live events start. Bounded: past the limits the
//! client is told to reload (`event: reset`) instead.

use std::time::Duration;

use actix_web::web::Bytes;
use aurora_bus::Bus;
use futures::StreamExt;

use super::event;

/// The most of a user's changes sent again; a client that missed more reloads instead. A
/// thousand events is about 250 KB, a page a browser takes at once.
pub(crate) const MAX_EVENTS: usize = 1000;
/// The most stream messages (every user's) read to find them. The stream is not split by
/// user, so this bounds the cost of one reconnect: about 5 MB read from NATS, well under a
/// second. Clients reconnect within seconds, which this covers at thousands of changes a second.
pub(crate) const MAX_SCANNED: u64 = 20_000;
/// Longest a replay may take before the client is told to reload.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection sends before its live events.
pub(crate) struct Replay {
    /// The missed events in stream order, or one `reset`.
    pub(crate) events: Vec<Bytes>,
    /// Live events up to and including this sequence are not sent: replayed or seen already.
    pub(crate) through: u64,
}

/// What `user` missed after `last_event_id` (the header as sent), up to `position`, where the
/// connection's live events start.
pub(crate) async fn missed(
    bus: &Bus,
    user: &str,
    last_event_id: Option<&str>,
    position: u64,
) -> Replay {
    let Some(last_event_id) = last_event_id else {
        return Replay {
            events: Vec::new(),
            through: position,
        };
    };
    let outcome = match last_event_id.trim().parse::<u64>() {
        Ok(seen) => after(bus, user, seen, position).await,
        Err(_) => Err("the Last-Event-ID is not an id this stream sent".to_owned()),
    };
    outcome.unwrap_or_else(|reason| Replay {
        events: vec![event::reset(position, &reason)],
        through: position,
    })
}

/// The replay, or why the client must reload.
async fn after(bus: &Bus, user: &str, seen: u64, position: u64) -> Result<Replay, String> {
    let unreadable = |err: &dyn std::fmt::Display| {
        tracing::warn!(error = %err, "cannot read back what a live-stream client missed");
        "what was missed could not be read back".to_owned()
    };
    let bounds = bus
        .incident_stream_bounds()
        .await
        .map_err(|e| unreadable(&e))?;
    if seen > bounds.last {
        return Err("the Last-Event-ID is not an id this stream sent".to_owned());
    }
    if seen >= position {
        // Sent by another API process that is ahead of this one: its live events up to the
        // id were sent already.
        return Ok(Replay {
            events: Vec::new(),
            through: seen,
        });
    }
    if bounds.first > seen + 1 {
        return Err("changes after the Last-Event-ID are no longer kept".to_owned());
    }
    if position - seen > MAX_SCANNED {
        return Err(format!(
            "more than {MAX_SCANNED} changes of all users happened since the Last-Event-ID"
        ));
    }
    let scan = async {
        let mut feed = bus
            .incident_messages_from(seen + 1)
            .await
            .map_err(|e| unreadable(&e))?;
        let mut events = Vec::new();
        loop {
            let message = feed
                .next()
                .await
                .ok_or("the stream's reader ended")
                .map_err(|e| unreadable(&e))?
                .map_err(|e| unreadable(&e))?;
            if message.sequence > position {
                break;
            }
            if event::owner(&message.payload).as_deref() == Some(user) {
                if events.len() == MAX_EVENTS {
                    return Err(format!("more than {MAX_EVENTS} changes were missed"));
                }
                events.extend(event::change(&message));
            }
            if message.sequence == position {
                break;
            }
        }
        Ok(Replay {
            events,
            through: position,
        })
    };
    tokio::time::timeout(TIMEOUT, scan)
        .await
        .map_err(|_| "reading back what was missed took too long".to_owned())?
}
