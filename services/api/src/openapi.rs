//! The OpenAPI document (`openapi.json` beside `Cargo.toml`), served at `/api/openapi.json`.
//! Written by hand and checked against the running routes and the serialized rows by the
//! API tests, so it cannot drift from the code unnoticed.

use actix_web::HttpResponse;

/// The document.
pub const DOCUMENT: &str = include_str!("../openapi.json");

pub(crate) async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}
