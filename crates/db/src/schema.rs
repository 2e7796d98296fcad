//! Diesel's view of the tables in `migrations/`. Kept by hand; the `schema_matches_database`
//! test fails when it and the migrations drift.

diesel::table! {
    users (id) {
        id -> Varchar,
        name -> Text,
        api_token_hash -> Bytea,
        created_at -> Timestamp,
    }
}

diesel::table! {
    integrations (id) {
        id -> Uuid,
        user_id -> Varchar,
        source_type -> Varchar,
        token_hash -> Bytea,
        signing_secrets -> Array<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        signature_timestamp -> Nullable<Text>,
    }
}

diesel::table! {
    incidents (id) {
        id -> Uuid,
        user_id -> Varchar,
        source_type -> Varchar,
        source_alert_id -> Int4,
        status -> Varchar,
        severity -> Nullable<Varchar>,
        alert_title -> Nullable<Text>,
        alert_service -> Nullable<Text>,
        alert_environment -> Nullable<Text>,
        aurora_status -> Nullable<Varchar>,
        aurora_summary -> Nullable<Text>,
        aurora_summary_edited_by -> Nullable<Varchar>,
        aurora_chat_session_id -> Nullable<Uuid>,
        started_at -> Timestamp,
        analyzed_at -> Nullable<Timestamp>,
        slack_message_ts -> Nullable<Varchar>,
        active_tab -> Nullable<Varchar>,
        created_at -> Nullable<Timestamp>,
        updated_at -> Nullable<Timestamp>,
        merged_into_incident_id -> Nullable<Uuid>,
        correlated_alert_count -> Int4,
        affected_services -> Array<Text>,
        resolved_at -> Nullable<Timestamp>,
        firing_alert_count -> Int4,
        firing_by_severity -> Array<Int4>,
        slack_channel -> Nullable<Varchar>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Int4,
        user_id -> Varchar,
        source_type -> Varchar,
        fingerprint -> Varchar,
        status -> Varchar,
        severity -> Varchar,
        title -> Text,
        service -> Nullable<Text>,
        environment -> Nullable<Text>,
        labels -> Jsonb,
        url -> Nullable<Text>,
        started_at -> Timestamp,
        received_at -> Timestamp,
        last_seen_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        occurrence_count -> Int4,
        incident_id -> Nullable<Uuid>,
        receipt_epoch -> Int8,
        receipt_sequence -> Int8,
        raw_payload_id -> Nullable<Int8>,
        suppressed_by -> Nullable<Uuid>,
        description -> Nullable<Text>,
        runbook_url -> Nullable<Text>,
    }
}

diesel::table! {
    heartbeats (id) {
        id -> Uuid,
        user_id -> Varchar,
        source_type -> Varchar,
        alert_name -> Text,
        interval_secs -> Int4,
        created_at -> Timestamp,
        last_seen_at -> Nullable<Timestamp>,
        missing_since -> Nullable<Timestamp>,
    }
}

diesel::table! {
    noise_counts (user_id, hour, source_type, service, outcome) {
        user_id -> Varchar,
        hour -> Timestamp,
        source_type -> Varchar,
        service -> Text,
        outcome -> Varchar,
        count -> Int8,
    }
}

