-- Silences (maintenance windows): while one is active, the alerts it matches are stored and
-- counted but open no incident. `matchers` is a JSON array of {"field", "op", "value"}.
CREATE TABLE silences (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    matchers JSONB NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    -- Moved to the moment it was expired by hand.
    ends_at TIMESTAMP NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- open: the alerts it kept quiet that still fire are new alerts when it ends; drop: they
    -- stay quiet until they resolve.
    on_expiry VARCHAR(10) NOT NULL DEFAULT 'open',
    -- Firing notifications it kept quiet.
    suppressed_count BIGINT NOT NULL DEFAULT 0,
    -- When a correlator released its quiet alerts after it ended.
    released_at TIMESTAMP
);
-- The correlator loads a user's silences that have not ended with every batch.
CREATE INDEX silences_user_ends ON silences (user_id, ends_at);
-- The sweep finds silences that ended and were not released yet.
CREATE INDEX silences_unreleased ON silences (ends_at) WHERE released_at IS NULL;

ALTER TABLE alerts ADD COLUMN suppressed_by UUID REFERENCES silences(id) ON DELETE SET NULL;
-- The alerts a silence keeps quiet, for its release when it ends.
CREATE INDEX alerts_quiet ON alerts (suppressed_by)
    WHERE suppressed_by IS NOT NULL AND status = 'firing' AND incident_id IS NULL;
