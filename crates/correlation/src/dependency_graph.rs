//! Service dependencies from the configuration, walked both ways: an alert on a service and
//! an incident on a service it calls (downstream) or that calls it (upstream) are related.

use std::collections::{HashMap, HashSet, VecDeque};

/// An undirected view of `correlation.dependencies`.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    neighbours: HashMap<String, HashSet<String>>,
    callees: HashMap<String, Vec<String>>,
}

impl DependencyGraph {
    /// Builds the graph from service → the services it depends on.
    pub fn new(dependencies: &HashMap<String, Vec<String>>) -> Self {
        let mut neighbours: HashMap<String, HashSet<String>> = HashMap::new();
        for (service, callees) in dependencies {
            for callee in callees {
                neighbours
                    .entry(service.clone())
                    .or_default()
                    .insert(callee.clone());
                neighbours
                    .entry(callee.clone())
                    .or_default()
                    .insert(service.clone());
            }
        }
        Self {
            neighbours,
            callees: dependencies.clone(),
        }
    }

    /// Hops between two services, up to `max_hops`; `None` when they are not linked so closely.
    pub fn hops(&self, from: &str, to: &str, max_hops: u32) -> Option<u32> {
        if from == to {
            return Some(0);
        }
        let mut seen = HashSet::from([from]);
        let mut queue = VecDeque::from([(from, 0)]);
        while let Some((service, distance)) = queue.pop_front() {
            if distance == max_hops {
                continue;
            }
            for next in self.neighbours.get(service).into_iter().flatten() {
                if next == to {
                    return Some(distance + 1);
                }
                if seen.insert(next) {
                    queue.push_back((next, distance + 1));
                }
            }
        }
        None
    }

    /// Every service linked to `service` within `max_hops`, either way, without `service`.
    pub fn within(&self, service: &str, max_hops: u32) -> Vec<&str> {
        let mut seen = HashSet::from([service]);
        let mut found = Vec::new();
        let mut queue = VecDeque::from([(service, 0)]);
        while let Some((current, distance)) = queue.pop_front() {
            if distance == max_hops {
                continue;
            }
            for next in self.neighbours.get(current).into_iter().flatten() {
                if seen.insert(next) {
                    found.push(next.as_str());
                    queue.push_back((next, distance + 1));
                }
            }
        }
        found
    }

    /// The services `service` depends on directly (whose deployments may break it).
    pub fn dependencies_of(&self, service: &str) -> &[String] {
        self.callees.get(service).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_go_upstream_and_downstream_and_stop_at_the_limit() {
        let graph = DependencyGraph::new(&HashMap::from([
            ("web".to_owned(), vec!["checkout-api".to_owned()]),
            ("checkout-api".to_owned(), vec!["payments-api".to_owned()]),
            ("payments-api".to_owned(), vec!["postgres".to_owned()]),
        ]));
        assert_eq!(graph.hops("checkout-api", "payments-api", 3), Some(1));
        assert_eq!(graph.hops("payments-api", "web", 3), Some(2), "upstream");
        assert_eq!(graph.hops("web", "postgres", 2), None, "three hops away");
        assert_eq!(graph.hops("web", "search", 3), None);
        assert_eq!(graph.dependencies_of("checkout-api"), ["payments-api"]);
        let mut near = graph.within("payments-api", 1);
        near.sort();
        assert_eq!(near, ["checkout-api", "postgres"]);
        assert_eq!(graph.within("web", 2), ["checkout-api", "payments-api"]);
    }
}
