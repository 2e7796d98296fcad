-- Correlation candidates: a user's open incidents in one environment, most recently updated
-- first. The query reads at most a few dozen rows from this index however many are open.
CREATE INDEX incidents_open_candidates
    ON incidents (user_id, alert_environment, updated_at DESC)
    WHERE status IN ('investigating', 'analyzed');
-- The API lists by status and time.
CREATE INDEX incidents_user_status_created ON incidents (user_id, status, created_at DESC, id DESC);
-- A firing alert that matches nothing open looks up its latest resolved self (flap, recurrence).
CREATE INDEX alerts_latest_by_key ON alerts (user_id, source_type, fingerprint, resolved_at DESC);
-- Auto-resolve finds silent alerts of sources that never send resolves.
CREATE INDEX alerts_firing_by_last_seen ON alerts (source_type, last_seen_at) WHERE status = 'firing';
-- The incident events a delivery recorded, so a redelivery republishes exactly those.
ALTER TABLE alert_deliveries ADD COLUMN event_ids BIGINT[] NOT NULL DEFAULT '{}';
