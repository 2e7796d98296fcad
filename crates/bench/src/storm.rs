//! The storm's alerts: one Alertmanager alert per request, in a fixed mix of new services,
//! correlated alerts, repeats and resolves, spread over the tenants in turn.
//!
//! Every logical alert has its own fingerprint (what Aurora keys it by) and its own
//! `alertname` (what Alertmanager keys it by, through the label set), so both systems see the
//! same alerts. Titles of different services share too little for Aurora's title similarity
//! to join them: only those sent to the service of a recent incident correlate.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Alert names as Prometheus rules commonly call them; each alert's own suffix follows.
const ALERT_NAMES: &[&str] = &[
    "HighErrorRate",
    "HighLatency",
    "PodCrashLooping",
    "DiskWillFillIn4h",
    "CPUThrottlingHigh",
    "MemoryPressure",
    "TargetDown",
    "CertificateExpiry",
];

/// Services per tenant that count as "a recent incident" for the correlated share: a storm
/// hits a few dozen services at a time.
const RECENT_SERVICES: usize = 64;

/// Random picks tried for a resolve before falling back to a repeat.
const RESOLVE_TRIES: usize = 8;

/// What one request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new alert on a new service: opens an incident (~2%).
    NewService,
    /// A new alert on the service of a recent incident: joins it (~58%).
    Correlated,
    /// A firing alert sent again: counted, nothing created (~30%).
    Repeat,
    /// The resolve of a firing alert already accepted (~10%).
    Resolve,
}

impl Kind {
    /// Every kind, in the order of [`Planner::mix`].
    pub const ALL: [Kind; 4] = [
        Kind::NewService,
        Kind::Correlated,
        Kind::Repeat,
        Kind::Resolve,
    ];

    /// How the table names it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::NewService => "new service",
            Kind::Correlated => "correlated",
            Kind::Repeat => "repeat",
            Kind::Resolve => "resolve",
        }
    }
}

/// One logical alert.
struct Alert {
    service: usize,
    fingerprint: String,
    title: String,
    /// At least one request for it was accepted.
    accepted: bool,
    /// Requests for it not yet answered: a resolve waits for them, so it is the last word.
    in_flight: u32,
}

/// One tenant's recent services and firing alerts.
#[derive(Default)]
struct Tenant {
    recent: VecDeque<usize>,
    firing: Vec<usize>,
}

/// One planned request: which alert, for which tenant, and what it says.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The alert's index, to [`Planner::settle`] it when answered.
    pub alert: usize,
    /// The tenant whose integration sends it.
    pub tenant: usize,
    /// Alertmanager's fingerprint field: Aurora's key for the alert.
    pub fingerprint: String,
    /// The `service` label.
    pub service: String,
    /// The `alertname` label (the alert's title).
    pub title: String,
    /// Firing, or the resolve.
    pub firing: bool,
}

/// Plans requests. The same seed gives the same sequence of draws; which firing alert a
/// resolve picks depends on which were already accepted, so that much follows the timing.
pub struct Planner {
    rng: StdRng,
    run: String,
    services: usize,
    alerts: Vec<Alert>,
    tenants: Vec<Tenant>,
    turn: usize,
    /// Requests planned, by [`Kind::ALL`] order.
    pub mix: [u64; 4],
}

