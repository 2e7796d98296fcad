use std::collections::HashMap;

use aurora_domain::{
    AlertBatch, AlertStatus, Fingerprint, IncidentStatus, NormalizedAlert, Severity, SourceType,
    UserId,
};
use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::plan::Outcome;
use crate::state::{FiringBySeverity, Receipt, StoredAlert, StoredIncident};

fn rules() -> Rules {
    let settings = aurora_settings::Settings::load_from(None, Some(HashMap::new()))
        .expect("defaults are valid")
        .correlation;
    Rules::new(settings)
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_230_400, 0).expect("valid")
}

fn alert(fingerprint: &str, service: &str, status: AlertStatus) -> NormalizedAlert {
    NormalizedAlert {
        source_type: SourceType::Alertmanager,
        fingerprint: Fingerprint::parse(fingerprint).expect("valid"),
        status,
        severity: Severity::High,
        title: format!("{service} is failing"),
        service: Some(service.to_owned()),
        environment: Some("production".to_owned()),
        started_at: now(),
        labels: Default::default(),
        url: None,
        description: None,
        runbook_url: None,
    }
}

fn batch(delivery: &str, alerts: Vec<NormalizedAlert>) -> AlertBatch {
    AlertBatch {
        delivery_id: delivery.to_owned(),
        user_id: UserId::parse("u1").expect("valid"),
        integration_id: uuid::Uuid::nil(),
        source_type: SourceType::Alertmanager,
        received_at: now(),
        alerts,
        deployment: None,
        raw_payload: serde_json::value::to_raw_value(&serde_json::json!({})).expect("JSON"),
    }
}

/// A stored open incident of `service` in production, last updated `minutes_ago`.
fn open_incident(service: &str, minutes_ago: i64) -> StoredIncident {
    StoredIncident {
        id: uuid::Uuid::new_v4(),
        status: IncidentStatus::Investigating,
        aurora_status: None,
        environment: Some("production".into()),
        title: format!("{service} is failing"),
        affected_services: vec![service.to_owned()],
        correlated_alert_count: 0,
        firing_alerts: 1,
        severity: Severity::High,
        firing_by_severity: FiringBySeverity([0, 1, 0, 0, 0, 0]),
        created_at: now() - TimeDelta::minutes(minutes_ago),
        updated_at: now() - TimeDelta::minutes(minutes_ago),
        resolved_at: None,
    }
}

fn receipt(sequence: i64) -> Receipt {
    Receipt { epoch: 1, sequence }
}

fn arrivals(batches: &[AlertBatch]) -> Vec<Arrival<'_>> {
    batches
        .iter()
        .enumerate()
        .map(|(i, batch)| Arrival {
            receipt: receipt(i as i64 + 1),
            batch,
        })
        .collect()
}

#[test]
fn alerts_of_one_service_in_one_batch_are_one_incident() {
    let batches = [
        batch("d1", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("d2", vec![alert("b", "checkout", AlertStatus::Firing)]),
        batch("d3", vec![alert("c", "search", AlertStatus::Firing)]),
    ];
    let plan = decide(&rules(), &State::default(), &arrivals(&batches), now());
    assert_eq!(plan.new_alerts.len(), 3);
    assert_eq!(plan.new_incidents.len(), 2, "checkout and search");
    let checkout = &plan.new_incidents[0];
    assert_eq!(checkout.row.correlated_alert_count, 1);
    assert_eq!(plan.links[1].strategy, "service");
    assert_eq!(plan.links[1].alert, AlertRef::New(1));
    assert_eq!(plan.processed[1].opened_incident, None);
    assert_eq!(plan.processed[1].events.len(), 1, "the correlated event");
    assert_eq!(plan.new_alerts[1].row.incident_id, Some(checkout.id));
    let outcomes: Vec<Outcome> = plan.processed.iter().map(|p| p.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Opened, Outcome::Correlated, Outcome::Opened]
    );
}

