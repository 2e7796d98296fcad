//! The webhook ingress every vendor service shares: authenticate the integration token from
//! the request's head (cached per process), read the body within a limit, verify the vendor's
//! signature, normalize, publish to JetStream, and answer 202 only after JetStream has the
//! delivery. A vendor that checks a new webhook URL with a challenge (Netdata) gets its answer
//! on a GET to the same route.
//!
//! A vendor service is [`routes`] over one vendor; the all-in-one ingress is the same over
//! every vendor.

mod auth;
mod challenge;
mod clock;
mod error;
mod integration_cache;
mod rate_limit;
mod receive;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use aurora_bus::Bus;
use aurora_db::DbPool;
use aurora_vendors::Vendor;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::IngressError;
pub use integration_cache::{IntegrationCache, follow_changes};
pub use rate_limit::RateLimiter;

/// What every webhook request needs.
#[derive(Clone)]
pub struct IngressState {
    /// Where integrations are looked up.
    pub pool: DbPool,
    /// Where accepted deliveries go.
    pub bus: Bus,
    /// The time signatures are checked against.
    pub clock: Arc<dyn Clock>,
    /// Largest accepted body.
    pub body_limit_bytes: usize,
    /// Oldest signature timestamp accepted, either side of now.
    pub signature_tolerance: Duration,
    /// Webhooks per integration token.
    pub rate_limiter: RateLimiter,
    /// Opens the integrations' sealed signing secrets; `None` when no key is configured.
    pub secret_box: Option<aurora_db::secret_box::SecretBox>,
    /// Integrations by token hash, so a webhook costs no database round trip.
    pub integrations: IntegrationCache,
}

/// Registers the webhook route of each vendor: POST delivers, and GET answers the vendor's
/// challenge when it sends one. The caller adds [`IngressState`] as app data.
pub fn routes(vendors: Vec<Arc<dyn Vendor>>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        for vendor in vendors {
            let path = aurora_vendors::route_path(vendor.source_type());
            let challenged = vendor.challenge().is_some();
            let mut resource = web::resource(path)
                .app_data(web::Data::new(vendor))
                .route(web::post().to(receive::receive));
            if challenged {
                resource = resource.route(web::get().to(challenge::answer));
            }
            config.service(resource);
        }
    }
}
