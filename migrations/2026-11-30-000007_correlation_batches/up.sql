-- Receipt order: the JetStream stream (its creation time, in microseconds) and the stream
-- sequence of the last delivery applied to each alert. A delivery older than that one (a
-- redelivery after a crash, or one another correlator replica took later) cannot undo what a
-- newer one did: a firing processed after its own resolve leaves the alert resolved. Rows
-- from before this migration count as older than everything.
ALTER TABLE alerts
    ADD COLUMN receipt_epoch BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN receipt_sequence BIGINT NOT NULL DEFAULT 0;
-- Correlation candidates by service: a user's open incidents of a service (or of one linked to
-- it), most recently updated first, however many other incidents are open.
CREATE INDEX incidents_open_by_service
    ON incidents (user_id, alert_service, updated_at DESC)
    WHERE status IN ('investigating', 'analyzed');
-- Repeats of an open alert change its `last_seen_at`; with that column in no index and room
-- left on each page, such an update stays on its page and touches no index (a HOT update), so
-- a storm of repeats costs one row version each. Auto-resolve finds a source's silent alerts
-- among its firing ones instead.
DROP INDEX alerts_firing_by_last_seen;
CREATE INDEX alerts_firing_by_source ON alerts (source_type) WHERE status = 'firing';
ALTER TABLE alerts SET (fillfactor = 85);
-- How many of an incident's alerts still fire, kept by the writers that change an alert's
-- status or incident (the correlator, merge) so the resolve policy never counts them.
ALTER TABLE incidents ADD COLUMN firing_alert_count INTEGER NOT NULL DEFAULT 0;
UPDATE incidents SET firing_alert_count = firing.count
FROM (SELECT incident_id, count(*) AS count FROM alerts
      WHERE status = 'firing' AND incident_id IS NOT NULL GROUP BY incident_id) AS firing
WHERE incidents.id = firing.incident_id;
