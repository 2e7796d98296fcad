//! `GET /api/incidents/stream`: server-sent events of the caller's incident changes.
//!
//! - [`hub`]: one subscription to `INCIDENTS` per API process, whatever the connections.
//! - [`registry`]: who is connected; each change goes to its owner's connections only,
//!   through a bounded queue per connection: a reader that falls a full queue behind is
//!   disconnected instead of buffered without end. Each user may hold a limited number open.
//! - [`event`]: the text; every event's `id:` is its `INCIDENTS` stream sequence.

mod event;
mod hub;
mod registry;

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::{self, Bytes};
use futures::StreamExt;

pub use hub::StreamHub;
pub use registry::{StreamLimits, TooManyStreams};

use crate::auth::Caller;
use crate::error::ApiError;
use hub::ConnectError;

/// A comment this long after the last thing sent keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) async fn stream(
    caller: Caller,
    hub: web::Data<StreamHub>,
) -> Result<HttpResponse, ApiError> {
    let registration = hub.connect(&caller.0).await.map_err(|err| match err {
        ConnectError::TooMany(err) => ApiError::from(err),
        ConnectError::Unavailable(err) => ApiError::StreamUnavailable(err.to_string()),
    })?;
    let opening = [
        Bytes::from_static(event::CONNECTED),
        event::resume_at(registration.position),
    ];
    // Ends when the registry dropped the queue (the reader fell behind); the slot is given
    // back when the response is dropped, by actix once the client is gone.
    let live = futures::stream::unfold(registration, |mut registration| async move {
        match tokio::time::timeout(KEEP_ALIVE, registration.events.recv()).await {
            Ok(Some((_, text))) => Some((text, registration)),
            Ok(None) => None,
            Err(_) => Some((Bytes::from_static(event::KEEP_ALIVE), registration)),
        }
    });
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