impl Planner {
    /// A planner for `tenants` tenants; `run` makes service names unique to this run.
    pub fn new(seed: u64, tenants: usize, run: &str) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            run: run.to_owned(),
            services: 0,
            alerts: Vec::new(),
            tenants: (0..tenants.max(1)).map(|_| Tenant::default()).collect(),
            turn: 0,
            mix: [0; 4],
        }
    }

    /// The next request, for the next tenant in turn.
    pub fn next(&mut self) -> Planned {
        let tenant = self.turn % self.tenants.len();
        self.turn += 1;
        let roll: f64 = self.rng.random();
        let wanted = match roll {
            r if r < 0.02 => Kind::NewService,
            r if r < 0.6 => Kind::Correlated,
            r if r < 0.9 => Kind::Repeat,
            _ => Kind::Resolve,
        };
        // Early on a tenant has no recent service or firing alert yet: the next kind that can
        // be planned stands in.
        let (kind, alert) = match wanted {
            Kind::Resolve => self
                .resolvable(tenant)
                .map(|alert| (Kind::Resolve, alert))
                .or_else(|| self.repeat(tenant).map(|alert| (Kind::Repeat, alert))),
            Kind::Repeat => self.repeat(tenant).map(|alert| (Kind::Repeat, alert)),
            Kind::Correlated => self
                .recent_service(tenant)
                .map(|service| (Kind::Correlated, self.new_alert(tenant, service))),
            Kind::NewService => None,
        }
        .unwrap_or_else(|| {
            let service = self.new_service(tenant);
            (Kind::NewService, self.new_alert(tenant, service))
        });
        self.mix[Kind::ALL.iter().position(|k| *k == kind).expect("listed")] += 1;
        let state = &mut self.alerts[alert];
        state.in_flight += 1;
        Planned {
            alert,
            tenant,
            fingerprint: state.fingerprint.clone(),
            service: format!("{}-svc-{}", self.run, state.service),
            title: state.title.clone(),
            firing: kind != Kind::Resolve,
        }
    }

    /// Records a request's answer: an accepted alert may be resolved from now on.
    pub fn settle(&mut self, alert: usize, accepted: bool) {
        let state = &mut self.alerts[alert];
        state.in_flight -= 1;
        state.accepted |= accepted;
    }

    fn new_service(&mut self, tenant: usize) -> usize {
        let service = self.services;
        self.services += 1;
        let recent = &mut self.tenants[tenant].recent;
        if recent.len() == RECENT_SERVICES {
            recent.pop_front();
        }
        recent.push_back(service);
        service
    }

    fn recent_service(&mut self, tenant: usize) -> Option<usize> {
        let recent = &self.tenants[tenant].recent;
        (!recent.is_empty()).then(|| recent[self.rng.random_range(0..recent.len())])
    }

    fn new_alert(&mut self, tenant: usize, service: usize) -> usize {
        let key: u64 = self.rng.random();
        let name = ALERT_NAMES[self.rng.random_range(0..ALERT_NAMES.len())];
        let fingerprint = format!("{key:016x}");
        // A random suffix, not a counter: consecutive numbers would make titles alike.
        let title = format!("{name}_{}", &fingerprint[..8]);
        self.alerts.push(Alert {
            service,
            fingerprint,
            title,
            accepted: false,
            in_flight: 0,
        });
        let alert = self.alerts.len() - 1;
        self.tenants[tenant].firing.push(alert);
        alert
    }

    fn repeat(&mut self, tenant: usize) -> Option<usize> {
        let firing = &self.tenants[tenant].firing;
        (!firing.is_empty()).then(|| firing[self.rng.random_range(0..firing.len())])
    }

    /// A firing alert accepted with 202 and with nothing in flight, taken off the firing list
    /// (so it is neither repeated nor resolved again).
    fn resolvable(&mut self, tenant: usize) -> Option<usize> {
        for _ in 0..RESOLVE_TRIES {
            let firing = &self.tenants[tenant].firing;
            if firing.is_empty() {
                return None;
            }
            let at = self.rng.random_range(0..firing.len());
            let alert = &self.alerts[firing[at]];
            if alert.accepted && alert.in_flight == 0 {
                return Some(self.tenants[tenant].firing.swap_remove(at));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plans `count` requests, answering each at once with `accepted`.
    fn plan(count: usize, accepted: bool) -> (Planner, Vec<Planned>) {
        let mut planner = Planner::new(7, 2, "t");
        let planned = (0..count)
            .map(|_| {
                let next = planner.next();
                planner.settle(next.alert, accepted);
                next
            })
            .collect();
        (planner, planned)
    }

    #[test]
    fn the_mix_is_close_to_the_stated_shares() {
        let (planner, _) = plan(20_000, true);
        let share = |kind: usize| planner.mix[kind] as f64 / 20_000.0;
        assert!((share(0) - 0.02).abs() < 0.01, "{:?}", planner.mix);
        assert!((share(1) - 0.58).abs() < 0.02, "{:?}", planner.mix);
        assert!((share(2) - 0.3).abs() < 0.02, "{:?}", planner.mix);
        assert!((share(3) - 0.1).abs() < 0.02, "{:?}", planner.mix);
    }

    #[test]
    fn the_same_seed_plans_the_same_requests() {
        let titles = |planned: Vec<Planned>| -> Vec<String> {
            planned.into_iter().map(|p| p.title).collect()
        };
        assert_eq!(titles(plan(500, true).1), titles(plan(500, true).1));
    }

    #[test]
    fn only_accepted_alerts_are_resolved_and_only_once() {
        let (_, refused) = plan(2_000, false);
        assert!(refused.iter().all(|p| p.firing));
        let (_, planned) = plan(2_000, true);
        let mut resolved = std::collections::HashSet::new();
        for p in planned.iter().filter(|p| !p.firing) {
            assert!(resolved.insert(p.alert), "resolved twice");
        }
        // Nothing fires again after its resolve.
        for (at, p) in planned.iter().enumerate().filter(|(_, p)| !p.firing) {
            assert!(!planned[at + 1..].iter().any(|q| q.alert == p.alert));
        }
    }

    #[test]
    fn tenants_take_turns_and_alerts_have_their_own_keys() {
        let (_, planned) = plan(1_000, true);
        assert!(planned.iter().enumerate().all(|(i, p)| p.tenant == i % 2));
        let keys: std::collections::HashMap<usize, (&str, &str)> = planned
            .iter()
            .map(|p| (p.alert, (p.fingerprint.as_str(), p.title.as_str())))
            .collect();
        let fingerprints: std::collections::HashSet<&str> = keys.values().map(|k| k.0).collect();
        let titles: std::collections::HashSet<&str> = keys.values().map(|k| k.1).collect();
        assert_eq!(fingerprints.len(), keys.len());
        assert_eq!(titles.len(), keys.len());
    }
}
