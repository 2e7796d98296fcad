//! The evaluation suite as a regression: the committed scenarios are well formed and the
//! analyst stays at or above the committed floor.

use std::collections::BTreeSet;

use aurora_rca::KnowledgeBase;
use aurora_rca_eval::{DEPLOYMENT, UNKNOWN, floor, holdout_dir, load, run, scenarios_dir};

const VENDORS: [&str; 8] = [
    "alertmanager",
    "grafana",
    "datadog",
    "netdata",
    "pagerduty",
    "splunk",
    "dynatrace",
    "bigpanda",
];

#[test]
fn the_held_out_scenarios_are_well_formed_too() {
    let held_out = load(holdout_dir()).unwrap();
    assert!(
        held_out.len() >= 20,
        "{} held-out scenarios",
        held_out.len()
    );
    each_well_formed(&held_out);
    let tuned: BTreeSet<String> = load(scenarios_dir())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(
        held_out.iter().all(|s| !tuned.contains(&s.id)),
        "an id in both sets"
    );
}

#[test]
fn the_scenarios_are_many_cited_varied_and_answerable() {
    let scenarios = load(scenarios_dir()).unwrap();
    assert!(scenarios.len() >= 60, "{} scenarios", scenarios.len());
    each_well_formed(&scenarios);
    for vendor in VENDORS {
        assert!(
            scenarios.iter().any(|s| s.alert[0].source == vendor),
            "no scenario opens with a {vendor} alert"
        );
    }
    let share = |test: &dyn Fn(&aurora_rca_eval::Scenario) -> bool| {
        scenarios.iter().filter(|s| test(s)).count() as f64 / scenarios.len() as f64
    };
    assert!(
        share(&|s| s.distracting) >= 0.33,
        "a third must carry distractions"
    );
    assert!(
        share(&|s| s.expected == UNKNOWN) >= 0.1,
        "a tenth must be unknown"
    );
}

#[test]
fn the_analyst_stays_at_or_above_the_committed_floor() {
    let dir = scenarios_dir();
    let report = run(&load(dir).unwrap(), &KnowledgeBase::builtin());
    let floor = floor(dir).unwrap();
    let misses: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| !o.top1())
        .map(|o| {
            format!(
                "{}: expected {}, got {}",
                o.id,
                o.expected,
                o.ranked.join(" > ")
            )
        })
        .collect();
    assert!(
        report.top1 >= floor.top1,
        "top-1 {:.3} below the floor {:.3}; misses:\n{}",
        report.top1,
        floor.top1,
        misses.join("\n")
    );
    assert!(
        report.top3 >= floor.top3,
        "top-3 {:.3} below {:.3}",
        report.top3,
        floor.top3
    );
    assert!(
        report.wrong_on_unknown <= floor.wrong_on_unknown,
        "{} unknown scenarios got a cause",
        report.wrong_on_unknown
    );
}

/// Each scenario: a unique id, a known answer, a cited source, known vendors, and a deployment
/// where the answer is one.
fn each_well_formed(scenarios: &[aurora_rca_eval::Scenario]) {
    let knowledge = KnowledgeBase::builtin();
    let known: BTreeSet<&str> = knowledge
        .patterns()
        .iter()
        .map(|p| p.id.as_str())
        .chain([DEPLOYMENT, UNKNOWN])
        .collect();
    let mut ids = BTreeSet::new();
    for scenario in scenarios {
        assert!(
            ids.insert(scenario.id.as_str()),
            "duplicate id {}",
            scenario.id
        );
        assert!(
            known.contains(scenario.expected.as_str()),
            "{}: unknown answer {}",
            scenario.id,
            scenario.expected
        );
        assert!(
            scenario.reference.starts_with("http"),
            "{}: cite a public report",
            scenario.id
        );
        for alert in &scenario.alert {
            assert!(
                VENDORS.contains(&alert.source.as_str()),
                "{}: vendor {}",
                scenario.id,
                alert.source
            );
        }
        if scenario.expected == DEPLOYMENT {
            assert!(
                !scenario.deployment.is_empty(),
                "{}: a deployment answer needs a deployment",
                scenario.id
            );
        }
    }
}
