-- Deployments carry the branch and start time, and are stored once per build (the
-- Notification plugin reports a build at COMPLETED and again at FINALIZED) or, for builds
-- without a number, once per delivery.
ALTER TABLE deployments
    ADD COLUMN branch TEXT,
    ADD COLUMN started_at TIMESTAMP,
    ADD COLUMN delivery_id VARCHAR(255);
CREATE UNIQUE INDEX deployments_one_per_build
    ON deployments (user_id, source_type, service, build_number);
CREATE UNIQUE INDEX deployments_one_per_delivery
    ON deployments (user_id, delivery_id);
