-- How much noise Aurora took away: every notification the correlator processed, counted by
-- what became of it (opened, correlated, deduplicated, suppressed, resolved, refired), per
-- user, hour, source and service (empty when the alert names none). Written in the
-- transaction that processed the notifications, one upsert per batch, so a redelivery is not
-- counted twice and the figures cost a few rows per hour however loud the storm.
CREATE TABLE noise_counts (
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hour TIMESTAMP NOT NULL,
    source_type VARCHAR(32) NOT NULL,
    service TEXT NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (user_id, hour, source_type, service, outcome)
);
