//! The caller, from `Authorization: Bearer <api token>`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use aurora_db::{DbPool, users};
use aurora_domain::UserId;

use crate::error::ApiError;

/// The authenticated caller. Every handler that takes it refuses requests without a valid
/// API token before doing anything else.
#[derive(Debug, Clone)]
pub struct Caller(pub UserId);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(request);
        let pool = request.app_data::<web::Data<DbPool>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized("missing bearer API token"))?;
            let pool = pool.expect("the API app always carries the pool");
            let mut conn = pool.get().await?;
            let user = users::find_by_api_token(&mut conn, &token)
                .await?
                .ok_or(ApiError::Unauthorized("invalid API token"))?;
            let id =
                UserId::parse(user.id).map_err(|err| ApiError::Unavailable(err.to_string()))?;
            Ok(Caller(id))
        })
    }
}

/// Whether `token` still opens the API for `user`: false once it was rotated or revoked. A
/// database that cannot answer keeps what is open (true): an outage cuts no stream.
pub(crate) async fn still_valid(pool: &DbPool, token: &str, user: &UserId) -> bool {
    let Ok(mut conn) = pool.get().await else {
        return true;
    };
    match users::find_by_api_token(&mut conn, token).await {
        Ok(found) => found.is_some_and(|found| found.id == user.as_str()),
        Err(_) => true,
    }
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer_token(request: &HttpRequest) -> Option<String> {
    let header = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
