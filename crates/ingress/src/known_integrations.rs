//! The integrations the ingress has recently looked up, by token hash, so that webhooks keep
//! being accepted while PostgreSQL restarts: the bus, not the database, is what a 202
//! promises. Used only when the database cannot answer; any answer it gives (a revoked or
//! deleted token included) is the truth and replaces what is remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurora_db::integrations::Integration;
use aurora_db::tokens;

/// Token hash → the integration the database gave for it, and when.
type Seen = HashMap<Vec<u8>, (Integration, Instant)>;

/// Integrations seen recently, remembered for `fallback`.
#[derive(Clone)]
pub struct KnownIntegrations {
    fallback: Duration,
    seen: Arc<Mutex<Seen>>,
}

impl KnownIntegrations {
    /// Remembers each integration for `fallback` after the database last vouched for it; zero
    /// turns the fallback off.
    pub fn new(fallback: Duration) -> Self {
        Self {
            fallback,
            seen: Arc::default(),
        }
    }

    /// What the database answered for `token`.
    pub(crate) fn record(&self, token: &str, found: Option<&Integration>) {
        let mut seen = self
            .seen
            .lock()
            .expect("never poisoned: no code panics holding it");
        match found {
            Some(integration) if !self.fallback.is_zero() => {
                seen.insert(tokens::hash(token), (integration.clone(), Instant::now()));
            }
            _ => {
                seen.remove(&tokens::hash(token));
            }
        }
    }

    /// The integration the database last gave for `token`, if that was within the fallback.
    pub(crate) fn recall(&self, token: &str) -> Option<Integration> {
        let seen = self
            .seen
            .lock()
            .expect("never poisoned: no code panics holding it");
        seen.get(&tokens::hash(token))
            .filter(|(_, at)| at.elapsed() <= self.fallback)
            .map(|(integration, _)| integration.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> Integration {
        Integration {
            id: uuid::Uuid::new_v4(),
            user_id: "u".into(),
            source_type: "grafana".into(),
            signing_secrets: Vec::new(),
            revoked_at: None,
        }
    }

    #[test]
    fn remembers_what_the_database_last_said() {
        let known = KnownIntegrations::new(Duration::from_secs(60));
        let seen = integration();
        assert!(
            known.recall("aur_whk_a").is_none(),
            "nothing before a lookup"
        );
        known.record("aur_whk_a", Some(&seen));
        assert_eq!(known.recall("aur_whk_a").map(|i| i.id), Some(seen.id));
        assert!(
            known.recall("aur_whk_b").is_none(),
            "only the token looked up"
        );
        // The database no longer knows the token (deleted): forgotten at once.
        known.record("aur_whk_a", None);
        assert!(known.recall("aur_whk_a").is_none());
    }

    #[test]
    fn a_zero_fallback_remembers_nothing() {
        let known = KnownIntegrations::new(Duration::ZERO);
        known.record("aur_whk_a", Some(&integration()));
        assert!(known.recall("aur_whk_a").is_none());
    }
}
