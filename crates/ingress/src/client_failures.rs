//! Failed authentications per client address, so nobody can guess tokens (or make every guess
//! cost a PostgreSQL lookup) at the ingress' full speed.
//!
//! An address that failed `limit` times within a window is refused with 429 for the rest of
//! it — but only for tokens this ingress does not know already: behind a load balancer that
//! hides client addresses (`ingress.trusted_proxy_hops = 0`) every sender shares one address,
//! and a stranger's guesses must not lock the known senders out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;

use crate::IngressError;

/// Addresses tracked before expired windows are first swept out; each sweep waits until the
/// map has doubled since the last, so sweeping costs O(1) per failure on average.
const SWEEP_ABOVE: usize = 10_000;
/// Most addresses tracked at once. A spray of more addresses than this within a window is an
/// attack in itself: an untracked address then counts as over its limit (known tokens still
/// pass, see the module documentation).
const MAX_TRACKED: usize = 200_000;

/// Counts failures per client in fixed windows. A client is an IPv4 address, or an IPv6 /64:
/// one subscriber usually holds a whole /64, and counting its 2^64 addresses one by one would
/// be no limit at all.
#[derive(Clone)]
pub struct ClientFailures {
    limit: u32,
    window: Duration,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    by_client: HashMap<IpAddr, Count>,
    sweep_at: usize,
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
            counts: Arc::new(Mutex::new(Counts {
                by_client: HashMap::new(),
                sweep_at: SWEEP_ABOVE,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .expect("never poisoned: no code panics holding it")
    }

    /// 429 when `client` used up its failures in the current window.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), IngressError> {
        if self.limit == 0 {
            return Ok(());
        }
        let counts = self.lock();
        let over = |retry_after: Duration| IngressError::TooManyFailures {
            retry_after_secs: retry_after.as_secs().max(1),
        };
        match counts.by_client.get(&client_key(client)) {
            Some(count) if count.failures >= self.limit => {
                let left = self.window.saturating_sub(count.since.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(over(left))
                }
            }
            Some(_) => Ok(()),
            None if counts.by_client.len() >= MAX_TRACKED => Err(over(self.window)),
            None => Ok(()),
        }
    }

    /// Counts one failed authentication of `client`.
    pub(crate) fn record(&self, client: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let mut counts = self.lock();
        if counts.by_client.len() >= counts.sweep_at {
            counts
                .by_client
                .retain(|_, count| count.since.elapsed() < self.window);
            counts.sweep_at = (counts.by_client.len() * 2).max(SWEEP_ABOVE);
        }
        let client = client_key(client);
        if counts.by_client.len() >= MAX_TRACKED && !counts.by_client.contains_key(&client) {
            return;
        }
        let count = counts.by_client.entry(client).or_insert(Count {
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

/// What failures are counted under: the IPv4 address (an IPv4-mapped IPv6 one as the IPv4
/// address it is), or the /64 of an IPv6 address.
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
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
    fn an_ipv6_subscriber_is_counted_by_its_64_and_a_mapped_ipv4_as_itself() {
        let failures = ClientFailures::new(2, Duration::from_secs(60));
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        failures.record(first);
        failures.record(same_64);
        assert!(
            failures
                .check("2001:db8:1:2:abcd::9".parse().unwrap())
                .is_err()
        );
        assert!(failures.check(other_64).is_ok());
        failures.record("::ffff:192.0.2.9".parse().unwrap());
        failures.record("192.0.2.9".parse().unwrap());
        assert!(failures.check("192.0.2.9".parse().unwrap()).is_err());
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