#[test]
fn a_resolve_processed_before_its_firing_leaves_the_alert_resolved() {
    // Accepted in this order: firing (1), resolve (2); decided resolve first, then, in a
    // later call, the firing — as a redelivery or another replica would.
    let firing = batch("fire", vec![alert("a", "checkout", AlertStatus::Firing)]);
    let resolve = batch(
        "resolve",
        vec![alert("a", "checkout", AlertStatus::Resolved)],
    );
    let first = decide(
        &rules(),
        &State::default(),
        &[Arrival {
            receipt: receipt(2),
            batch: &resolve,
        }],
        now(),
    );
    assert_eq!(first.new_alerts[0].row.status, AlertStatus::Resolved);
    let stored = StoredAlert {
        id: 7,
        source_type: SourceType::Alertmanager,
        fingerprint: "a".into(),
        status: AlertStatus::Resolved,
        severity: Severity::High,
        incident_id: None,
        resolved_at: Some(now()),
        last_seen_at: now(),
        receipt: receipt(2),
        suppressed_by: None,
    };
    let state = State {
        alerts: vec![stored],
        ..State::default()
    };
    let second = decide(
        &rules(),
        &state,
        &[Arrival {
            receipt: receipt(1),
            batch: &firing,
        }],
        now(),
    );
    assert!(second.new_incidents.is_empty(), "{second:?}");
    assert!(second.new_alerts.is_empty());
    assert_eq!(second.alert_updates.len(), 1);
    let update = &second.alert_updates[0];
    assert_eq!(
        (
            update.row.status,
            update.row.receipt,
            update.added_occurrences
        ),
        (AlertStatus::Resolved, receipt(2), 1),
        "counted, not reopened"
    );

    // Both in one call, in the wrong order in the slice: receipt order wins.
    let both = [
        Arrival {
            receipt: receipt(2),
            batch: &resolve,
        },
        Arrival {
            receipt: receipt(1),
            batch: &firing,
        },
    ];
    let plan = decide(&rules(), &State::default(), &both, now());
    assert_eq!(plan.new_alerts.len(), 1);
    assert_eq!(plan.new_alerts[0].row.status, AlertStatus::Resolved);
    assert_eq!(plan.new_incidents[0].row.status, IncidentStatus::Resolved);
}

