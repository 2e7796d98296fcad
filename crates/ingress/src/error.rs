//! The one mapping from ingress failures to HTTP answers.
//!
//! Clients get a status and a message naming the problem; internal causes (database, bus) are
//! logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// No credentials, or credentials that do not open this route.
    #[error("{0}")]
    Unauthorized(String),
    /// The body is larger than the limit.
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The delivery holds more alerts than one delivery may.
    #[error(
        "the delivery holds {count} alerts; at most {limit} are accepted per delivery (ingress.max_alerts_per_delivery): split it"
    )]
    TooManyAlerts {
        /// Alerts in the delivery.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The body did not arrive within the time limit.
    #[error("the body was not received within {limit_secs} s")]
    BodyTimeout {
        /// The limit.
        limit_secs: u64,
    },
    /// The client's address failed authentication too often.
    #[error("too many failed authentications from this address; retry in {retry_after_secs} s")]
    TooManyFailures {
        /// Seconds until this address is heard again.
        retry_after_secs: u64,
    },
    /// Not a JSON content type.
    #[error("unsupported content type `{0}`: send application/json")]
    UnsupportedMediaType(String),
    /// The body cannot be parsed or normalized.
    #[error("{0}")]
    BadRequest(String),
    /// The integration sends faster than its rate limit.
    #[error("too many webhooks for this integration; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next webhook is accepted.
        retry_after_secs: u64,
    },
    /// The bus did not take the delivery: the sender should retry.
    #[error("the alert bus is unavailable; retry later")]
    BusUnavailable(#[source] aurora_bus::BusError),
    /// PostgreSQL could not be asked who the token belongs to: the sender should retry.
    #[error("authentication is temporarily unavailable; retry later")]
    AuthUnavailable(String),
}

impl IngressError {
    /// The `reason` label of `aurora_webhooks_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngressError::Unauthorized(_) => "unauthorized",
            IngressError::TooLarge { .. } => "too_large",
            IngressError::TooManyAlerts { .. } => "too_many_alerts",
            IngressError::BodyTimeout { .. } => "body_timeout",
            IngressError::TooManyFailures { .. } => "too_many_failures",
            IngressError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngressError::BadRequest(_) => "bad_request",
            IngressError::RateLimited { .. } => "rate_limited",
            IngressError::BusUnavailable(_) => "bus_unavailable",
            IngressError::AuthUnavailable(_) => "auth_unavailable",
        }
    }
}

impl ResponseError for IngressError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngressError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngressError::TooLarge { .. } | IngressError::TooManyAlerts { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngressError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            IngressError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngressError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngressError::RateLimited { .. } | IngressError::TooManyFailures { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            IngressError::BusUnavailable(_) | IngressError::AuthUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            IngressError::BusUnavailable(cause) => {
                tracing::error!(error = %cause, "publish failed; answering 503");
            }
            IngressError::AuthUnavailable(cause) => {
                tracing::error!(error = %cause, "integration lookup failed; answering 503");
            }
            _ => tracing::info!(status = %self.status_code(), reason = %self, "webhook refused"),
        }
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            IngressError::RateLimited { retry_after_secs }
            | IngressError::TooManyFailures { retry_after_secs } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            IngressError::BusUnavailable(_) | IngressError::AuthUnavailable(_) => {
                response.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
