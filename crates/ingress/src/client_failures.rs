//! Failed authentications per client address, so nobody can guess tokens (or make every guess
//! cost a PostgreSQL lookup) at the ingress' full speed.
//!
//! An address that failed `limit` times within a window is refused with 429 for the rest of
//! it — but only for tokens this ingress does not know already: behind a load balancer that
//! hides client addresses (`ingress.trusted_proxy_hops = 0`) every sender shares one address,
//! and a stranger's guesses must not lock the known senders out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;

use crate::IngressError;

/// Addresses tracked before expired windows are swept out (bounds memory under a spray of
/// addresses).
const SWEEP_ABOVE: usize = 10_000;

/// Counts failures per client address in fixed windows.
#[derive(Clone)]
pub struct ClientFailures {
    limit: u32,
    window: Duration,
    counts: Arc<Mutex<HashMap<IpAddr, Count>>>,
}

#[derive(Clone, Copy)]
struct Count {
    since: Instant,
    failures: u32,
}

impl ClientFailures {
    /// At most `limit` failures per address in each `window` (a zero limit turns this off).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            counts: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Count>> {
        self.counts
            .lock()
            .expect("never poisoned: no code panics holding it")
    }

    /// 429 when `client` used up its failures in the current window.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), IngressError> {
        if self.limit == 0 {
            return Ok(());
        }
        match self.lock().get(&client) {
            Some(count) if count.failures >= self.limit => {
                let left = self.window.saturating_sub(count.since.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(IngressError::TooManyFailures {
                        retry_after_secs: left.as_secs().max(1),
                    })
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication of `client`.
    pub(crate) fn record(&self, client: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let mut counts = self.lock();
        if counts.len() >= SWEEP_ABOVE {
            counts.retain(|_, count| count.since.elapsed() < self.window);
        }
        let count = counts.entry(client).or_insert(Count {
            since: Instant::now(),
            failures: 0,
        });
        if count.since.elapsed() >= self.window {
            *count = Count {
                since: Instant::now(),
                failures: 0,
            };
        }
        count.failures = count.failures.saturating_add(1);
    }
}

/// The address a request came from: the peer, or with `trusted_proxy_hops` load balancers in
/// front, the address the outermost one saw (that many entries from the right of
/// `X-Forwarded-For`, which each proxy appends to; entries further left are the client's own
/// claim). Falls back to the peer when the header holds fewer entries.
pub(crate) fn client_address(request: &HttpRequest, trusted_proxy_hops: usize) -> IpAddr {
    let peer = request
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_proxy_hops)
        .and_then(|index| forwarded[index].parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let failures = ClientFailures::new(3, Duration::from_secs(60));
        let stranger = IpAddr::from([203, 0, 113, 7]);
        let other = IpAddr::from([203, 0, 113, 8]);
        for _ in 0..3 {
            assert!(failures.check(stranger).is_ok());
            failures.record(stranger);
        }
        let refused = failures.check(stranger).unwrap_err();
        assert!(
            matches!(refused, IngressError::TooManyFailures { retry_after_secs } if retry_after_secs <= 60)
        );
        assert!(failures.check(other).is_ok());
    }

    #[test]
    fn the_window_ends_and_a_zero_limit_is_off() {
        let failures = ClientFailures::new(1, Duration::ZERO);
        let client = IpAddr::from([192, 0, 2, 1]);
        failures.record(client);
        assert!(failures.check(client).is_ok(), "a window of zero is over");
        let off = ClientFailures::new(0, Duration::from_secs(60));
        off.record(client);
        off.record(client);
        assert!(off.check(client).is_ok());
    }

    #[test]
    fn forwarded_addresses_count_only_as_far_as_the_trusted_proxies() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "1.1.1.1, 198.51.100.4"))
            .to_http_request();
        assert_eq!(client_address(&request, 0).to_string(), "10.0.0.2");
        // One balancer: the address it saw, not what the client wrote before it.
        assert_eq!(client_address(&request, 1).to_string(), "198.51.100.4");
        assert_eq!(client_address(&request, 2).to_string(), "1.1.1.1");
        assert_eq!(client_address(&request, 3).to_string(), "10.0.0.2");
    }
}
