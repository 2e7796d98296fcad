//! One log line per HTTP request: method, path, status, time. The query string is logged with
//! the values of credential parameters (`token`, `api_key`, …) replaced, since Splunk and
//! others put integration tokens there. Answers below 400 are logged at `debug`: in a storm a
//! line per accepted webhook is written already (with its delivery id), and a second one cost
//! the ingress a measurable share of its CPU.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Query parameters whose values are never logged.
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "access_token",
];

/// The query string with credential values replaced by `[redacted]`. Names are compared as
/// the token parser reads them, percent- and plus-decoded, so `?%74oken=` is redacted too.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if is_secret(name) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret(raw_name: &str) -> bool {
    let decoded: String = form_urlencoded::parse(raw_name.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect();
    SECRET_PARAMETERS.contains(&decoded.trim().to_ascii_lowercase().as_str())
}

/// Middleware (`App::wrap(from_fn(access_log))`) writing the access log line.
pub async fn access_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let query = redact_query(request.query_string());
    let response = next.call(request).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 400 {
        tracing::info!(%method, %path, %query, status, elapsed_ms, "request");
    } else {
        tracing::debug!(%method, %path, %query, status, elapsed_ms, "request");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn credential_values_are_redacted_and_the_rest_kept() {
        assert_eq!(
            super::redact_query("token=aur_whk_abc&debug=1"),
            "token=[redacted]&debug=1"
        );
        assert_eq!(
            super::redact_query("Token=x&API_KEY=y"),
            "Token=[redacted]&API_KEY=[redacted]"
        );
        assert_eq!(super::redact_query(""), "");
    }

    #[test]
    fn encoded_names_are_read_as_the_token_parser_reads_them() {
        assert_eq!(
            super::redact_query("%74oken=aur_whk_abc&a=1"),
            "%74oken=[redacted]&a=1"
        );
        assert_eq!(super::redact_query("api%5Fkey=x"), "api%5Fkey=[redacted]");
        // A value with no `=` at all is still a value.
        assert_eq!(super::redact_query("token"), "token=[redacted]");
    }
}
