-- When each running analysis was claimed, so one that outlives its time budget is noticed
-- and stopped by any worker (a worker that died mid-analysis leaves it running otherwise).
CREATE TABLE analysis_claims (
    incident_id UUID PRIMARY KEY REFERENCES incidents(id) ON DELETE CASCADE,
    claimed_at TIMESTAMP NOT NULL
);
CREATE INDEX analysis_claims_claimed_at ON analysis_claims (claimed_at);
-- Counting a user's running analyses for the per-user limit.
CREATE INDEX incidents_user_running ON incidents (user_id) WHERE aurora_status = 'running';
