-- A delivery's raw body, stored once however many alerts it carried (an Alertmanager group of
-- 1,000 alerts used to store 1,000 copies); alerts reference it.
CREATE TABLE raw_payloads (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    received_at TIMESTAMP NOT NULL,
    payload JSONB NOT NULL
);
ALTER TABLE alerts ADD COLUMN raw_payload_id BIGINT REFERENCES raw_payloads(id) ON DELETE SET NULL;
-- Existing alerts: one stored body per distinct body of a user.
WITH moved AS (
    INSERT INTO raw_payloads (user_id, received_at, payload)
    SELECT user_id, min(received_at), raw_payload FROM alerts GROUP BY user_id, raw_payload
    RETURNING id, user_id, payload
)
UPDATE alerts SET raw_payload_id = moved.id
FROM moved WHERE alerts.user_id = moved.user_id AND alerts.raw_payload = moved.payload;
ALTER TABLE alerts DROP COLUMN raw_payload;
-- Deleting a body (retention) finds its alerts without a scan.
CREATE INDEX alerts_raw_payload ON alerts (raw_payload_id);
