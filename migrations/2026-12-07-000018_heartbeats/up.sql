-- Heartbeats (a dead-man's switch): an integration is expected to send an alert named
-- `alert_name` at least every `interval_secs`. Its beats are not stored as alerts; the
-- correlator keeps when the latest arrived. While they are missing, Aurora raises an alert of
-- its own (`missing_since` says since when it was raised) and resolves it when they resume.
CREATE TABLE heartbeats (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    integration_id UUID NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    alert_name TEXT NOT NULL,
    interval_secs INTEGER NOT NULL CHECK (interval_secs > 0),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP,
    missing_since TIMESTAMP,
    UNIQUE (integration_id, alert_name)
);
CREATE INDEX heartbeats_user ON heartbeats (user_id);
