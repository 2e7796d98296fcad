//! The built-in analyst on incident scenarios: the ranked cause and its citations.

use std::collections::BTreeMap;

use aurora_rca::{
    AlertContext, DeploymentContext, IncidentContext, KnowledgeBase, PastIncident, analyse,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap() + TimeDelta::minutes(minute)
}

fn alert(title: &str, service: Option<&str>, labels: &[(&str, &str)]) -> AlertContext {
    AlertContext {
        id: 7,
        source_type: "grafana".into(),
        title: title.into(),
        severity: "high".into(),
        status: "firing".into(),
        service: service.map(str::to_owned),
        environment: Some("production".into()),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        started_at: at(3),
        url: None,
        description: None,
        runbook_url: None,
    }
}

fn context(alert: AlertContext) -> IncidentContext {
    IncidentContext {
        alert,
        correlated: vec![],
        deployments: vec![],
        similar: vec![],
        commands: vec![],
        metrics: None,
    }
}

#[test]
fn a_failed_deployment_three_minutes_before_a_5xx_alert_is_the_cause_and_its_rollback_the_next_step()
 {
    let mut incident = context(alert(
        "payments-api 5xx error rate above 5%",
        Some("payments-api"),
        &[],
    ));
    incident.deployments.push(DeploymentContext {
        service: "payments-api".into(),
        build: Some("42".into()),
        result: "failure".into(),
        deployed_at: at(0),
        url: Some("https://ci.example.com/job/payments-api/42/".into()),
        commit: Some("3f2a1b0".into()),
    });
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(10));
    let first = &analysis.hypotheses[0];
    assert!(
        first
            .cause
            .starts_with("The deployment of payments-api build 42 (failure) 3 min before"),
        "{}",
        first.cause
    );
    assert!(first.confidence >= 0.85);
    assert!(first.evidence.iter().any(|e| e.contains("deployment payments-api build 42") && e.contains("commit 3f2a1b0")));
    assert_eq!(
        analysis.suggestions[0].title,
        "Roll back payments-api build 42"
    );
    // The 5xx pattern is ranked after the deployment, with its own evidence.
    assert!(
        analysis.hypotheses[1..]
            .iter()
            .any(|h| h.evidence[0].contains("Error rate or 5xx spike"))
    );
    for section in [
        "## What happened",
        "## Likely root cause",
        "## Evidence",
        "## Next steps",
    ] {
        assert!(
            analysis.summary.contains(section),
            "{section} in {}",
            analysis.summary
        );
    }
    assert!(
        analysis
            .summary
            .contains("1. The deployment of payments-api build 42")
    );
}

#[test]
fn a_disk_alert_gets_the_disk_hypothesis_with_what_it_matched() {
    let incident = context(alert(
        "Disk / is 95% full on db-1",
        Some("postgres"),
        &[("mountpoint", "/")],
    ));
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(10));
    assert!(
        analysis.hypotheses[0].cause.contains("filling the volume"),
        "{:?}",
        analysis.hypotheses
    );
    assert!(analysis.hypotheses[0].evidence[0].contains("\"disk\""));
    assert!(
        analysis
            .suggestions
            .iter()
            .any(|s| s.title.starts_with("Free space"))
    );
}

#[test]
fn an_alert_nothing_explains_is_unknown_and_nothing_is_invented() {
    let incident = context(alert(
        "Quarterly report not generated",
        Some("reporting"),
        &[],
    ));
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(10));
    assert!(analysis.hypotheses.is_empty());
    assert!(analysis.suggestions.is_empty());
    assert!(
        analysis
            .summary
            .contains("Unknown. No known failure pattern matches"),
        "{}",
        analysis.summary
    );
    assert_eq!(analysis.thoughts.last().unwrap().0, "conclusion");
    assert!(
        analysis
            .thoughts
            .last()
            .unwrap()
            .1
            .starts_with("Root cause unknown")
    );
}

#[test]
fn a_dependency_deployment_counts_a_little_less_and_an_old_or_later_one_not_at_all() {
    let mut incident = context(alert(
        "checkout latency p99 above 2s",
        Some("checkout-api"),
        &[],
    ));
    let deployment = |service: &str, minute: i64| DeploymentContext {
        service: service.into(),
        build: Some("9".into()),
        result: "success".into(),
        deployed_at: at(minute),
        url: None,
        commit: None,
    };
    incident.deployments = vec![
        deployment("payments-api", -10),
        deployment("checkout-api", 60),
        deployment("checkout-api", -600),
    ];
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(70));
    let first = &analysis.hypotheses[0];
    assert!(
        first
            .cause
            .contains("payments-api, a dependency of the alerting service,"),
        "{}",
        first.cause
    );
    assert!(first.confidence < 0.75);
}

#[test]
fn similar_past_incidents_are_cited() {
    let mut incident = context(alert("Disk / is 95% full on db-1", Some("postgres"), &[]));
    incident.similar.push(PastIncident {
        id: "0e1f".into(),
        title: "Disk / is 97% full on db-1".into(),
        started_at: at(-10_000),
        summary: Some("## What happened\nWAL archiving was stuck; cleaned pg_wal.".into()),
        status: "resolved".into(),
    });
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(10));
    assert!(
        analysis
            .thoughts
            .iter()
            .any(|(_, t)| t.contains("WAL archiving was stuck"))
    );
    assert!(analysis.summary.contains("past incident 0e1f"));
}

#[test]
fn a_runbook_output_is_cited_as_evidence_for_its_pattern() {
    let mut incident = context(alert("Disk / is 95% full on db-1", Some("postgres"), &[]));
    incident.commands.push(aurora_rca::CommandEvidence {
        runbook: "disk usage".into(),
        pattern: Some("disk-exhaustion".into()),
        argv: vec!["df".into(), "-h".into(), "/".into()],
        exit_code: Some(0),
        output: "Filesystem Size Used Avail Use% Mounted on\n/dev/vda 252G 240G 12G 95% /\n".into(),
    });
    let analysis = analyse(&incident, &KnowledgeBase::builtin(), at(10));
    let disk = &analysis.hypotheses[0];
    assert!(disk.cause.contains("filling the volume"));
    assert!(
        disk.evidence
            .iter()
            .any(|e| e.starts_with("command `df -h /` (exit 0)") && e.contains("95% /")),
        "{:?}",
        disk.evidence
    );
    assert!(analysis.summary.contains("command `df -h /` (exit 0)"));
}
