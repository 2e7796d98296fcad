//! Who sent a webhook: the integration token decides the user, and fails closed.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, web};
use std::sync::Arc;

use aurora_db::integrations::{self, Integration};
use aurora_db::tokens;
use aurora_domain::SourceType;
use base64::Engine;

use crate::{IngressError, IngressState};

/// Reads the token from `Authorization: Bearer`, the password of Basic auth, or the `token`
/// query parameter (Splunk cannot send headers).
fn presented_token(request: &HttpRequest) -> Option<String> {
    if let Some(header) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty() {
            return Some(credentials.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (_, password) = decoded.split_once(':')?;
            return (!password.is_empty()).then(|| password.to_owned());
        }
    }
    web_query_token(request.query_string())
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn web_query_token(query: &str) -> Option<String> {
    web::Query::<TokenQuery>::from_query(query)
        .ok()
        .and_then(|query| query.into_inner().token)
        .filter(|token| !token.is_empty())
}

/// The live integration of `source` that the request's token belongs to. Reads only the
/// request's head, so nothing of the body is read for a stranger.
pub(crate) async fn authenticate(
    request: &HttpRequest,
    state: &IngressState,
    source: SourceType,
) -> Result<Arc<Integration>, IngressError> {
    let token = presented_token(request).ok_or_else(|| {
        IngressError::Unauthorized(
            "missing credentials: send the integration token as a Bearer token, a Basic auth password or a `token` query parameter".into(),
        )
    })?;
    let integration = look_up(state, &token)
        .await?
        .ok_or_else(|| IngressError::Unauthorized("invalid token".into()))?;
    if integration.revoked_at.is_some() {
        return Err(IngressError::Unauthorized("token revoked".into()));
    }
    if integration.source_type != source.as_str() {
        return Err(IngressError::Unauthorized(format!(
            "this token belongs to a {} integration and cannot send to the {} route",
            integration.source_type, source
        )));
    }
    Ok(integration)
}

/// The integration's signing secrets, opened. A secret stored but no key to open it with is
/// our fault, not the sender's: 503, and the sender retries.
pub(crate) fn signing_secrets(
    state: &IngressState,
    integration: &Integration,
) -> Result<Vec<String>, IngressError> {
    let secret_box = state.secret_box.as_ref().ok_or_else(|| {
        IngressError::AuthUnavailable(
            "signing secrets are stored but secrets.encryption_key is not set".into(),
        )
    })?;
    integration
        .open_secrets(secret_box)
        .map_err(|err| IngressError::AuthUnavailable(err.to_string()))
}

/// The integration of `token`: as cached, else the database's answer; while the database
/// cannot answer, the answer it last gave within the fallback.
async fn look_up(
    state: &IngressState,
    token: &str,
) -> Result<Option<Arc<Integration>>, IngressError> {
    let hash = tokens::hash(token);
    let ticket = match state.integrations.fresh(&hash) {
        Ok(cached) => return Ok(Some(cached)),
        Err(ticket) => ticket,
    };
    let answer = match state.pool.get().await {
        Ok(mut conn) => integrations::find_by_token(&mut conn, token)
            .await
            .map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match answer {
        Ok(found) => Ok(state.integrations.record(hash, found, ticket)),
        Err(err) => match state.integrations.recall(&hash) {
            Some(known) => {
                tracing::warn!(error = %err, "integration lookup failed; using the integration as last seen");
                Ok(Some(known))
            }
            None => Err(IngressError::AuthUnavailable(err)),
        },
    }
}
