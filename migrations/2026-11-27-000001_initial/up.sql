-- Aurora's initial schema. Every timestamp is UTC in a TIMESTAMP column: the connection pool
-- sets the session time zone to UTC, and the application writes explicit UTC values.

CREATE TABLE users (
    id VARCHAR(255) PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- SHA-256 of the API token; the token itself is shown once and never stored.
    api_token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE integrations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_type VARCHAR(20) NOT NULL,
    -- SHA-256 of the webhook token.
    token_hash BYTEA NOT NULL UNIQUE,
    -- Several secrets are accepted at once so a vendor's secret can be rotated.
    signing_secrets TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    revoked_at TIMESTAMP
);
-- One live integration per user and source.
CREATE UNIQUE INDEX integrations_one_live_per_source
    ON integrations (user_id, source_type) WHERE revoked_at IS NULL;

CREATE TABLE incidents (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL,
    source_type VARCHAR(20) NOT NULL,
    source_alert_id INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'investigating',
    severity VARCHAR(20),
    alert_title TEXT,
    alert_service TEXT,
    alert_environment TEXT,
    aurora_status VARCHAR(20) DEFAULT 'idle',
    aurora_summary TEXT,
    aurora_chat_session_id UUID,
    started_at TIMESTAMP NOT NULL,
    analyzed_at TIMESTAMP,
    slack_message_ts VARCHAR(50),
    active_tab VARCHAR(10) DEFAULT 'thoughts',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    merged_into_incident_id UUID REFERENCES incidents(id) ON DELETE SET NULL,
    UNIQUE(source_type, source_alert_id, user_id),
    correlated_alert_count INTEGER NOT NULL DEFAULT 0,
    affected_services TEXT[] NOT NULL DEFAULT '{}',
    resolved_at TIMESTAMP
);
-- The API lists a user's incidents newest first.
CREATE INDEX incidents_user_created ON incidents (user_id, created_at DESC, id DESC);

CREATE TABLE alerts (
    id SERIAL PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_type VARCHAR(20) NOT NULL,
    fingerprint VARCHAR(255) NOT NULL,
    status VARCHAR(20) NOT NULL,
    severity VARCHAR(20) NOT NULL,
    title TEXT NOT NULL,
    service TEXT,
    environment TEXT,
    labels JSONB NOT NULL DEFAULT '{}',
    url TEXT,
    started_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    occurrence_count INTEGER NOT NULL DEFAULT 1,
    raw_payload JSONB NOT NULL,
    incident_id UUID REFERENCES incidents(id) ON DELETE SET NULL
);
-- Dedup: at most one open alert per (user, source, fingerprint); the correlator finds it here.
CREATE UNIQUE INDEX alerts_open_fingerprint
    ON alerts (user_id, source_type, fingerprint) WHERE status = 'firing';
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE incident_alerts (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    -- `primary` for the alert that opened the incident; later: service, topology, similarity,
    -- time, deployment, manual.
    strategy VARCHAR(20) NOT NULL,
    score REAL NOT NULL,
    reason TEXT NOT NULL,
    attached_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (incident_id, alert_id)
);
CREATE INDEX incident_alerts_alert ON incident_alerts (alert_id);

-- Deliveries the correlator has processed, so a redelivered message finds its work done.
CREATE TABLE alert_deliveries (
    user_id VARCHAR(255) NOT NULL,
    delivery_id VARCHAR(255) NOT NULL,
    alert_index INTEGER NOT NULL,
    alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    -- Set when this alert opened the incident, so a redelivery republishes incidents.created.
    opened_incident_id UUID REFERENCES incidents(id) ON DELETE CASCADE,
    processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, delivery_id, alert_index)
);

CREATE TABLE chat_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL,
    incident_id UUID REFERENCES incidents(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX chat_sessions_incident ON chat_sessions (incident_id);

CREATE TABLE chat_messages (
    id BIGSERIAL PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    role VARCHAR(20) NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX chat_messages_session ON chat_messages (session_id, id);

CREATE TABLE incident_thoughts (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    -- observation, hypothesis, action, conclusion, error
    kind VARCHAR(20) NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX incident_thoughts_incident ON incident_thoughts (incident_id, id);

CREATE TABLE incident_suggestions (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    -- low, medium, high
    risk VARCHAR(10) NOT NULL,
    command TEXT[],
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX incident_suggestions_incident ON incident_suggestions (incident_id, id);

CREATE TABLE command_runs (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    argv TEXT[] NOT NULL,
    exit_code INTEGER,
    output TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL
);
CREATE INDEX command_runs_incident ON command_runs (incident_id, id);

CREATE TABLE deployments (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_type VARCHAR(20) NOT NULL,
    service TEXT NOT NULL,
    environment TEXT,
    result VARCHAR(20) NOT NULL,
    build_number TEXT,
    build_url TEXT,
    commit_sha TEXT,
    deployed_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    raw_payload JSONB NOT NULL
);
-- Analysis asks for a service's deployments in the hours before an alert.
CREATE INDEX deployments_user_service_time ON deployments (user_id, service, deployed_at DESC);

CREATE TABLE incident_events (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    -- created, alert_repeated, alert_resolved, analysis_started, analysis_completed …
    kind VARCHAR(40) NOT NULL,
    detail JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);
