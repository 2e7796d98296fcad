//! `GET /api/incidents/stream`: server-sent events of the caller's incident changes.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::{self, Bytes};
use aurora_bus::Bus;
use futures::StreamExt;

use crate::auth::Caller;
use crate::error::ApiError;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) async fn stream(caller: Caller, bus: web::Data<Bus>) -> Result<HttpResponse, ApiError> {
    let subscriber = bus
        .subscribe_incident_changes()
        .await
        .map_err(|err| ApiError::Unavailable(err.to_string()))?;
    let user = caller.0.as_str().to_owned();
    let changes = subscriber.filter_map(move |message| {
        let user = user.clone();
        async move {
            let payload: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
            // Every incident message names its owner; nobody sees another user's changes.
            (payload.get("user_id")?.as_str()? == user).then(|| {
                let kind = message.subject.rsplit('.').next().unwrap_or("changed");
                Bytes::from(format!("event: {kind}\ndata: {payload}\n\n"))
            })
        }
    });
    let keep_alive = futures::stream::unfold((), |()| async {
        tokio::time::sleep(KEEP_ALIVE).await;
        Some((Bytes::from_static(b": keep-alive\n\n"), ()))
    });
    let opened = futures::stream::once(async { Bytes::from_static(b": connected\n\n") });
    let body = opened
        .chain(futures::stream::select(changes, keep_alive))
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", "text/event-stream"))
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}
