//! The webhook handler: authenticate, limit, verify, normalize, publish, answer.

use std::sync::Arc;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use aurora_domain::{AlertBatch, UserId};
use aurora_vendors::{Headers, Vendor, WebhookRequest};
use futures::StreamExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::signature::{self, SignatureCheck, TimestampPolicy};
use crate::{IngressError, IngressState, RequestLimits, auth};

/// Longest vendor delivery id used as is (the column holds 255 bytes); a longer one is
/// ignored and an id minted instead.
const MAX_VENDOR_DELIVERY_ID: usize = 128;

/// Handles a POST to a vendor's route, counted.
pub(crate) async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<IngressState>,
    vendor: web::Data<Arc<dyn Vendor>>,
) -> Result<HttpResponse, IngressError> {
    let source = vendor.source_type();
    state.metrics.received(source.as_str());
    // The trace of this webhook: its delivery's message carries it to the correlator, and on
    // to the analysis.
    let span = tracing::info_span!("ingress.webhook", %source);
    let answer = handle(request, payload, &state, vendor.get_ref())
        .instrument(span)
        .await;
    if let Err(err) = &answer {
        state.metrics.refused(source.as_str(), err);
    }
    answer
}

async fn handle(
    request: HttpRequest,
    payload: web::Payload,
    state: &IngressState,
    vendor: &Arc<dyn Vendor>,
) -> Result<HttpResponse, IngressError> {
    let source = vendor.source_type();
    let received_at = state.clock.now();
    // Who is sending, from the head alone: a stranger's body is never read.
    let (integration, client) = auth::admit(&request, state, source).await?;
    check_content_type(&request, vendor.accepts_form_bodies())?;
    let body = read_body(payload, &state.limits).await?;
    let headers = Headers::from_pairs(
        request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?.to_owned()))),
    );
    let mut signed_delivery = None;
    if let Some(scheme) = vendor.signature_scheme() {
        let verified = verify_signature(state, &integration, scheme, &headers, &body);
        signed_delivery = auth::counted(state, client, verified)?;
    }
    let normalized = vendor
        .normalize(WebhookRequest {
            headers: &headers,
            body: &body,
            received_at,
        })
        .map_err(|err| IngressError::BadRequest(err.to_string()))?;
    if normalized.alerts.len() > state.limits.alerts_per_delivery {
        return Err(IngressError::TooManyAlerts {
            count: normalized.alerts.len(),
            limit: state.limits.alerts_per_delivery,
        });
    }
    if normalized.is_empty() {
        tracing::info!(%source, "notification carried nothing to act on (test, ping or build in progress)");
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ignored", "alerts": 0 })));
    }
    let raw_payload = raw_payload(&body, vendor.accepts_form_bodies())?;
    let batch = AlertBatch {
        delivery_id: vendor
            .delivery_id(&headers)
            .filter(|id| id.len() <= MAX_VENDOR_DELIVERY_ID)
            .or(signed_delivery)
            .unwrap_or_else(|| Uuid::now_v7().to_string()),
        user_id: UserId::parse(integration.user_id.clone())
            .map_err(|err| IngressError::AuthUnavailable(err.to_string()))?,
        integration_id: integration.id,
        source_type: source,
        received_at,
        alerts: normalized.alerts,
        deployment: normalized.deployment,
        raw_payload,
    };
    let subject = state.bus.topology().alert_subject(source);
    let publishing = std::time::Instant::now();
    let receipt = state
        .bus
        .publish(subject, &batch.message_id(), &batch)
        .await
        .map_err(IngressError::BusUnavailable)?;
    state.metrics.published(publishing.elapsed());
    state.metrics.accepted(source.as_str(), batch.alerts.len());
    tracing::info!(%source, delivery_id = %batch.delivery_id, alerts = batch.alerts.len(), sequence = receipt.sequence, "webhook accepted");
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "status": "accepted",
        "delivery_id": batch.delivery_id,
        "alerts": batch.alerts.len(),
        "deployment": batch.deployment.is_some(),
    })))
}