#[test]
fn a_repeat_is_counted_and_a_processed_delivery_changes_nothing() {
    let stored = StoredAlert {
        id: 3,
        source_type: SourceType::Alertmanager,
        fingerprint: "a".into(),
        status: AlertStatus::Firing,
        severity: Severity::High,
        incident_id: None,
        resolved_at: None,
        last_seen_at: now() - TimeDelta::minutes(1),
        receipt: receipt(1),
        suppressed_by: None,
    };
    let state = State {
        alerts: vec![stored],
        done_deliveries: ["old".to_owned()].into(),
        ..State::default()
    };
    let batches = [
        batch("old", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("new", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("new", vec![alert("a", "checkout", AlertStatus::Firing)]),
    ];
    let plan = decide(&rules(), &state, &arrivals(&batches), now());
    assert_eq!(plan.already_processed, [0, 2]);
    assert_eq!(plan.processed[0].outcome, Outcome::Deduplicated);
    assert_eq!(plan.alert_updates[0].added_occurrences, 1);
    assert_eq!(plan.alert_updates[0].row.last_seen_at, now());
    assert!(plan.new_alerts.is_empty() && plan.new_incidents.is_empty());
}

#[test]
fn a_flap_reopens_the_resolved_incident() {
    let incident_id = uuid::Uuid::new_v4();
    let state = State {
        alerts: vec![StoredAlert {
            id: 3,
            source_type: SourceType::Alertmanager,
            fingerprint: "a".into(),
            status: AlertStatus::Resolved,
            severity: Severity::High,
            incident_id: Some(incident_id),
            resolved_at: Some(now() - TimeDelta::minutes(2)),
            last_seen_at: now() - TimeDelta::minutes(2),
            receipt: receipt(1),
            suppressed_by: None,
        }],
        incidents: vec![StoredIncident {
            id: incident_id,
            status: IncidentStatus::Resolved,
            aurora_status: None,
            environment: Some("production".into()),
            title: "checkout is failing".into(),
            affected_services: vec!["checkout".into()],
            correlated_alert_count: 0,
            firing_alerts: 0,
            severity: Severity::High,
            firing_by_severity: FiringBySeverity([0, 0, 0, 0, 0, 0]),
            created_at: now() - TimeDelta::minutes(5),
            updated_at: now() - TimeDelta::minutes(2),
            resolved_at: Some(now() - TimeDelta::minutes(2)),
        }],
        ..State::default()
    };
    let batches = [batch(
        "d",
        vec![alert("a", "checkout", AlertStatus::Firing)],
    )];
    let arrivals = [Arrival {
        receipt: receipt(5),
        batch: &batches[0],
    }];
    let plan = decide(&rules(), &state, &arrivals, now());
    assert_eq!(
        plan.incident_updates[0].row.status,
        IncidentStatus::Investigating
    );
    assert_eq!(plan.incident_updates[0].row.resolved_at, None);
    assert_eq!(plan.events[0].detail.kind(), "reopened");
    assert_eq!(plan.processed[0].events, [0]);
    assert_eq!(plan.alert_updates[0].row.status, AlertStatus::Firing);
}

#[test]
fn an_incident_an_alert_joined_earlier_in_the_batch_counts_as_recent_for_later_ones() {
    // Stored: payments, older than the 60 incidents of other services.
    let payments = open_incident("payments", 10);
    let mut incidents = vec![payments.clone()];
    incidents.extend((0..60).map(|i| open_incident(&format!("other-{i}"), 1)));
    let state = State {
        incidents,
        ..State::default()
    };
    // A payments alert joins it, which makes it the most recently updated; then an alert of
    // another service with the same title finds it among the most recent.
    let mut same_title = alert("g", "gateway", AlertStatus::Firing);
    same_title.title = "payments is failing".into();
    let batches = [
        batch("p", vec![alert("p", "payments", AlertStatus::Firing)]),
        batch("g", vec![same_title]),
    ];
    let plan = decide(&rules(), &state, &arrivals(&batches), now());
    assert!(plan.new_incidents.is_empty(), "{:?}", plan.new_incidents);
    assert_eq!(plan.links.len(), 2);
    assert_eq!(plan.links[1].incident_id, payments.id);
    assert_eq!(plan.links[1].strategy, "similarity");
}

#[test]
fn an_incident_of_the_same_service_is_found_however_many_others_are_newer() {
    // Stored: the checkout incident, then 60 incidents of other services updated later.
    let checkout = open_incident("checkout", 10);
    let mut incidents = vec![checkout.clone()];
    incidents.extend((0..60).map(|i| open_incident(&format!("other-{i}"), 1)));
    let state = State {
        incidents,
        ..State::default()
    };
    // And in the batch: 100 new services, then two more alerts of the first of them.
    let mut batches = vec![batch(
        "checkout",
        vec![alert("c", "checkout", AlertStatus::Firing)],
    )];
    batches.extend((0..100).map(|i| {
        batch(
            &format!("new-{i}"),
            vec![alert(
                &format!("n{i}"),
                &format!("new-{i}"),
                AlertStatus::Firing,
            )],
        )
    }));
    batches.push(batch(
        "again",
        vec![alert("again", "new-0", AlertStatus::Firing)],
    ));
    let plan = decide(&rules(), &state, &arrivals(&batches), now());
    assert_eq!(
        plan.links[0].incident_id, checkout.id,
        "{:?}",
        plan.links[0]
    );
    assert_eq!(plan.new_incidents.len(), 100, "one per new service");
    let joined = plan.links.last().expect("linked");
    assert_eq!(
        (joined.incident_id, joined.strategy),
        (plan.new_incidents[0].id, "service")
    );
}

#[test]
fn a_worse_alert_raises_the_incident_and_it_falls_back_once_that_alert_resolves() {
    let mut critical = alert("b", "checkout", AlertStatus::Firing);
    critical.severity = Severity::Critical;
    let mut medium = alert("a", "checkout", AlertStatus::Firing);
    medium.severity = Severity::Medium;
    let batches = [
        batch("d1", vec![medium.clone()]),
        batch("d2", vec![critical.clone()]),
    ];
    let plan = decide(&rules(), &State::default(), &arrivals(&batches), now());
    let incident = &plan.new_incidents[0];
    assert_eq!(incident.row.severity, Severity::Critical);
    assert_eq!(incident.row.firing_by_severity.0, [1, 0, 1, 0, 0, 0]);
    let raised = plan
        .events
        .iter()
        .position(|e| e.detail.kind() == "severity_changed")
        .expect("the change is on the timeline");
    assert_eq!(
        plan.events[raised].detail,
        EventDetail::SeverityChanged {
            alert: AlertRef::New(1),
            from: Severity::Medium,
            to: Severity::Critical,
        }
    );
    assert_eq!(
        plan.events[raised].detail.published_change(),
        Some(aurora_domain::IncidentChange::Updated)
    );
    assert!(
        plan.processed[1].events.contains(&raised),
        "republished on redelivery"
    );

    // Stored as the plan left it: the critical alert resolving lowers it back to medium;
    // the medium one resolving leaves it medium (nothing fires; it keeps the last).
    let id = incident.id;
    let stored_alert = |id_: i32, fingerprint: &str, severity| StoredAlert {
        id: id_,
        source_type: SourceType::Alertmanager,
        fingerprint: fingerprint.into(),
        status: AlertStatus::Firing,
        severity,
        incident_id: Some(id),
        resolved_at: None,
        last_seen_at: now(),
        receipt: receipt(2),
        suppressed_by: None,
    };
    let mut stored = open_incident("checkout", 1);
    stored.id = id;
    stored.firing_alerts = 2;
    stored.severity = Severity::Critical;
    stored.firing_by_severity = incident.row.firing_by_severity;
    let state = State {
        alerts: vec![
            stored_alert(1, "a", Severity::Medium),
            stored_alert(2, "b", Severity::Critical),
        ],
        incidents: vec![stored],
        ..State::default()
    };
    let mut resolved = critical.clone();
    resolved.status = AlertStatus::Resolved;
    let later = [batch("d3", vec![resolved])];
    let plan = decide(
        &rules(),
        &state,
        &[Arrival {
            receipt: receipt(3),
            batch: &later[0],
        }],
        now(),
    );
    let update = &plan.incident_updates[0].row;
    assert_eq!(update.severity, Severity::Medium);
    assert_eq!(update.firing_by_severity.0, [0, 0, 1, 0, 0, 0]);
    assert!(plan.events.iter().any(|e| e.detail
        == EventDetail::SeverityChanged {
            alert: AlertRef::Stored(2),
            from: Severity::Critical,
            to: Severity::Medium,
        }));
}

#[test]
fn an_alert_no_worse_than_the_incident_changes_nothing_of_its_severity() {
    let mut low = alert("b", "checkout", AlertStatus::Firing);
    low.severity = Severity::Low;
    let batches = [
        batch("d1", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("d2", vec![low]),
    ];
    let plan = decide(&rules(), &State::default(), &arrivals(&batches), now());
    assert_eq!(plan.new_incidents[0].row.severity, Severity::High);
    assert!(
        plan.events
            .iter()
            .all(|e| e.detail.kind() != "severity_changed")
    );
}

#[test]
fn counts_by_severity_name_the_highest_firing() {
    let mut firing = FiringBySeverity::from_stored(&[0, 0, 2]);
    assert_eq!(firing.highest(), Some(Severity::Medium));
    firing.add(Severity::High);
    assert_eq!(firing.highest(), Some(Severity::High));
    firing.remove(Severity::High);
    firing.remove(Severity::Medium);
    firing.remove(Severity::Medium);
    firing.remove(Severity::Medium);
    assert_eq!(firing.0, [0; 6], "never below zero");
    assert_eq!(firing.highest(), None);
}

fn silence(matcher: &str, ends_in_minutes: i64, on_expiry: crate::OnExpiry) -> crate::Silence {
    crate::Silence {
        id: uuid::Uuid::new_v4(),
        matchers: vec![matcher.parse().expect("valid")],
        starts_at: now() - TimeDelta::minutes(10),
        ends_at: now() + TimeDelta::minutes(ends_in_minutes),
        on_expiry,
    }
}

#[test]
fn a_silenced_alert_is_stored_and_counted_but_opens_nothing() {
    let quiet = silence("service=checkout", 30, crate::OnExpiry::Open);
    let state = State {
        silences: vec![quiet.clone()],
        ..State::default()
    };
    let batches = [
        batch("d1", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("d2", vec![alert("a", "checkout", AlertStatus::Firing)]),
        batch("d3", vec![alert("b", "search", AlertStatus::Firing)]),
    ];
    let plan = decide(&rules(), &state, &arrivals(&batches), now());
    assert_eq!(plan.new_alerts.len(), 2, "checkout's and search's");
    assert_eq!(plan.new_alerts[0].row.suppressed_by, Some(quiet.id));
    assert_eq!(plan.new_alerts[0].row.incident_id, None);
    assert_eq!(plan.new_alerts[0].occurrence_count, 2);
    assert_eq!(plan.suppressed, [(quiet.id, 2)]);
    assert_eq!(plan.new_incidents.len(), 1, "search's only");
    let outcomes: Vec<Outcome> = plan.processed.iter().map(|p| p.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Suppressed, Outcome::Suppressed, Outcome::Opened],
        "every delivery is recorded"
    );
}

/// The state after a silence kept alert `a` of checkout quiet; the silence now `ends`.
fn quiet_state(on_expiry: crate::OnExpiry) -> (State, uuid::Uuid) {
    let ended = silence("service=checkout", -1, on_expiry);
    let state = State {
        alerts: vec![StoredAlert {
            id: 9,
            source_type: SourceType::Alertmanager,
            fingerprint: "a".into(),
            status: AlertStatus::Firing,
            severity: Severity::High,
            incident_id: None,
            resolved_at: None,
            last_seen_at: now() - TimeDelta::minutes(5),
            receipt: receipt(1),
            suppressed_by: Some(ended.id),
        }],
        silences: vec![ended.clone()],
        ..State::default()
    };
    (state, ended.id)
}

#[test]
fn once_its_silence_ends_a_quiet_alert_opens_an_incident_unless_the_silence_said_drop() {
    let batches = [batch(
        "d",
        vec![alert("a", "checkout", AlertStatus::Firing)],
    )];
    let arrival = [Arrival {
        receipt: receipt(2),
        batch: &batches[0],
    }];
    let (state, _) = quiet_state(crate::OnExpiry::Open);
    let plan = decide(&rules(), &state, &arrival, now());
    assert_eq!(plan.new_incidents.len(), 1);
    assert_eq!(plan.new_incidents[0].opened_by, AlertRef::Stored(9));
    assert_eq!(
        plan.alert_updates[0].row.incident_id,
        Some(plan.new_incidents[0].id)
    );
    assert!(plan.suppressed.is_empty());

    let (state, _) = quiet_state(crate::OnExpiry::Drop);
    let plan = decide(&rules(), &state, &arrival, now());
    assert!(plan.new_incidents.is_empty());
    assert_eq!(plan.alert_updates[0].row.incident_id, None);
    assert_eq!(plan.alert_updates[0].added_occurrences, 1);

    // Released at the silence's end without waiting for the vendor to repeat it: nothing is
    // recorded as received.
    let (state, _) = quiet_state(crate::OnExpiry::Open);
    let plan = release(&rules(), &state, &arrival, now());
    assert_eq!(plan.new_incidents.len(), 1);
    assert!(plan.processed.is_empty());
    assert_eq!(plan.alert_updates[0].added_occurrences, 0);
}

#[test]
fn a_quiet_alert_stays_quiet_while_another_silence_matches_it() {
    let (mut state, _) = quiet_state(crate::OnExpiry::Open);
    let second = silence("severity=high", 60, crate::OnExpiry::Open);
    state.silences.push(second.clone());
    let batches = [batch(
        "d",
        vec![alert("a", "checkout", AlertStatus::Firing)],
    )];
    let arrival = [Arrival {
        receipt: receipt(2),
        batch: &batches[0],
    }];
    let plan = release(&rules(), &state, &arrival, now());
    assert!(plan.new_incidents.is_empty());
    assert_eq!(plan.alert_updates[0].row.suppressed_by, Some(second.id));
    assert_eq!(
        plan.alert_updates[0].added_occurrences, 0,
        "nothing was received"
    );
    assert!(plan.suppressed.is_empty());
}

#[test]
fn a_heartbeat_is_heard_and_stored_as_nothing_else() {
    let watchdog = crate::Heartbeat {
        id: uuid::Uuid::new_v4(),
        source_type: SourceType::Alertmanager,
        alert_name: "Watchdog".into(),
    };
    let state = State {
        heartbeats: vec![watchdog.clone()],
        ..State::default()
    };
    let mut beat = alert("w", "monitoring", AlertStatus::Firing);
    beat.title = "Watchdog".into();
    let batches = [
        batch(
            "d1",
            vec![beat.clone(), alert("a", "checkout", AlertStatus::Firing)],
        ),
        batch("d2", vec![beat]),
    ];
    let plan = decide(&rules(), &state, &arrivals(&batches), now());
    assert_eq!(plan.beats, [(watchdog.id, now())]);
    assert_eq!(plan.new_alerts.len(), 1, "only checkout's");
    assert_eq!(plan.new_incidents.len(), 1);
    assert_eq!(plan.processed.len(), 1, "a beat is not a notification");
}

#[test]
fn an_alert_that_turns_worse_raises_its_incident_and_its_resolve_leaves_no_count_behind() {
    let mut warning = alert("a", "checkout", AlertStatus::Firing);
    warning.severity = Severity::Medium;
    let mut critical = warning.clone();
    critical.severity = Severity::Critical;
    let mut resolved = critical.clone();
    resolved.status = AlertStatus::Resolved;
    let batches = [
        batch("d1", vec![warning]),
        batch("d2", vec![critical]),
        batch("d3", vec![resolved]),
    ];
    let plan = decide(&rules(), &State::default(), &arrivals(&batches[..2]), now());
    let incident = &plan.new_incidents[0];
    assert_eq!(incident.row.severity, Severity::Critical);
    assert_eq!(incident.row.firing_by_severity.0, [1, 0, 0, 0, 0, 0]);
    assert_eq!(plan.new_alerts[0].row.severity, Severity::Critical);
    assert!(
        plan.processed[1]
            .events
            .iter()
            .any(|&e| plan.events[e].detail.kind() == "severity_changed")
    );

    let plan = decide(&rules(), &State::default(), &arrivals(&batches), now());
    let incident = &plan.new_incidents[0];
    assert_eq!(
        incident.row.firing_by_severity.0, [0; 6],
        "nothing fires, nothing counted"
    );
    assert_eq!(
        incident.row.severity,
        Severity::Critical,
        "it keeps the last"
    );
}
