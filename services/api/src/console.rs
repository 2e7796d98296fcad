//! The incident console: a page and its script and styles, embedded in the binary so the
//! console works with no internet and no separate front-end server.
//!
//! The page is a shell; the script signs in with an API token (kept in the tab's
//! `sessionStorage`, sent as a bearer header, never put in a URL) and reads the same JSON API
//! as every other client, the live stream included. Every console response carries a
//! Content-Security-Policy that allows scripts, styles and connections from this origin only
//! and no inline script at all, so text from an alert can never run even if it reached the page
//! as markup.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};

/// What a console response may load and do: its own files only, no inline script or style,
/// no framing by another site, no form posted elsewhere.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const PAGE: &str = include_str!("../console/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../console/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../console/icon.svg"),
    },
];

/// Registers the console's routes: the page at `/` and at `/incidents/{id}` (where
/// notifications link), and its files under `/console/`.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(page))
        .route("/incidents/{id}", web::get().to(page))
        .route("/console/{file}", web::get().to(asset));
}

/// A response with the headers every console response carries.
fn secured(content_type: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Always asked again: a new binary's console replaces the old at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    response
}

async fn page() -> HttpResponse {
    secured(&ContentType::html().to_string()).body(PAGE)
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|asset| asset.name == file.as_str()) {
        Some(asset) => secured(asset.content_type).body(asset.body),
        None => HttpResponse::NotFound()
            .json(serde_json::json!({ "error": format!("no console file `{file}`") })),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test as actix_test};

    use super::*;

    #[actix_web::test]
    async fn the_page_and_its_files_are_served_with_the_policy() {
        let app = actix_test::init_service(App::new().configure(routes)).await;
        for (path, kind) in [
            ("/", "text/html"),
            (
                "/incidents/5b0f3c9e-0000-4000-8000-000000000000",
                "text/html",
            ),
            ("/console/app.js", "text/javascript"),
            ("/console/app.css", "text/css"),
            ("/console/icon.svg", "image/svg+xml"),
        ] {
            let response = actix_test::call_service(
                &app,
                actix_test::TestRequest::get().uri(path).to_request(),
            )
            .await;
            assert!(response.status().is_success(), "{path}");
            let headers = response.headers();
            assert!(
                headers
                    .get(header::CONTENT_TYPE)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(kind),
                "{path}"
            );
            assert_eq!(
                headers.get(header::CONTENT_SECURITY_POLICY).unwrap(),
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(
                headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
                "nosniff"
            );
        }
        let missing = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/console/secrets.txt")
                .to_request(),
        )
        .await;
        assert_eq!(missing.status(), 404);
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_the_page_has_none() {
        let scripts = CONTENT_SECURITY_POLICY
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert_eq!(scripts.trim(), "script-src 'self'");
        // Every <script> of the page loads a file; none carries code or an inline handler.
        assert!(PAGE.matches("<script").count() >= 1);
        for tag in PAGE.split("<script").skip(1) {
            let (attributes, rest) = tag.split_once('>').unwrap();
            assert!(attributes.contains("src=\"/console/"), "{attributes}");
            assert!(rest.trim_start().starts_with("</script>"), "{rest}");
        }
        let inline_handler = PAGE
            .split_whitespace()
            .any(|word| word.to_ascii_lowercase().starts_with("on") && word.contains('='));
        assert!(!inline_handler, "no inline handler");
        assert!(!PAGE.contains("style="), "no inline style");
    }
}
