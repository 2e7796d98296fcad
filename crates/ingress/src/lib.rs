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
mod client_failures;
mod clock;
mod error;
mod integration_cache;
mod metrics;
mod rate_limit;
mod receive;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use aurora_bus::Bus;
use aurora_db::DbPool;
use aurora_vendors::Vendor;

pub use client_failures::ClientFailures;
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::IngressError;
pub use integration_cache::{IntegrationCache, follow_changes};
pub use metrics::IngressMetrics;
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
    /// What one request may hold and take.
    pub limits: RequestLimits,
    /// Oldest signature timestamp accepted, either side of now.
    pub signature_tolerance: Duration,
    /// Webhooks per integration token.
    pub rate_limiter: RateLimiter,
    /// Failed authentications per client address.
    pub auth_failures: ClientFailures,
    /// Opens the integrations' sealed signing secrets; `None` when no key is configured.
    pub secret_box: Option<aurora_db::secret_box::SecretBox>,
    /// Integrations by token hash, so a webhook costs no database round trip.
    pub integrations: IntegrationCache,
    /// What it counts.
    pub metrics: IngressMetrics,
}

/// What one webhook request may hold and take.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest accepted body.
    pub body_bytes: usize,
    /// Longest the body may take to arrive once the head was accepted.
    pub body_read_timeout: Duration,
    /// Most alerts one delivery may carry.
    pub alerts_per_delivery: usize,
    /// Load balancers in front whose `X-Forwarded-For` entries are believed (0: the peer
    /// address is the client's).
    pub trusted_proxy_hops: usize,
}

impl Default for RequestLimits {
    /// The settings' defaults.
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            alerts_per_delivery: 1000,
            trusted_proxy_hops: 0,
        }
    }
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
