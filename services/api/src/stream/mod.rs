//! `GET /api/incidents/stream`: server-sent events of the caller's incident changes.
//!
//! - [`hub`]: one subscription to `INCIDENTS` per API process, whatever the connections.
//! - [`registry`]: who is connected; each change goes to its owner's connections only,
//!   through a bounded queue per connection: a reader that falls a full queue behind is
//!   disconnected instead of buffered without end. Each user may hold a limited number open.
//! - [`replay`]: a client reconnecting with `Last-Event-ID` is first sent what it missed.
//! - [`event`]: the text; every event's `id:` is its `INCIDENTS` stream sequence.

mod event;
mod hub;
mod registry;
mod replay;

use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;

pub use hub::StreamHub;
pub use registry::{StreamLimits, TooManyStreams};

use aurora_db::DbPool;

use crate::auth::{self, Caller};
use crate::error::ApiError;
use hub::ConnectError;

/// A comment this long after the last thing sent keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) async fn stream(
    caller: Caller,
    hub: web::Data<StreamHub>,
    pool: web::Data<DbPool>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = auth::bearer_token(&request).unwrap_or_default();
    let registration = hub.connect(&caller.0).await.map_err(|err| match err {
        ConnectError::TooMany(err) => ApiError::from(err),
        ConnectError::Unavailable(err) => ApiError::StreamUnavailable(err.to_string()),
    })?;
    let last_event_id = request
        .headers()
        .get("Last-Event-ID")
        .map(|value| value.to_str().unwrap_or_default());
    let replay = replay::missed(
        hub.bus(),
        caller.0.as_str(),
        last_event_id,
        registration.position,
    )
    .await;
    let through = replay.through;
    let opening = [Bytes::from_static(event::CONNECTED)]
        .into_iter()
        .chain(replay.events)
        .chain([event::resume_at(through)]);
    // Ends when the registry dropped the queue (the reader fell behind); the slot is given
    // back when the response is dropped, by actix once the client is gone.
    let user = caller.0;
    let token_recheck = hub.limits().token_recheck;
    let checked = Instant::now();
    let live = futures::stream::unfold(
        (registration, checked),
        move |(mut registration, mut checked)| {
            let (pool, token, user) = (pool.clone(), token.clone(), user.clone());
            async move {
                loop {
                    let next =
                        match tokio::time::timeout(KEEP_ALIVE, registration.events.recv()).await {
                            Ok(Some((sequence, _))) if sequence <= through => continue,
                            Ok(Some((_, text))) => text,
                            Ok(None) => return None,
                            Err(_) => Bytes::from_static(event::KEEP_ALIVE),
                        };
                    if checked.elapsed() >= token_recheck {
                        if !auth::still_valid(&pool, &token, &user).await {
                            return None;
                        }
                        checked = Instant::now();
                    }
                    return Some((next, (registration, checked)));
                }
            }
        },
    );
    let body = futures::stream::iter(opening)
        .chain(live)
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        // nginx would otherwise buffer the stream, hiding a slow reader from the queue.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
