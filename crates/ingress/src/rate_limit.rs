//! Rate limiting per integration token, so one misbehaving sender cannot crowd out the
//! others. Per ingress process: with N replicas behind the load balancer a token gets up to N
//! times the rate.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::IngressError;

/// A token bucket per integration.
#[derive(Clone)]
pub struct RateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<Uuid>>,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once, per integration.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
        }
    }

    /// Takes one webhook's place, or answers 429 with when to retry.
    pub(crate) fn check(&self, integration: Uuid) -> Result<(), IngressError> {
        self.limiter.check_key(&integration).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            IngressError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}
