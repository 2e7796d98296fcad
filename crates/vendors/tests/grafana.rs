//! The Grafana and Alertmanager normalizers: groups, statuses, legacy alerting, refusals.
//! Shared fixtures are skipped with a notice when absent; the repo's own examples always run.

mod support;

use aurora_domain::{AlertStatus, Severity, SourceType};
use chrono::{DateTime, Utc};
use support::{example, normalize, received_at};

const GRAFANA: SourceType = SourceType::Grafana;
const ALERTMANAGER: SourceType = SourceType::Alertmanager;

#[test]
fn a_group_gives_one_alert_per_entry_with_its_own_fingerprint() {
    let Some(fixture) = aurora_testkit::fixture("grafana", "unified_firing_two_alerts_docs.json")
    else {
        return;
    };
    let alerts = normalize(GRAFANA, &fixture.body).unwrap().alerts;
    let keys: Vec<_> = alerts
        .iter()
        .map(|a| (a.fingerprint.as_str(), a.title.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("c6eadffa33fcdf37", "High memory usage"),
            ("bc97ff14869b13e3", "High CPU usage")
        ]
    );
    assert_eq!(
        alerts[0].started_at,
        "2021-10-12T07:51:03.157076Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
    );
    assert_eq!(
        alerts[0].url.as_deref(),
        Some("https://play.grafana.org/alerting/1afz29v7z/edit")
    );
    assert_eq!(alerts[0].severity, Severity::Unknown, "no severity label");
}

#[test]
fn a_firing_group_can_carry_resolved_alerts() {
    let Some(fixture) =
        aurora_testkit::fixture("grafana", "unified_mixed_firing_and_resolved.json")
    else {
        return;
    };
    let statuses: Vec<_> = normalize(GRAFANA, &fixture.body)
        .unwrap()
        .alerts
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        statuses,
        [
            AlertStatus::Resolved,
            AlertStatus::Resolved,
            AlertStatus::Firing
        ]
    );
}

#[test]
fn legacy_alerting_and_its_test_notification() {
    let Some(alerting) = aurora_testkit::fixture("grafana", "legacy_alerting_docs.json") else {
        return;
    };
    let alerts = normalize(GRAFANA, &alerting.body).unwrap().alerts;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].title.as_str(), alerts[0].status),
        ("Panel Title alert", AlertStatus::Firing)
    );
    assert_eq!(
        alerts[0].started_at,
        received_at(),
        "legacy bodies carry no start time"
    );
    let test = aurora_testkit::fixture("grafana", "legacy_ok_test_notification.json").unwrap();
    assert!(normalize(GRAFANA, &test.body).unwrap().is_empty());
}

#[test]
fn alertmanager_without_fingerprint_hashes_the_labels_and_reads_severity() {
    let Some(single) = aurora_testkit::fixture("alertmanager", "firing_single_alert.json") else {
        return;
    };
    let first = normalize(ALERTMANAGER, &single.body)
        .unwrap()
        .alerts
        .remove(0);
    let again = normalize(ALERTMANAGER, &single.body)
        .unwrap()
        .alerts
        .remove(0);
    assert_eq!(
        first.fingerprint, again.fingerprint,
        "same labels, same fingerprint"
    );
    assert_eq!(
        first.service.as_deref(),
        Some("prometheus24"),
        "service from the job label"
    );
    let critical =
        aurora_testkit::fixture("alertmanager", "firing_critical_nonzero_endsat.json").unwrap();
    assert_eq!(
        normalize(ALERTMANAGER, &critical.body).unwrap().alerts[0].severity,
        Severity::Critical
    );
    let resolved = aurora_testkit::fixture("alertmanager", "resolved_critical.json").unwrap();
    let resolved = normalize(ALERTMANAGER, &resolved.body)
        .unwrap()
        .alerts
        .remove(0);
    assert_eq!(resolved.status, AlertStatus::Resolved);
    let firing = normalize(ALERTMANAGER, &critical.body)
        .unwrap()
        .alerts
        .remove(0);
    assert_eq!(
        resolved.fingerprint, firing.fingerprint,
        "a problem's firing and resolve share a fingerprint"
    );
}

#[test]
fn own_example_grafana_alert_with_service_environment_and_severity() {
    let normalized =
        normalize(GRAFANA, &example("grafana_unified_checkout_critical.json")).unwrap();
    let alert = &normalized.alerts[0];
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.service.as_deref(), Some("checkout-api"));
    assert_eq!(alert.environment.as_deref(), Some("production"));
    assert_eq!(alert.title, "CheckoutHighErrorRate");
}

#[test]
fn own_example_grafana_contact_point_test_creates_nothing() {
    assert!(
        normalize(GRAFANA, &example("grafana_contact_point_test.json"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn own_example_alertmanager_group_with_a_resolved_entry() {
    let normalized = normalize(ALERTMANAGER, &example("alertmanager_group_mixed.json")).unwrap();
    let [firing, resolved] = normalized.alerts.as_slice() else {
        panic!("two alerts")
    };
    assert_eq!(
        (firing.status, resolved.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        firing.started_at,
        "2026-11-27T06:00:00.123Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(firing.environment.as_deref(), Some("staging"));
    assert_eq!(firing.severity, Severity::Medium);
    assert_ne!(firing.fingerprint, resolved.fingerprint);
}

#[test]
fn bodies_it_cannot_take_are_refused_with_the_problem_named() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "EOF"),
        (b"not json", "expected"),
        (b"[]", "missing field `alerts`"),
        (br#"{"receiver":"x"}"#, "missing field `alerts`"),
        (
            br#"{"alerts":[{"labels":{}}]}"#,
            "alerts[0]: missing field `status`",
        ),
        (
            br#"{"status":"firing","alerts":[{"status":"burning","labels":{}}]}"#,
            "unknown alert status `burning`",
        ),
        (
            br#"{"status":"firing","alerts":[{"labels":{},"startsAt":"yesterday"}]}"#,
            "`startsAt`",
        ),
        (
            br#"{"ruleId":3,"ruleName":"x","state":"weird"}"#,
            "unknown value `weird`",
        ),
    ];
    for (body, expected) in cases {
        let err = normalize(GRAFANA, body).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{:?}: {err}",
            String::from_utf8_lossy(body)
        );
        assert!(err.starts_with("invalid Grafana payload"), "{err}");
    }
}

#[test]
fn nesting_ten_thousand_deep_is_refused_not_a_stack_overflow() {
    let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = normalize(GRAFANA, body.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("recursion limit"), "{err}");
}
