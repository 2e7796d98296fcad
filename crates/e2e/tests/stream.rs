//! The live stream (`GET /api/incidents/stream`) against the real pipeline: each user sees
//! only their changes over one bus subscription per API process; a reader that stops reading
//! is disconnected while others carry on; a user's connections are limited; a client that
//! reconnects with `Last-Event-ID` is sent exactly what it missed, then live changes.

use std::time::Duration;

use aurora_api::StreamLimits;
use aurora_domain::{IncidentChange, IncidentChanged, UserId};
use aurora_e2e::http::get_json;
use aurora_e2e::sse::{Block, EventStream};
use aurora_e2e::{Stack, TestUser, default_stream_limits, eventually};
use futures::future::try_join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);
/// How soon a closed stream's slot is free again.
const FREED: Duration = Duration::from_secs(5);
/// How long a stream that should stay quiet is watched.
const QUIET: Duration = Duration::from_millis(300);

/// One analysed incident per name for `user`, each on a service of its own; their ids in the
/// same order.
async fn incidents_for(stack: &Stack, user: &TestUser, names: &[&str]) -> Vec<String> {
    let alerts: Vec<_> = names
        .iter()
        .map(|name| (*name, *name, "production", "high"))
        .collect();
    stack.analysed_incidents(user, &alerts).await
}

