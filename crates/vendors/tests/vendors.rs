//! What each vendor's normalizer must get right: one problem keeps one fingerprint from
//! firing to resolve, status, severity, service and environment — on the shared fixtures
//! (skipped with a notice when absent) and on the repo's own examples (always).

mod support;

use aurora_domain::{
    AlertStatus, DeploymentResult, Normalized, NormalizedAlert, Severity, SourceType,
};
use support::{example, normalize};

fn fixture(folder: &str, name: &str, source: SourceType) -> Option<Normalized> {
    let fixture = aurora_testkit::fixture(folder, name)?;
    Some(normalize(source, &fixture.body).unwrap_or_else(|err| panic!("{folder}/{name}: {err}")))
}

fn only_alert(normalized: Normalized) -> NormalizedAlert {
    let [alert] = <[NormalizedAlert; 1]>::try_from(normalized.alerts).expect("exactly one alert");
    alert
}

fn own(source: SourceType, name: &str) -> Normalized {
    normalize(source, &example(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn datadog_keys_on_the_monitor_not_the_event_and_reads_transitions_and_priorities() {
    let triggered = only_alert(own(
        SourceType::Datadog,
        "datadog_custom_template_triggered.json",
    ));
    let recovered = only_alert(own(
        SourceType::Datadog,
        "datadog_custom_template_recovered.json",
    ));
    assert_eq!(
        triggered.fingerprint, recovered.fingerprint,
        "event ids differ, the monitor does not"
    );
    assert_eq!(
        (triggered.status, recovered.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(triggered.severity, Severity::High, "P2");
    assert_eq!(
        triggered.title, "Checkout p99 latency above 2s",
        "prefixes removed"
    );
    assert_eq!(triggered.service.as_deref(), Some("checkout-api"));
    assert_eq!(triggered.environment.as_deref(), Some("production"));
    assert_eq!(
        triggered.started_at.to_rfc3339(),
        "2025-11-27T08:00:00+00:00"
    );
    assert!(
        triggered
            .url
            .unwrap()
            .starts_with("https://app.datadoghq.com/monitors/88123456")
    );

    let Some(p1) = fixture(
        "datadog",
        "default_payload_plus_priority_triggered_p1.json",
        SourceType::Datadog,
    ) else {
        return;
    };
    let p1 = only_alert(p1);
    let p1_recovered = only_alert(
        fixture(
            "datadog",
            "default_payload_plus_priority_recovered_p1.json",
            SourceType::Datadog,
        )
        .unwrap(),
    );
    assert_eq!(p1.fingerprint, p1_recovered.fingerprint);
    assert_eq!(
        (p1.status, p1_recovered.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(p1.severity, Severity::Critical);
    let p3 = only_alert(
        fixture(
            "datadog",
            "default_payload_plus_priority_triggered_p3.json",
            SourceType::Datadog,
        )
        .unwrap(),
    );
    assert_eq!(p3.severity, Severity::Medium);
    assert_ne!(p3.fingerprint, p1.fingerprint);
    let test = fixture(
        "datadog",
        "default_payload_triggered_test_notification.json",
        SourceType::Datadog,
    )
    .unwrap();
    assert!(test.is_empty(), "[TEST] notifications create nothing");
}

#[test]
fn netdata_keys_on_space_node_chart_and_alert_under_old_and_new_names() {
    let old_names = only_alert(own(
        SourceType::Netdata,
        "netdata_alarm_older_field_names.json",
    ));
    assert_eq!(old_names.severity, Severity::Critical);
    assert_eq!(
        old_names.labels.get("node").map(String::as_str),
        Some("web-3")
    );
    assert_eq!(
        old_names.labels.get("rooms").map(String::as_str),
        Some("Web")
    );
    assert_eq!(old_names.environment, None, "never invented");

    let Some(critical) = fixture("netdata", "alert_critical.json", SourceType::Netdata) else {
        return;
    };
    let critical = only_alert(critical);
    let warning =
        only_alert(fixture("netdata", "alert_warning.json", SourceType::Netdata).unwrap());
    let clear = only_alert(fixture("netdata", "alert_clear.json", SourceType::Netdata).unwrap());
    assert!(
        critical.fingerprint == warning.fingerprint && warning.fingerprint == clear.fingerprint
    );
    assert_eq!(
        (critical.severity, warning.severity),
        (Severity::Critical, Severity::Medium)
    );
    assert_eq!(
        (critical.status, clear.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_ne!(old_names.fingerprint, critical.fingerprint);
    let down = only_alert(
        fixture(
            "netdata",
            "reachability_unreachable.json",
            SourceType::Netdata,
        )
        .unwrap(),
    );
    let up = only_alert(
        fixture(
            "netdata",
            "reachability_reachable.json",
            SourceType::Netdata,
        )
        .unwrap(),
    );
    assert_eq!(down.fingerprint, up.fingerprint);
    assert_eq!(
        (down.status, up.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_ne!(down.fingerprint, critical.fingerprint);
}

#[test]
fn pagerduty_triggers_and_resolves_by_incident_and_ignores_other_events() {
    let triggered = only_alert(own(
        SourceType::Pagerduty,
        "pagerduty_incident_triggered_p2.json",
    ));
    let resolved = only_alert(own(
        SourceType::Pagerduty,
        "pagerduty_incident_resolved_p2.json",
    ));
    assert_eq!(triggered.fingerprint.as_str(), "Q1ABCDEF2GHIJK");
    assert_eq!(triggered.fingerprint, resolved.fingerprint);
    assert_eq!(
        (triggered.status, resolved.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        triggered.severity,
        Severity::High,
        "priority P2 before urgency"
    );
    assert_eq!(triggered.service.as_deref(), Some("checkout-api"));
    assert_eq!(
        triggered.started_at.to_rfc3339(),
        "2026-11-27T09:29:58+00:00"
    );
    assert!(own(SourceType::Pagerduty, "pagerduty_ping.json").is_empty());
    let note = br#"{"event":{"id":"X","event_type":"incident.annotated","resource_type":"incident","occurred_at":"2026-11-27T09:00:00Z","data":{"type":"incident_note","incident":{"id":"Q1"},"content":"note"}}}"#;
    assert!(normalize(SourceType::Pagerduty, note).unwrap().is_empty());

    let Some(fired) = fixture(
        "pagerduty",
        "incident_triggered.json",
        SourceType::Pagerduty,
    ) else {
        return;
    };
    let fired = only_alert(fired);
    assert_eq!(
        (fired.fingerprint.as_str(), fired.status, fired.severity),
        ("PFQZPSY", AlertStatus::Firing, Severity::High)
    );
    assert_eq!(
        fired.started_at.to_rfc3339(),
        "2021-06-04T13:35:29.781+00:00",
        "occurred_at when created_at is absent"
    );
    let done =
        only_alert(fixture("pagerduty", "incident_resolved.json", SourceType::Pagerduty).unwrap());
    assert_eq!(
        (done.fingerprint.as_str(), done.status),
        ("PCPZE64", AlertStatus::Resolved)
    );
    assert!(
        fixture(
            "pagerduty",
            "incident_acknowledged.json",
            SourceType::Pagerduty
        )
        .unwrap()
        .is_empty()
    );
    assert!(
        fixture(
            "pagerduty",
            "incident_priority_updated_signed.json",
            SourceType::Pagerduty
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn splunk_fires_every_time_keyed_on_the_search_and_host() {
    let alert = only_alert(own(
        SourceType::Splunk,
        "splunk_saved_search_with_severity.json",
    ));
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(
        (alert.service.as_deref(), alert.environment.as_deref()),
        (Some("orders-api"), Some("production"))
    );
    assert_eq!(alert.title, "Orders API 503 burst on api-7");
    let mut next_run: serde_json::Value =
        serde_json::from_slice(&example("splunk_saved_search_with_severity.json")).unwrap();
    next_run["sid"] = "scheduler__ops__search__RMD5f00dfeed_at_1764234360_78".into();
    let next = only_alert(normalize(SourceType::Splunk, next_run.to_string().as_bytes()).unwrap());
    assert_eq!(
        alert.fingerprint, next.fingerprint,
        "a new search job is the same problem"
    );

    let Some(stats) = fixture(
        "splunk",
        "alert_scheduled_search_stats_by_host.json",
        SourceType::Splunk,
    ) else {
        return;
    };
    let stats = only_alert(stats);
    assert_eq!(
        stats.severity,
        Severity::Unknown,
        "the search emits no severity"
    );
    assert_eq!(
        stats.started_at.to_rfc3339(),
        "2024-05-31T14:00:00+00:00",
        "from the search id"
    );
    let windows = only_alert(
        fixture(
            "splunk",
            "alert_windows_event_multivalue_fields.json",
            SourceType::Splunk,
        )
        .unwrap(),
    );
    assert_eq!(
        windows.labels.get("host").map(String::as_str),
        Some("PISERVER")
    );
    assert_eq!(
        windows.labels.get("dest").map(String::as_str),
        Some("PISERVER.pidomain.intra"),
        "one-element arrays read as values"
    );
}

#[test]
fn jenkins_builds_become_deployments_and_failures_also_alerts() {
    let failed = own(
        SourceType::Jenkins,
        "jenkins_notification_plugin_failure.json",
    );
    let deployment = failed
        .deployment
        .clone()
        .expect("a finished build is a deployment");
    assert_eq!(
        (deployment.service.as_str(), deployment.result),
        ("payments-api-deploy", DeploymentResult::Failure)
    );
    assert_eq!(
        (
            deployment.build.as_deref(),
            deployment.environment.as_deref()
        ),
        (Some("42"), Some("production"))
    );
    assert_eq!(
        deployment.commit.as_deref(),
        Some("3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a")
    );
    assert_eq!(
        deployment.finished_at.to_rfc3339(),
        "2025-11-27T07:54:55+00:00",
        "start + duration"
    );
    let alert = only_alert(failed);
    assert_eq!(
        (alert.severity, alert.title.as_str()),
        (Severity::High, "Build 42 of payments-api-deploy failed")
    );

    let unstable = own(SourceType::Cloudbees, "jenkins_flat_plugin_unstable.json");
    let deployment = unstable.deployment.clone().unwrap();
    assert_eq!(
        (deployment.source_type, deployment.result),
        (SourceType::Cloudbees, DeploymentResult::Unstable)
    );
    assert_eq!(deployment.environment.as_deref(), Some("staging"));
    assert_eq!(only_alert(unstable).severity, Severity::Medium);

    let Some(started) = fixture(
        "jenkins",
        "notification_plugin_started.json",
        SourceType::Jenkins,
    ) else {
        return;
    };
    assert!(started.is_empty(), "a started build has no outcome yet");
    let success = fixture(
        "jenkins",
        "notification_plugin_completed_success.json",
        SourceType::Jenkins,
    )
    .unwrap();
    assert!(success.alerts.is_empty());
    assert_eq!(
        success.deployment.unwrap().result,
        DeploymentResult::Success
    );
    let finalized = fixture(
        "jenkins",
        "notification_plugin_finalized_failure.json",
        SourceType::Jenkins,
    )
    .unwrap();
    let generic = fixture(
        "jenkins",
        "generic_deployment_event_failure.json",
        SourceType::Jenkins,
    )
    .unwrap();
    assert_eq!(
        finalized.deployment.as_ref().unwrap().build.as_deref(),
        Some("19")
    );
    assert_eq!(
        generic.deployment.as_ref().unwrap().environment.as_deref(),
        Some("production")
    );
    assert_eq!(
        only_alert(finalized).fingerprint,
        only_alert(generic).fingerprint,
        "same job and build"
    );
}

#[test]
fn dynatrace_keys_on_the_problem_and_unwraps_cloud_events() {
    let wrapped = only_alert(own(
        SourceType::Dynatrace,
        "dynatrace_cloudevent_wrapped.json",
    ));
    assert_eq!(wrapped.fingerprint.as_str(), "P-2611271");
    assert_eq!(wrapped.severity, Severity::High, "ERROR");
    assert_eq!(
        (wrapped.service.as_deref(), wrapped.environment.as_deref()),
        (Some("payments-api"), Some("production"))
    );
    assert_eq!(wrapped.started_at.to_rfc3339(), "2025-11-27T07:53:20+00:00");

    let Some(open) = fixture(
        "dynatrace",
        "problem_open_docs_example.json",
        SourceType::Dynatrace,
    ) else {
        return;
    };
    let open = only_alert(open);
    let resolved = only_alert(
        fixture(
            "dynatrace",
            "problem_resolved_docs_example.json",
            SourceType::Dynatrace,
        )
        .unwrap(),
    );
    assert_eq!(
        (open.fingerprint.as_str(), resolved.fingerprint.as_str()),
        ("999", "999")
    );
    assert_eq!(
        (open.status, resolved.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        open.service.as_deref(),
        Some("MyService1"),
        "from the impacted SERVICE entity"
    );
    assert_eq!(
        open.url.as_deref(),
        Some("https://example.com"),
        "`Problem URL` with a space"
    );
    assert!(
        fixture(
            "dynatrace",
            "test_notification_legacy_default_template.json",
            SourceType::Dynatrace
        )
        .unwrap()
        .is_empty()
    );
}

#[test]
fn bigpanda_keys_on_the_incident_and_resolves_when_inactive() {
    let active = only_alert(own(SourceType::Bigpanda, "bigpanda_incident_active.json"));
    let resolved = only_alert(own(SourceType::Bigpanda, "bigpanda_incident_resolved.json"));
    assert_eq!(active.fingerprint, resolved.fingerprint);
    assert_eq!(
        (active.status, resolved.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        active.service.as_deref(),
        Some("search-api"),
        "the primary property's value"
    );
    assert_eq!(active.title, "search-api: Error rate");

    let Some(critical) = fixture(
        "bigpanda",
        "incident_critical_two_alerts.json",
        SourceType::Bigpanda,
    ) else {
        return;
    };
    let critical = only_alert(critical);
    assert_eq!(
        (
            critical.severity,
            critical.service.as_deref(),
            critical.environment.as_deref()
        ),
        (Severity::Critical, Some("billing-db"), Some("production"))
    );
    let flapping = only_alert(
        fixture(
            "bigpanda",
            "incident_warning_flapping.json",
            SourceType::Bigpanda,
        )
        .unwrap(),
    );
    assert_eq!(flapping.severity, Severity::Medium);
    assert_ne!(flapping.fingerprint, critical.fingerprint);
}

#[test]
fn a_body_with_nothing_usable_is_refused_naming_what_is_missing() {
    let expectations = [
        (SourceType::Datadog, "`title`"),
        (SourceType::Netdata, "`alert`"),
        (SourceType::Pagerduty, "`event`"),
        (SourceType::Splunk, "`sid`"),
        (SourceType::Jenkins, "`name`"),
        (SourceType::Cloudbees, "`name`"),
        (SourceType::Dynatrace, "`ProblemID`"),
        (SourceType::Bigpanda, "`id`"),
    ];
    for (source, field) in expectations {
        let err = normalize(source, b"{}").unwrap_err().to_string();
        assert!(err.contains(field), "{source}: {err}");
        let err = normalize(source, b"[1, 2]").unwrap_err().to_string();
        assert!(err.contains("expected a JSON object"), "{source}: {err}");
    }
}

#[test]
fn titles_are_bounded_and_raw_text_is_not_lost() {
    let long = "x".repeat(5000);
    let body = serde_json::json!({"title": format!("[Triggered] {long}"), "alert_id": "1"});
    let alert = only_alert(normalize(SourceType::Datadog, body.to_string().as_bytes()).unwrap());
    assert_eq!(alert.title.chars().count(), 300);
}

#[test]
fn other_versions_and_plugins_than_the_fixtures() {
    // PagerDuty's deprecated V2 webhooks: several messages per body.
    let v2 = br#"{"messages":[
        {"event":"incident.trigger","created_on":"2026-11-27T09:00:00Z","incident":{"id":"PV2ABC","incident_number":7,"title":"Disk full on db-1","status":"triggered","urgency":"low","service":{"id":"PS1","name":"postgres"},"html_url":"https://acme.pagerduty.com/incidents/PV2ABC"}},
        {"event":"incident.acknowledge","incident":{"id":"PV2ABC"}},
        {"event":"incident.resolve","incident":{"id":"PV2XYZ","title":"Old one","urgency":"high"}}]}"#;
    let alerts = normalize(SourceType::Pagerduty, v2).unwrap().alerts;
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        (
            alerts[0].fingerprint.as_str(),
            alerts[0].status,
            alerts[0].severity
        ),
        ("PV2ABC", AlertStatus::Firing, Severity::Low)
    );
    assert_eq!(alerts[0].service.as_deref(), Some("postgres"));
    assert_eq!(
        (alerts[1].fingerprint.as_str(), alerts[1].status),
        ("PV2XYZ", AlertStatus::Resolved)
    );

    // Jenkins' Outbound WebHook plugin: a start event, then the outcome.
    let start = br##"{"buildName":"#12","buildUrl":"https://ci.example.com/job/web/12/","event":"start","projectName":"web"}"##;
    assert!(normalize(SourceType::Jenkins, start).unwrap().is_empty());
    let failure = br##"{"buildName":"#12","buildUrl":"https://ci.example.com/job/web/12/","event":"failure","projectName":"web"}"##;
    let failed = normalize(SourceType::Jenkins, failure).unwrap();
    let deployment = failed.deployment.clone().unwrap();
    assert_eq!(
        (deployment.service.as_str(), deployment.build.as_deref()),
        ("web", Some("12"))
    );
    assert_eq!(
        deployment.url.as_deref(),
        Some("https://ci.example.com/job/web/12/")
    );
    assert_eq!(only_alert(failed).title, "Build 12 of web failed");
    let odd = br#"{"projectName":"web","event":"exploded"}"#;
    assert!(
        normalize(SourceType::Jenkins, odd)
            .unwrap_err()
            .to_string()
            .contains("unknown value `exploded`")
    );

    // Dynatrace's Problems API v2 shape, with context-prefixed tags.
    let v2_problem = br#"{"problemId":"-123_456V2","displayId":"P-42","title":"Response time degradation","status":"CLOSED","severityLevel":"PERFORMANCE","startTime":1764230000000,
        "affectedEntities":[{"entityId":{"id":"SERVICE-1","type":"SERVICE"},"name":"cart"}],"tags":["[Kubernetes]environment:staging"]}"#;
    let problem = only_alert(normalize(SourceType::Dynatrace, v2_problem).unwrap());
    assert_eq!(
        (problem.status, problem.severity),
        (AlertStatus::Resolved, Severity::Medium)
    );
    assert_eq!(
        (problem.service.as_deref(), problem.environment.as_deref()),
        (Some("cart"), Some("staging"))
    );

    // Netdata Cloud's test notification; a Datadog template with only $ALERT_TYPE.
    assert!(
        normalize(
            SourceType::Netdata,
            br#"{"message":"Test Notification","token":"abc"}"#
        )
        .unwrap()
        .is_empty()
    );
    let ok = br#"{"title":"Queue depth","alert_id":"9","alert_type":"success"}"#;
    assert_eq!(
        only_alert(normalize(SourceType::Datadog, ok).unwrap()).status,
        AlertStatus::Resolved
    );
}

#[test]
fn review_findings_stay_fixed() {
    let one = |source, body: &str| only_alert(normalize(source, body.as_bytes()).unwrap());
    // Datadog's $ALERT_STATUS is a sentence, not a state: the recovery still resolves.
    let recovered = one(
        SourceType::Datadog,
        r#"{"title":"[Recovered] CPU high","alert_id":"12345","alert_type":"success","alert_status":"system.load.1 over host:web-1 was <= 2.0 on average during the last 5m."}"#,
    );
    assert_eq!(recovered.status, AlertStatus::Resolved);
    // A Datadog template without a title but with a monitor id fires.
    let untitled = one(
        SourceType::Datadog,
        r#"{"alert_id":"77","alert_transition":"Triggered","alert_type":"error","alert_scope":"service:api"}"#,
    );
    assert_eq!(
        (
            untitled.title.as_str(),
            untitled.severity,
            untitled.service.as_deref()
        ),
        ("Datadog monitor 77", Severity::High, Some("api"))
    );
    // An absurd Jenkins duration leaves the end unknown instead of panicking.
    let huge = r#"{"name":"app","build":{"number":1,"status":"SUCCESS","timestamp":1717164000000,"duration":9000000000000000000}}"#;
    assert!(
        normalize(SourceType::Jenkins, huge.as_bytes())
            .unwrap()
            .deployment
            .is_some()
    );
    // Multibranch jobs of different repositories are different services.
    let a = one(
        SourceType::Jenkins,
        r#"{"name":"main","url":"job/repo-a/job/main/","build":{"number":42,"phase":"COMPLETED","status":"FAILURE"}}"#,
    );
    let b = one(
        SourceType::Jenkins,
        r#"{"name":"main","url":"job/repo-b/job/main/","build":{"number":42,"phase":"COMPLETED","status":"FAILURE"}}"#,
    );
    assert_ne!(a.fingerprint, b.fingerprint);
    assert_eq!(a.service.as_deref(), Some("repo-a/main"));
    // A lifecycle word in `status` does not hide the outcome in `result`.
    let status_and_result = one(
        SourceType::Jenkins,
        r#"{"job":"checkout-deploy","build_number":118,"status":"COMPLETED","result":"FAILURE"}"#,
    );
    assert_eq!(
        status_and_result.title,
        "Build 118 of checkout-deploy failed"
    );
    // No build number: it is read from the build URL, so builds stay apart.
    let from_url = one(
        SourceType::Jenkins,
        r#"{"jobName":"test","result":"FAILURE","eventId":"f797f1d6","url":"http://ci/job/test/32/"}"#,
    );
    assert_eq!(from_url.labels.get("build").map(String::as_str), Some("32"));
    // Netdata's sample notification creates nothing.
    assert!(
        normalize(
            SourceType::Netdata,
            br#"{"message":"This is a sample message to verify your webhook configuration"}"#
        )
        .unwrap()
        .is_empty()
    );
    // A Loki `level` label is no severity; BigPanda words outside its table are unknown.
    let loki = one(
        SourceType::Grafana,
        r#"{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ErrorLogs","level":"error"},"fingerprint":"aa11"}]}"#,
    );
    assert_eq!(loki.severity, Severity::Unknown);
    assert_eq!(
        one(
            SourceType::Bigpanda,
            r#"{"id":"5d2f","status":"critical","severity":"High"}"#
        )
        .severity,
        Severity::Unknown
    );
    // PagerDuty V1 bodies nest the incident under data; a trigger without one is refused.
    let v1 = one(
        SourceType::Pagerduty,
        r#"{"messages":[{"type":"incident.trigger","data":{"incident":{"id":"PIJ90N7","status":"triggered"}}}]}"#,
    );
    assert_eq!(v1.fingerprint.as_str(), "PIJ90N7");
    let err = normalize(
        SourceType::Pagerduty,
        br#"{"messages":[{"type":"incident.trigger"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("messages[0]: missing field `incident`"),
        "{err}"
    );
    // A Splunk body with every field blank is refused.
    assert!(
        normalize(
            SourceType::Splunk,
            br#"{"result":{},"sid":"","search_name":"","app":""}"#
        )
        .is_err()
    );
}

#[test]
fn no_nul_character_reaches_postgresql() {
    // PostgreSQL refuses `\u0000` in TEXT and JSONB; a sender can put one in any string.
    let alertmanager = br#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"ab\u0000cd",
        "labels":{"alertname":"Disk\u0000Full","service":"\u0000db","env":"prod\u0000","te\u0000am":"\u0000"},
        "annotations":{},"generatorURL":"https://prom/\u0000graph"}]}"#;
    let alert = only_alert(normalize(SourceType::Alertmanager, alertmanager).unwrap());
    assert_eq!(alert.fingerprint.as_str(), "abcd");
    assert_eq!(alert.title, "DiskFull");
    assert_eq!(
        (alert.service.as_deref(), alert.environment.as_deref()),
        (Some("db"), Some("prod"))
    );
    assert_eq!(alert.url.as_deref(), Some("https://prom/graph"));
    assert_eq!(alert.labels.get("team").map(String::as_str), Some(""));
    let jenkins =
        br#"{"name":"web\u0000","build":{"number":"7\u0000","phase":"COMPLETED","status":"FAILURE",
        "full_url":"https://ci/\u0000","scm":{"commit":"abc\u0000","branch":"main\u0000"}}}"#;
    let normalized = normalize(SourceType::Jenkins, jenkins).unwrap();
    let deployment = normalized.deployment.clone().unwrap();
    let text = serde_json::to_string(&normalized).unwrap();
    assert!(!text.contains("\\u0000"), "{text}");
    assert_eq!(
        (deployment.service.as_str(), deployment.build.as_deref()),
        ("web", Some("7"))
    );
}

#[test]
fn datadog_titles_of_a_group_give_status_service_and_environment() {
    // The default payload of multi-alert, log and error-tracking monitors: the transition and
    // the group that changed are only in the title.
    let body = |id: &str, title: &str| {
        serde_json::json!({"id": id, "title": title, "date": "1764230000000", "org": {"id": "42", "name": "acme"}})
            .to_string()
    };
    let one = |title: &str| {
        only_alert(normalize(SourceType::Datadog, body("1", title).as_bytes()).unwrap())
    };
    let triggered = one("[Triggered on {service:web,env:prod}] Error rate high");
    let recovered = one("[Recovered on {service:web,env:prod}] Error rate high");
    assert_eq!(
        (triggered.status, recovered.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(triggered.fingerprint, recovered.fingerprint);
    assert_eq!(
        (
            triggered.title.as_str(),
            triggered.service.as_deref(),
            triggered.environment.as_deref()
        ),
        ("Error rate high", Some("web"), Some("prod"))
    );
    let other_group = one("[Triggered on {service:api,env:prod}] Error rate high");
    assert_ne!(other_group.fingerprint, triggered.fingerprint);
    let warn = one("[P1] [Warn on {service:web, env:staging}] Latency");
    assert_eq!(
        (warn.status, warn.severity, warn.title.as_str()),
        (AlertStatus::Firing, Severity::Critical, "Latency")
    );
    assert_eq!(warn.environment.as_deref(), Some("staging"));
    assert_eq!(
        one("[Re-Triggered on {host:a}] Disk").status,
        AlertStatus::Firing
    );
    let host = one("[Recovered on {host:a}] Disk");
    assert_eq!(
        (host.status, host.labels.get("host").map(String::as_str)),
        (AlertStatus::Resolved, Some("a"))
    );
    // A bracket after the prefixes is the monitor's own name, not a transition.
    let synthetics = one("[Recovered on {aws:us-west-2}] [Synthetics] Login page");
    assert_eq!(
        (synthetics.status, synthetics.title.as_str()),
        (AlertStatus::Resolved, "[Synthetics] Login page")
    );
    // A log monitor's facet value holding brackets does not end the scope.
    let facet = one("[Triggered on {@error.kind:[TimeoutError],service:checkout}] Timeouts");
    assert_eq!(
        (facet.title.as_str(), facet.service.as_deref()),
        ("Timeouts", Some("checkout"))
    );
}

#[test]
fn pagerduty_v1_incidents_are_titled_by_their_trigger_summary() {
    // V1 webhooks: no title on the incident, only what triggered it.
    let v1 = br#"{"messages":[
        {"type":"incident.trigger","id":"bb8b8fe0","created_on":"2026-11-27T09:00:05Z","data":{"incident":{
            "id":"PIJ90N7","incident_number":2,"created_on":"2026-11-27T09:00:00Z","status":"triggered",
            "html_url":"https://acme.pagerduty.com/incidents/PIJ90N7","incident_key":"db-disk",
            "service":{"id":"PBAZLIU","name":"postgres"},
            "trigger_summary_data":{"subject":"Disk 95% full on db-1"},"trigger_type":"email_trigger"}}},
        {"type":"incident.resolve","id":"cc9c9","data":{"incident":{
            "id":"PIJ90N8","status":"resolved",
            "trigger_summary_data":{"description":"Checkout errors above 5%"}}}}]}"#;
    let alerts = normalize(SourceType::Pagerduty, v1).unwrap().alerts;
    assert_eq!(
        (alerts[0].title.as_str(), alerts[0].status),
        ("Disk 95% full on db-1", AlertStatus::Firing)
    );
    assert_eq!(
        alerts[0].started_at.to_rfc3339(),
        "2026-11-27T09:00:00+00:00",
        "the incident's own created_on"
    );
    assert_eq!(alerts[0].service.as_deref(), Some("postgres"));
    assert_eq!(
        (alerts[1].title.as_str(), alerts[1].status),
        ("Checkout errors above 5%", AlertStatus::Resolved)
    );
}

#[test]
fn dynatrace_v1_problem_objects_and_davis_events() {
    let one = |body: &str| only_alert(normalize(SourceType::Dynatrace, body.as_bytes()).unwrap());
    // A Problems API v1 object, as a template of `{ProblemDetailsJSON}` alone sends it: no
    // title, tags as {key, value} objects.
    let v1 = |status: &str| {
        format!(
            r#"{{"id":"-3839772707633434931_1764230000000V2","startTime":1764230000000,"endTime":-1,
            "displayName":"931","impactLevel":"SERVICE","status":"{status}","severityLevel":"PERFORMANCE",
            "commentCount":0,"hasRootCause":true,
            "tagsOfAffectedEntities":[{{"context":"CONTEXTLESS","key":"stage","value":"prod"}},{{"context":"USER","key":"easyTravel"}}],
            "rankedImpacts":[{{"entityId":"SERVICE-5A2B","entityName":"checkout","severityLevel":"PERFORMANCE","impactLevel":"SERVICE","eventType":"SERVICE_RESPONSE_TIME_DEGRADED"}}],
            "rankedEvents":[{{"entityId":"SERVICE-5A2B","entityName":"checkout","eventType":"SERVICE_RESPONSE_TIME_DEGRADED","status":"{status}"}}]}}"#
        )
    };
    let open = one(&v1("OPEN"));
    let closed = one(&v1("CLOSED"));
    assert_eq!(open.fingerprint, closed.fingerprint);
    assert_eq!(
        (open.status, closed.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        (
            open.title.as_str(),
            open.severity,
            open.service.as_deref(),
            open.environment.as_deref()
        ),
        (
            "Service response time degraded on checkout",
            Severity::Medium,
            Some("checkout"),
            Some("prod")
        )
    );
    assert_eq!(open.started_at.to_rfc3339(), "2025-11-27T07:53:20+00:00");
    assert_eq!(
        open.labels.get("impact").map(String::as_str),
        Some("SERVICE")
    );
    // The same object as the template's `ProblemDetailsJSON`: what the template leaves out is
    // read there.
    let template = r#"{"ProblemID":"P-931","State":"OPEN","ProblemTitle":"Response time degradation",
        "ProblemDetailsJSON":{"id":"-1","status":"OPEN","tagsOfAffectedEntities":[{"key":"Environment","value":"staging"}],
        "rankedImpacts":[{"entityId":"SERVICE-1","entityName":"cart","eventType":"SERVICE_RESPONSE_TIME_DEGRADED"}]}}"#;
    let templated = one(template);
    assert_eq!(
        (
            templated.service.as_deref(),
            templated.environment.as_deref()
        ),
        (Some("cart"), Some("staging"))
    );
    // `stage:` and `environment:` tags as text, in the template's `Tags`.
    let tagged = one(
        r#"{"ProblemID":"P-7","State":"OPEN","ProblemTitle":"CPU","Tags":"stage:prod, team:web"}"#,
    );
    assert_eq!(tagged.environment.as_deref(), Some("prod"));

    // A Davis event as a workflow posts it from Grail: ACTIVE fires, CLOSED resolves.
    let davis = |status: &str| {
        format!(
            r#"{{"event.id":"-4401290153703424172_1716966198771","event.kind":"DAVIS_EVENT",
            "event.type":"AVAILABILITY_EVENT","event.category":"AVAILABILITY","event.status":"{status}",
            "event.name":"Monitoring not available","event.start":"2026-11-27T09:00:00.000000000Z",
            "dt.entity.kubernetes_cluster":"KUBERNETES_CLUSTER-E3BC","dt.entity.kubernetes_cluster.name":"prod-eu",
            "entity_tags":["[Kubernetes]environment:production","service:payments"],
            "event.description":"Dynatrace API monitoring is not available."}}"#
        )
    };
    let active = one(&davis("ACTIVE"));
    let gone = one(&davis("CLOSED"));
    assert_eq!(active.fingerprint, gone.fingerprint);
    assert_eq!(
        (active.status, gone.status),
        (AlertStatus::Firing, AlertStatus::Resolved)
    );
    assert_eq!(
        (
            active.title.as_str(),
            active.severity,
            active.service.as_deref(),
            active.environment.as_deref()
        ),
        (
            "Monitoring not available",
            Severity::Critical,
            Some("payments"),
            Some("production")
        )
    );
    assert_eq!(active.started_at.to_rfc3339(), "2026-11-27T09:00:00+00:00");
    assert_eq!(
        active
            .labels
            .get("dt.entity.kubernetes_cluster.name")
            .map(String::as_str),
        Some("prod-eu")
    );
    // A Davis problem keys on its display id, as the problem notification's ProblemID does.
    let problem = one(
        r#"{"event.id":"-77_1764230000000V2","event.kind":"DAVIS_PROBLEM","display_id":"P-2611271",
        "event.status":"ACTIVE","event.name":"Failure rate increase","event.category":"ERROR"}"#,
    );
    assert_eq!(
        (problem.fingerprint.as_str(), problem.severity),
        ("P-2611271", Severity::High)
    );
}

#[test]
fn datadog_form_encoded_bodies_read_as_their_json() {
    // "Encode as form": the template's fields as form fields…
    let form =
        b"title=%5BP2%5D+%5BTriggered+on+%7Bservice%3Acheckout%2Cenv%3Aprod%7D%5D+Latency+high\
&alert_id=88123456&alert_transition=Triggered&date=1764230000000&org=%7B%22id%22%3A%2242%22%7D";
    let fields = only_alert(normalize(SourceType::Datadog, form).unwrap());
    assert_eq!(
        (
            fields.title.as_str(),
            fields.status,
            fields.severity,
            fields.service.as_deref()
        ),
        (
            "Latency high",
            AlertStatus::Firing,
            Severity::High,
            Some("checkout")
        )
    );
    // …or the JSON payload in one `payload` field; either is the same alert as the JSON body.
    let json = r#"{"title":"[P2] [Triggered on {service:checkout,env:prod}] Latency high","alert_id":"88123456","alert_transition":"Triggered","date":"1764230000000"}"#;
    let payload: String = form_urlencoded_payload(json);
    let from_payload = only_alert(normalize(SourceType::Datadog, payload.as_bytes()).unwrap());
    let from_json = only_alert(normalize(SourceType::Datadog, json.as_bytes()).unwrap());
    assert_eq!(from_payload, from_json);
    assert_eq!(fields.fingerprint, from_json.fingerprint);
    // Neither JSON nor a form: the JSON error is what the sender reads.
    let err = normalize(SourceType::Datadog, b"not a body")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected ident"), "{err}");
    // Other vendors take JSON only.
    assert!(normalize(SourceType::Netdata, b"alert=x&severity=critical").is_err());
}

/// `payload=<the JSON, percent-encoded>`.
fn form_urlencoded_payload(json: &str) -> String {
    let encoded: String = json
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("payload={encoded}")
}