diesel::table! {
    silences (id) {
        id -> Uuid,
        user_id -> Varchar,
        matchers -> Jsonb,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        comment -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        on_expiry -> Varchar,
        suppressed_count -> Int8,
        released_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    raw_payloads (id) {
        id -> Int8,
        user_id -> Varchar,
        received_at -> Timestamp,
        payload -> Jsonb,
    }
}

diesel::table! {
    incident_alerts (id) {
        id -> Int8,
        incident_id -> Uuid,
        alert_id -> Int4,
        strategy -> Varchar,
        score -> Float4,
        reason -> Text,
        attached_at -> Timestamp,
    }
}

diesel::table! {
    alert_deliveries (user_id, delivery_id, alert_index) {
        user_id -> Varchar,
        delivery_id -> Varchar,
        alert_index -> Int4,
        alert_id -> Int4,
        opened_incident_id -> Nullable<Uuid>,
        processed_at -> Timestamp,
        event_ids -> Array<Int8>,
    }
}

diesel::table! {
    chat_sessions (id) {
        id -> Uuid,
        user_id -> Varchar,
        incident_id -> Nullable<Uuid>,
        title -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> Int8,
        session_id -> Uuid,
        role -> Varchar,
        content -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incident_hypotheses (id) {
        id -> Int8,
        incident_id -> Uuid,
        rank -> Int4,
        cause -> Text,
        confidence -> Float8,
        evidence -> Array<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incident_thoughts (id) {
        id -> Int8,
        incident_id -> Uuid,
        kind -> Varchar,
        content -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    incident_suggestions (id) {
        id -> Int8,
        incident_id -> Uuid,
        title -> Text,
        detail -> Text,
        risk -> Varchar,
        command -> Nullable<Array<Text>>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    command_runs (id) {
        id -> Int8,
        incident_id -> Uuid,
        argv -> Array<Text>,
        exit_code -> Nullable<Int4>,
        output -> Text,
        duration_ms -> Int4,
        started_at -> Timestamp,
    }
}

diesel::table! {
    deployments (id) {
        id -> Int8,
        user_id -> Varchar,
        source_type -> Varchar,
        service -> Text,
        environment -> Nullable<Text>,
        result -> Varchar,
        build_number -> Nullable<Text>,
        build_url -> Nullable<Text>,
        commit_sha -> Nullable<Text>,
        deployed_at -> Timestamp,
        received_at -> Timestamp,
        raw_payload -> Jsonb,
        branch -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        delivery_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    incident_events (id) {
        id -> Int8,
        incident_id -> Uuid,
        kind -> Varchar,
        detail -> Jsonb,
        created_at -> Timestamp,
        published -> Bool,
    }
}

diesel::table! {
    analysis_claims (incident_id) {
        incident_id -> Uuid,
        claimed_at -> Timestamp,
        renewed_at -> Timestamp,
        lease_id -> Uuid,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> Int8,
        stream -> Varchar,
        subject -> Varchar,
        consumer -> Varchar,
        reason -> Text,
        payload -> Bytea,
        deliveries -> Int4,
        created_at -> Timestamp,
        replayed_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(integrations -> users (user_id));
diesel::table! {
    notification_targets (incident_id, target) {
        incident_id -> Uuid,
        target -> Varchar,
        endpoint -> Varchar,
        rule -> Varchar,
        announce_after -> Timestamptz,
        announced -> Bool,
        slack_channel -> Nullable<Varchar>,
        slack_ts -> Nullable<Varchar>,
        pagerduty_state -> Nullable<Varchar>,
        locked_until -> Nullable<Timestamptz>,
        sync_after -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notification_deliveries (id) {
        id -> Int8,
        incident_id -> Uuid,
        target -> Varchar,
        endpoint -> Varchar,
        action -> Varchar,
        event_key -> Varchar,
        event_type -> Varchar,
        state -> Varchar,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        attempt_started_at -> Nullable<Timestamptz>,
        in_doubt_since -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(analysis_claims -> incidents (incident_id));
diesel::joinable!(notification_targets -> incidents (incident_id));
diesel::joinable!(notification_deliveries -> incidents (incident_id));
diesel::joinable!(alerts -> incidents (incident_id));
diesel::joinable!(alerts -> raw_payloads (raw_payload_id));
diesel::joinable!(incident_alerts -> incidents (incident_id));
diesel::joinable!(incident_alerts -> alerts (alert_id));
diesel::joinable!(chat_messages -> chat_sessions (session_id));
diesel::joinable!(incident_thoughts -> incidents (incident_id));
diesel::joinable!(incident_hypotheses -> incidents (incident_id));
diesel::joinable!(incident_suggestions -> incidents (incident_id));
diesel::joinable!(command_runs -> incidents (incident_id));
diesel::joinable!(incident_events -> incidents (incident_id));

diesel::allow_tables_to_appear_in_same_query!(
    analysis_claims,
    dead_letters,
    users,
    integrations,
    incidents,
    alerts,
    raw_payloads,
    incident_alerts,
    alert_deliveries,
    chat_sessions,
    chat_messages,
    incident_thoughts,
    incident_hypotheses,
    incident_suggestions,
    command_runs,
    deployments,
    incident_events,
    heartbeats,
    noise_counts,
    silences,
    notification_targets,
    notification_deliveries,
);
