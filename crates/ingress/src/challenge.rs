//! Answers to the challenges vendors send to a new webhook URL before they deliver anything,
//! on a GET to the vendor's route: authenticated like a delivery, answered with the
//! integration's signing secret.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use aurora_vendors::{Challenge, Vendor};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{IngressError, IngressState, auth};

/// Handles a GET to the route of a vendor that sends a challenge.
pub(crate) async fn answer(
    request: HttpRequest,
    state: web::Data<IngressState>,
    vendor: web::Data<Arc<dyn Vendor>>,
) -> Result<HttpResponse, IngressError> {
    let source = vendor.source_type();
    let (integration, _) = auth::admit(&request, &state, source).await?;
    match vendor.challenge() {
        Some(Challenge::NetdataCrc) => {
            let crc_token = crc_token(request.query_string()).ok_or_else(|| {
                IngressError::BadRequest("missing `crc_token` query parameter".into())
            })?;
            if integration.signing_secrets.is_empty() {
                return Err(IngressError::BadRequest(
                    "this integration has no signing secret to answer the challenge with: give \
                     it the challenge secret set in Netdata (aurora integration secrets)"
                        .into(),
                ));
            }
            // Netdata holds one challenge secret. While secrets rotate, the first one answers:
            // the one the user listed first, expected to be the one Netdata now has.
            let secrets = auth::signing_secrets(&state, &integration)?;
            tracing::info!(%source, "answered the webhook challenge");
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "response_token": netdata_response_token(&secrets[0], &crc_token),
            })))
        }
        // The route is registered only for vendors that send a challenge.
        None => Ok(HttpResponse::MethodNotAllowed().finish()),
    }
}

#[derive(serde::Deserialize)]
struct CrcQuery {
    crc_token: Option<String>,
}

/// The `crc_token` query parameter, when present and not blank.
fn crc_token(query: &str) -> Option<String> {
    web::Query::<CrcQuery>::from_query(query)
        .ok()
        .and_then(|query| query.into_inner().crc_token)
        .filter(|token| !token.is_empty())
}

/// Netdata's expected answer: `sha256=` and the base64 of HMAC-SHA256 keyed with the challenge
/// secret over the `crc_token` (Netdata's "Challenge secret" webhook docs, the same scheme as
/// X's CRC check).
fn netdata_response_token(secret: &str, crc_token: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(crc_token.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_token_is_the_base64_hmac_of_the_crc_token() {
        // Computed independently: Python's hmac.new(b"netdata-challenge-secret",
        // b"9b4507b3-9040-4669-9ca3-6b94edb50553", hashlib.sha256), base64-encoded.
        assert_eq!(
            netdata_response_token(
                "netdata-challenge-secret",
                "9b4507b3-9040-4669-9ca3-6b94edb50553"
            ),
            "sha256=SgSl6aczJUa2G9h0BuEgXhbAOMPiRcO7fSU4Aw6RNoE="
        );
    }

    #[test]
    fn the_crc_token_is_read_beside_the_integration_token() {
        assert_eq!(
            crc_token("token=aur_whk_x&crc_token=a%2Bb").as_deref(),
            Some("a+b")
        );
        assert_eq!(crc_token("token=aur_whk_x"), None);
        assert_eq!(crc_token("crc_token="), None);
    }
}
