//! API failures and their HTTP answers: `{"error": "<what is wrong>"}`; internal causes are
//! logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or unknown API token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No such thing for this user (including another user's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An invalid parameter; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// A well-formed request whose values are not acceptable; the message names the field.
    #[error("{0}")]
    Unprocessable(String),
    /// The change conflicts with the incident's state.
    #[error("{0}")]
    Conflict(String),
    /// The body is over the limit.
    #[error("body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// The database failed.
    #[error("the incident store is unavailable; retry later")]
    Unavailable(String),
    /// The caller holds every live stream it may.
    #[error(transparent)]
    TooManyStreams(#[from] crate::stream::TooManyStreams),
    /// The live stream cannot follow the bus.
    #[error("the live stream is unavailable; retry later")]
    StreamUnavailable(String),
}

impl From<aurora_db::QueryError> for ApiError {
    fn from(err: aurora_db::QueryError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl From<aurora_db::PoolError> for ApiError {
    fn from(err: aurora_db::PoolError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::StreamUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database failure; answering 503");
            }
            ApiError::StreamUnavailable(cause) => {
                tracing::error!(error = %cause, "bus failure; answering 503");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
