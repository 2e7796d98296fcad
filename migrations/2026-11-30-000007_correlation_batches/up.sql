-- Receipt order: the JetStream stream (its creation time, in microseconds) and the stream
-- sequence of the last delivery applied to each alert. A delivery older than that one (a
-- redelivery after a crash, or one another correlator replica took later) cannot undo what a
-- newer one did: a firing processed after its own resolve leaves the alert resolved. Rows
-- from before this migration count as older than everything.
ALTER TABLE alerts
    ADD COLUMN receipt_epoch BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN receipt_sequence BIGINT NOT NULL DEFAULT 0;
-- Correlation candidates by service: a user's open incidents affecting a service (or one linked
-- to it), however many other incidents are open and however recently they changed.
CREATE INDEX incidents_open_services ON incidents USING gin (affected_services)
    WHERE status IN ('investigating', 'analyzed');
