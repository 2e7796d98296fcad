-- Heartbeats (a dead-man's switch): a user's integration of `source_type` is expected to send
-- an alert named `alert_name` at least every `interval_secs` (by vendor, not by integration,
-- so one replaced by a new integration of the same vendor keeps its heartbeat). Its beats are not stored as alerts; the
-- correlator keeps when the latest arrived. While they are missing, Aurora raises an alert of
-- its own (`missing_since` says since when it was raised) and resolves it when they resume.
CREATE TABLE heartbeats (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_type VARCHAR(32) NOT NULL,
    alert_name TEXT NOT NULL,
    interval_secs INTEGER NOT NULL CHECK (interval_secs > 0),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP,
    missing_since TIMESTAMP,
    UNIQUE (user_id, source_type, alert_name)
);
