//! Who sent a webhook: the integration token decides the user, and fails closed.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, web};
use std::net::IpAddr;
use std::sync::Arc;

use aurora_db::integrations::{self, Integration};
use aurora_db::{pool, tokens};
use aurora_domain::SourceType;
use base64::Engine;

use crate::client_failures::client_address;
use crate::{IngressError, IngressState};

/// Logs why a token was refused and answers the one message every refusal gets.
macro_rules! invalid_token {
    ($($field:tt)*) => {{
        tracing::info!($($field)*);
        IngressError::Unauthorized("invalid token".into())
    }};
}

/// How long a lookup may take when the pool sets no wait timeout.
const LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

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
///
/// Every wrong token gets the same answer, "invalid token": whether it exists, was revoked or
/// opens another route is logged for the operator, never told to the sender.
pub(crate) async fn authenticate(
    request: &HttpRequest,
    state: &IngressState,
    source: SourceType,
    client: IpAddr,
) -> Result<Arc<Integration>, IngressError> {
    let token = presented_token(request).ok_or_else(|| {
        IngressError::Unauthorized(
            "missing credentials: send the integration token as a Bearer token, a Basic auth password or a `token` query parameter".into(),
        )
    })?;
    let Some(integration) = look_up(state, &token, client).await? else {
        return Err(invalid_token!(%client, "no integration has this token"));
    };
    if integration.revoked_at.is_some() {
        return Err(
            invalid_token!(%client, integration = %integration.id, "the integration is revoked"),
        );
    }
    if integration.source_type != source.as_str() {
        return Err(invalid_token!(
            %client,
            integration = %integration.id,
            route = %source,
            "the token belongs to a {} integration", integration.source_type
        ));
    }
    Ok(integration)
}

/// The integration a request's head authenticates, counted against the client's address when
/// refused and against the integration's rate limit when not; also the client's address, for
/// counting a later refusal (a wrong signature).
pub(crate) async fn admit(
    request: &HttpRequest,
    state: &IngressState,
    source: SourceType,
) -> Result<(Arc<Integration>, IpAddr), IngressError> {
    let client = client_address(request, state.limits.trusted_proxy_hops);
    let integration = counted(
        state,
        client,
        authenticate(request, state, source, client).await,
    )?;
    state.rate_limiter.check(integration.id)?;
    Ok((integration, client))
}

/// Counts a refused authentication (a wrong token or signature) against the client's address.
pub(crate) fn counted<T>(
    state: &IngressState,
    client: IpAddr,
    result: Result<T, IngressError>,
) -> Result<T, IngressError> {
    if let Err(IngressError::Unauthorized(_)) = &result {
        state.auth_failures.record(client);
    }
    result
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
/// cannot be reached, the answer it last gave within the fallback. A database that is there
/// but slow (or a pool with every connection busy) gets no fallback: that answer may be a
/// revocation on its way. A token this ingress has never vouched for is not looked up for a
/// client over its failure limit.
async fn look_up(
    state: &IngressState,
    token: &str,
    client: IpAddr,
) -> Result<Option<Arc<Integration>>, IngressError> {
    let hash = tokens::hash(token);
    let ticket = match state.integrations.fresh(&hash) {
        Ok(cached) => return Ok(Some(cached)),
        Err(ticket) => ticket,
    };
    if !state.integrations.knows(&hash) {
        state.auth_failures.check(client)?;
    }
    let lookup = async {
        match state.pool.get().await {
            Ok(mut conn) => integrations::find_by_token(&mut conn, token)
                .await
                .map_err(|err| (pool::lost_connection(&err), err.to_string())),
            Err(err) => Err((pool::is_unreachable(&err), err.to_string())),
        }
    };
    // One bound on the whole lookup: checking out a connection alone can take longer (each
    // idle connection is pinged before it is handed out).
    let limit = state.pool.timeouts().wait.unwrap_or(LOOKUP_LIMIT);
    let answer = tokio::time::timeout(limit, lookup)
        .await
        .unwrap_or_else(|_| {
            Err((
                false,
                format!("PostgreSQL did not answer within {} ms", limit.as_millis()),
            ))
        });
    let (unreachable, err) = match answer {
        Ok(found) => return Ok(state.integrations.record(hash, found, ticket)),
        Err(failure) => failure,
    };
    // Slowness right after PostgreSQL could not be reached is that outage still: callers
    // queued behind connections that hang in a partition see only their wait run out.
    let unreachable = if unreachable {
        state.integrations.note_unreachable();
        true
    } else {
        state.integrations.unreachable_lately()
    };
    match state.integrations.recall(&hash).filter(|_| unreachable) {
        Some(known) => {
            tracing::warn!(error = %err, "PostgreSQL unreachable; using the integration as last seen");
            Ok(Some(known))
        }
        None => Err(IngressError::AuthUnavailable(err)),
    }
}