/// Switches an incident's tab through the API: one `updated` change.
async fn switch_tab(stack: &Stack, user: &TestUser, incident: &str, tab: &str) {
    let response = reqwest::Client::new()
        .patch(format!("{}/api/incidents/{incident}", stack.api_url))
        .bearer_auth(&user.api_token)
        .json(&json!({ "active_tab": tab }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Publishes `count` changes of `user` straight onto the bus, as the correlator would:
/// many, quickly, without an incident behind each. `first` numbers their event ids.
async fn publish_changes(stack: &Stack, user: &TestUser, first: i64, count: i64) {
    let bus = &stack.connections.bus;
    let user_id = UserId::parse(user.id.clone()).unwrap();
    try_join_all((first..first + count).map(|event_id| {
        let change = IncidentChanged {
            change: IncidentChange::Updated,
            incident_id: uuid::Uuid::new_v4(),
            user_id: user_id.clone(),
            event_id,
            occurred_at: chrono::Utc::now(),
        };
        async move { bus.publish_incident_change(&change).await }
    }))
    .await
    .expect("JetStream takes the changes");
}

async fn open(stack: &Stack, user: &TestUser, last_event_id: Option<&str>) -> EventStream {
    EventStream::open(&stack.api_url, &user.api_token, last_event_id)
        .await
        .unwrap_or_else(|(status, body)| panic!("the stream answered {status}: {body}"))
}

/// Reads the opening (`: connected`, any replay, then the bare `id:` to resume from): the
/// replayed events and that id.
async fn opening(stream: &mut EventStream) -> (Vec<Block>, u64) {
    let first = stream.next_block(DEADLINE).await.expect("the stream opens");
    assert_eq!(first.comments, ["connected"]);
    let mut replayed = Vec::new();
    loop {
        let block = stream.next_block(DEADLINE).await.expect("the opening ends");
        match (block.event.is_some(), block.id) {
            (true, _) => replayed.push(block),
            (false, Some(id)) => return (replayed, id),
            (false, None) => {}
        }
    }
}

/// Waits until the API has handed every published change to its connections, so that a
/// connection made now is replayed all it missed rather than sent part of it live.
async fn caught_up(stack: &Stack) {
    let last = stack
        .connections
        .bus
        .incident_stream_bounds()
        .await
        .unwrap()
        .last;
    eventually("the API to catch up with the stream", DEADLINE, || async {
        (stack.stream_hub.position() >= last).then_some(())
    })
    .await;
}

fn incident_of(block: &Block) -> &str {
    block.data.as_ref().unwrap()["incident_id"]
        .as_str()
        .unwrap()
}

/// Nothing but keep-alives or ids for a little while.
async fn stays_quiet(stream: &mut EventStream) {
    if let Ok(block) = tokio::time::timeout(QUIET, stream.next_event(DEADLINE)).await {
        panic!("unexpected {block:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_receives_only_their_changes_over_one_subscription() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let alices = incidents_for(&stack, &alice, &["AliceAlert"]).await;
    let bobs = incidents_for(&stack, &bob, &["BobAlert"]).await;
    let mut alice_streams = [
        open(&stack, &alice, None).await,
        open(&stack, &alice, None).await,
    ];
    let mut bob_stream = open(&stack, &bob, None).await;
    for stream in alice_streams.iter_mut().chain([&mut bob_stream]) {
        let (replayed, _) = opening(stream).await;
        assert!(replayed.is_empty(), "a first connection replays nothing");
    }
    assert_eq!(stack.stream_hub.connections(&alice.id), 2);
    assert_eq!(
        stack.stream_hub.subscriptions(),
        1,
        "one for every connection"
    );

    // Alice's change first, then Bob's: neither sees the other's.
    switch_tab(&stack, &alice, &alices[0], "chat").await;
    switch_tab(&stack, &bob, &bobs[0], "chat").await;
    switch_tab(&stack, &alice, &alices[0], "thoughts").await;
    let mut alice_ids = Vec::new();
    for stream in &mut alice_streams {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let event = stream.next_event(DEADLINE).await.unwrap();
            assert_eq!(event.event.as_deref(), Some("updated"));
            assert_eq!(incident_of(&event), alices[0]);
            assert_eq!(event.data.as_ref().unwrap()["user_id"], alice.id.as_str());
            ids.push(event.id.expect("every event has an id"));
        }
        assert!(ids[0] < ids[1], "ids grow: {ids:?}");
        stays_quiet(stream).await;
        alice_ids.push(ids);
    }
    assert_eq!(
        alice_ids[0], alice_ids[1],
        "both connections see the same events"
    );
    let event = bob_stream.next_event(DEADLINE).await.unwrap();
    assert_eq!(incident_of(&event), bobs[0]);
    let bob_id = event.id.unwrap();
    assert!(
        alice_ids[0][0] < bob_id && bob_id < alice_ids[0][1],
        "one sequence for all"
    );
    stays_quiet(&mut bob_stream).await;
    assert_eq!(stack.stream_hub.subscriptions(), 1);

    let (status, _) = get_json(&format!("{}/api/incidents/stream", stack.api_url), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A client that sends its request and never reads: its queue fills and it is dropped,
/// while a client that reads keeps receiving every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_is_dropped_and_others_carry_on() {
    const QUEUE: usize = 16;
    let stack = Stack::start_with_stream_limits(StreamLimits {
        queue: QUEUE,
        ..default_stream_limits()
    })
    .await;
    let alice = stack.user("alice").await;
    let mut fast = open(&stack, &alice, None).await;
    opening(&mut fast).await;

    // A small receive window, so the kernel holds little of what the server sends it.
    let address: std::net::SocketAddr =
        stack.api_url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(address).await.unwrap();
    slow.write_all(
        format!(
            "GET /api/incidents/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
            alice.api_token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    eventually("the slow reader connected", DEADLINE, || async {
        (stack.stream_hub.connections(&alice.id) == 2).then_some(())
    })
    .await;

    // Rounds of half a queue, each read by the fast reader before the next: its queue never
    // fills, the slow one's does once the socket buffers are full.
    let round = (QUEUE / 2) as i64;
    let mut published = 0;
    let mut last_seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stack.stream_hub.slow_readers_dropped() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow reader was not dropped after {published} changes"
        );
        publish_changes(&stack, &alice, published + 1, round).await;
        published += round;
        for _ in 0..round {
            let event = fast
                .next_event(DEADLINE)
                .await
                .expect("the fast reader stays");
            assert!(event.id.unwrap() > last_seen);
            last_seen = event.id.unwrap();
        }
    }
    assert_eq!(stack.stream_hub.slow_readers_dropped(), 1);
    publish_changes(&stack, &alice, published + 1, 1).await;
    published += 1;
    let event = fast
        .next_event(DEADLINE)
        .await
        .expect("the fast reader stays");
    assert_eq!(event.data.unwrap()["event_id"], published);

    // The slow reader gets what was queued for it, then the end of its response.
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        let mut buffer = [0_u8; 16 * 1024];
        while !received.ends_with(b"\r\n0\r\n\r\n") {
            let read = slow.read(&mut buffer).await.unwrap();
            assert!(
                read > 0,
                "the server closed the connection instead of ending the response"
            );
            received.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("the slow reader's stream ends");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let events = text.matches("event: updated\n").count() as i64;
    assert!(
        events > 0 && events < published,
        "{events} of {published} changes reached the slow reader"
    );
    eventually("the slow reader's slot is free", DEADLINE, || async {
        (stack.stream_hub.connections(&alice.id) == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_may_hold_a_limited_number_of_streams_and_a_closed_one_frees_its_slot() {
    let stack = Stack::start_with_stream_limits(StreamLimits {
        connections_per_user: 2,
        ..default_stream_limits()
    })
    .await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let first = open(&stack, &alice, None).await;
    let _second = open(&stack, &alice, None).await;
    let refused = EventStream::open(&stack.api_url, &alice.api_token, None).await;
    let Err((status, body)) = refused else {
        panic!("a third stream was opened");
    };
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body,
        json!({"error": "at most 2 live streams per user may be open at once; close one first"})
    );
    // The limit is per user.
    let _bobs = open(&stack, &bob, None).await;

    drop(first);
    // At once, not when the next keep-alive comment (after 15 s) finds the client gone.
    let _third = eventually("a slot after closing a stream", FREED, || async {
        EventStream::open(&stack.api_url, &alice.api_token, None)
            .await
            .ok()
    })
    .await;
    assert_eq!(stack.stream_hub.connections(&alice.id), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reconnecting_with_last_event_id_gets_what_it_missed_then_live_changes() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let bob = stack.user("bob").await;
    let alices = incidents_for(&stack, &alice, &["First", "Second"]).await;
    let bobs = incidents_for(&stack, &bob, &["Other"]).await;

    let mut stream = open(&stack, &alice, None).await;
    let (_, connected_at) = opening(&mut stream).await;
    switch_tab(&stack, &alice, &alices[0], "chat").await;
    let seen = stream.next_event(DEADLINE).await.unwrap();
    assert!(seen.id.unwrap() > connected_at);
    drop(stream);

    // Missed: three of Alice's changes, with Bob's in between.
    switch_tab(&stack, &alice, &alices[1], "chat").await;
    switch_tab(&stack, &bob, &bobs[0], "chat").await;
    switch_tab(&stack, &alice, &alices[0], "thoughts").await;
    switch_tab(&stack, &alice, &alices[1], "thoughts").await;
    let missed: Vec<Value> = stack
        .bus()
        .incident_messages(aurora_bus::IncidentSubject::Updated)
        .await
        .into_iter()
        .filter(|m| m["user_id"] == alice.id.as_str())
        .skip(1)
        .collect();
    assert_eq!(missed.len(), 3);

    // Once the API has read them, a reconnecting client is replayed exactly what it missed,
    // in order, then sent live changes: each once.
    caught_up(&stack).await;
    let last_event_id = seen.id.unwrap().to_string();
    let mut stream = open(&stack, &alice, Some(&last_event_id)).await;
    let (replayed, resume_at) = opening(&mut stream).await;
    let replayed_data: Vec<&Value> = replayed.iter().map(|e| e.data.as_ref().unwrap()).collect();
    assert_eq!(
        replayed_data,
        missed.iter().collect::<Vec<_>>(),
        "exactly what was missed, in order"
    );
    switch_tab(&stack, &alice, &alices[0], "chat").await;
    let live = stream.next_event(DEADLINE).await.unwrap();
    assert_eq!(incident_of(&live), alices[0]);
    let ids: Vec<u64> = replayed
        .iter()
        .chain([&live])
        .map(|e| e.id.unwrap())
        .collect();
    assert!(
        ids[0] > seen.id.unwrap() && ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow, nothing twice: {ids:?}"
    );
    assert!(ids[2] <= resume_at && resume_at < ids[3]);
    stays_quiet(&mut stream).await;

    // Reconnecting with the last id seen replays nothing.
    let last_event_id = live.id.unwrap().to_string();
    drop(stream);
    let mut stream = open(&stack, &alice, Some(&last_event_id)).await;
    let (replayed, _) = opening(&mut stream).await;
    assert!(replayed.is_empty(), "{replayed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_missed_too_much_is_told_to_reload() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut stream = open(&stack, &alice, None).await;
    let (_, connected_at) = opening(&mut stream).await;
    drop(stream);
    publish_changes(&stack, &alice, 1, 1001).await;
    caught_up(&stack).await;

    for (last_event_id, reason) in [
        (
            connected_at.to_string(),
            "more than 1000 changes were missed",
        ),
        (
            "not-an-id".into(),
            "the Last-Event-ID is not an id this stream sent",
        ),
        (
            "999999999".into(),
            "the Last-Event-ID is not an id this stream sent",
        ),
    ] {
        let mut stream = open(&stack, &alice, Some(&last_event_id)).await;
        let (replayed, resume_at) = opening(&mut stream).await;
        let names: Vec<_> = replayed.iter().map(|e| e.event.clone()).take(3).collect();
        assert_eq!(
            replayed.len(),
            1,
            "{last_event_id}: one reset, not {names:?}…"
        );
        let reset = &replayed[0];
        assert_eq!(reset.event.as_deref(), Some("reset"));
        assert_eq!(reset.data.as_ref().unwrap()["reason"], reason);
        assert_eq!(reset.id, Some(resume_at));
        assert!(resume_at >= connected_at + 1001);
    }
    // Live changes follow a reset.
    let mut stream = open(&stack, &alice, Some(&connected_at.to_string())).await;
    let (_, resume_at) = opening(&mut stream).await;
    publish_changes(&stack, &alice, 2000, 1).await;
    let live = stream.next_event(DEADLINE).await.unwrap();
    assert_eq!(live.event.as_deref(), Some("updated"));
    assert!(live.id.unwrap() > resume_at);
    // A thousand missed changes are still replayed.
    drop(stream);
    let thousand_before = (live.id.unwrap() - 1000).to_string();
    let mut stream = open(&stack, &alice, Some(&thousand_before)).await;
    let (replayed, _) = opening(&mut stream).await;
    assert_eq!(replayed.len(), 1000);
    assert!(
        replayed
            .iter()
            .all(|e| e.event.as_deref() == Some("updated"))
    );
}

/// On SIGTERM the API closes the hub before stopping: open streams end (their clients
/// reconnect elsewhere) instead of holding the shutdown until its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_hub_ends_every_stream() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let mut stream = open(&stack, &alice, None).await;
    opening(&mut stream).await;
    stack.stream_hub.close();
    assert_eq!(stream.next_block(DEADLINE).await, None, "the stream ended");
    let mut late = open(&stack, &alice, None).await;
    opening(&mut late).await;
    assert_eq!(late.next_block(DEADLINE).await, None, "a late one ends too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_tokens_open_stream_ends() {
    let stack = Stack::start_with_stream_limits(StreamLimits {
        token_recheck: Duration::ZERO,
        ..default_stream_limits()
    })
    .await;
    let alice = stack.user("alice").await;
    let mut stream = open(&stack, &alice, None).await;
    opening(&mut stream).await;
    publish_changes(&stack, &alice, 1, 1).await;
    assert!(
        stream.next_event(DEADLINE).await.is_some(),
        "the token still opens it"
    );
    let mut conn = stack.db().connect().await;
    aurora_db::users::rotate_api_token(&mut conn, "alice")
        .await
        .unwrap()
        .expect("alice exists");
    publish_changes(&stack, &alice, 2, 1).await;
    assert_eq!(stream.next_block(DEADLINE).await, None, "the stream ended");
}