/// The body as stored beside its alerts. JSON is kept as the text it is: checked to be JSON
/// (the vendor parsed it already, so this cannot fail), but no tree is built for a body
/// nothing here reads again. A form body, on a route that takes one, is kept as the JSON
/// object the vendor read it as. Either loses its NUL characters, which PostgreSQL's JSONB
/// refuses: stored without them rather than retried until it becomes a dead letter.
fn raw_payload(
    body: &[u8],
    accepts_form: bool,
) -> Result<Box<serde_json::value::RawValue>, IngressError> {
    let value = match serde_json::from_slice::<Box<serde_json::value::RawValue>>(body) {
        Ok(raw) if !holds_escaped_nul(raw.get()) => return Ok(raw),
        Ok(raw) => serde_json::from_str(raw.get())
            .map_err(|err| IngressError::BadRequest(err.to_string()))?,
        Err(not_json) => accepts_form
            .then(|| aurora_vendors::form_body_as_json(body))
            .flatten()
            .ok_or_else(|| IngressError::BadRequest(not_json.to_string()))?,
    };
    serde_json::value::to_raw_value(&aurora_vendors::json_without_nul(value))
        .map_err(|err| IngressError::BadRequest(err.to_string()))
}

/// Whether JSON text may hold a NUL: it can only be written as the escape `\u0000`. A body
/// that merely mentions the escape (`\\u0000`) is cleaned for nothing, which is harmless.
fn holds_escaped_nul(json: &str) -> bool {
    json.contains("\\u0000")
}

/// Checks the vendor's signature when the integration has signing secrets. Answers the
/// delivery id a timestamped signature stands for: a request replayed within the tolerance
/// is then the same delivery, stored once, however often it is sent.
fn verify_signature(
    state: &IngressState,
    integration: &aurora_db::integrations::Integration,
    scheme: aurora_vendors::SignatureScheme,
    headers: &Headers,
    body: &[u8],
) -> Result<Option<String>, IngressError> {
    if integration.signing_secrets.is_empty() {
        return Ok(None);
    }
    let secrets = auth::signing_secrets(state, integration)?;
    SignatureCheck {
        headers,
        body,
        secrets: &secrets,
        now: state.clock.now(),
        tolerance: state.signature_tolerance,
        timestamp: TimestampPolicy::for_integration(
            integration.signature_timestamp.as_deref(),
            scheme,
        ),
    }
    .verify(scheme)?;
    Ok(signature::signed_delivery_id(scheme, headers, body))
}

/// Reads the body within the time limit, refusing it as soon as it passes the size limit.
async fn read_body(
    payload: web::Payload,
    limits: &RequestLimits,
) -> Result<web::BytesMut, IngressError> {
    tokio::time::timeout(
        limits.body_read_timeout,
        read_capped(payload, limits.body_bytes),
    )
    .await
    .map_err(|_| IngressError::BodyTimeout {
        limit_secs: limits.body_read_timeout.as_secs(),
    })?
}

/// Reads the body, refusing it as soon as it passes `limit`.
async fn read_capped(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, IngressError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| IngressError::BadRequest(format!("cannot read body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(IngressError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(IngressError::BadRequest(
            "empty body: send the vendor's JSON payload".into(),
        ));
    }
    Ok(body)
}

/// JSON, a form on a route that takes one, or no content type at all (some senders omit it);
/// anything else is refused.
fn check_content_type(request: &HttpRequest, accepts_form: bool) -> Result<(), IngressError> {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || (accepts_form && essence == "application/x-www-form-urlencoded")
    {
        Ok(())
    } else {
        Err(IngressError::UnsupportedMediaType(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_kept_as_sent_and_a_form_as_the_object_it_stands_for() {
        let json = br#"{ "title" : "CPU" }"#;
        assert_eq!(
            raw_payload(json, false).unwrap().get(),
            r#"{ "title" : "CPU" }"#
        );
        let form = b"title=CPU&alert_id=7";
        assert_eq!(
            raw_payload(form, true).unwrap().get(),
            r#"{"alert_id":"7","title":"CPU"}"#
        );
        assert!(matches!(
            raw_payload(form, false),
            Err(IngressError::BadRequest(_))
        ));
    }

    #[test]
    fn a_nul_postgresql_would_refuse_is_removed_from_keys_and_values() {
        let json = br#"{"title":"CPU\u0000 high","labels":{"k\u0000":["a\u0000b"]}}"#;
        assert_eq!(
            raw_payload(json, false).unwrap().get(),
            r#"{"labels":{"k":["ab"]},"title":"CPU high"}"#
        );
        let form = b"title=CPU%00&alert_id=7";
        assert_eq!(
            raw_payload(form, true).unwrap().get(),
            r#"{"alert_id":"7","title":"CPU"}"#
        );
        // An escaped backslash before `u0000` is text, kept as it is.
        let mentioned = br#"{"title":"\\u0000"}"#;
        let kept: serde_json::Value =
            serde_json::from_str(raw_payload(mentioned, false).unwrap().get()).unwrap();
        assert_eq!(kept["title"], "\\u0000");
    }
}
