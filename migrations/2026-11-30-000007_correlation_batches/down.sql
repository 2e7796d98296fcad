ALTER TABLE incidents DROP COLUMN firing_alert_count;
ALTER TABLE alerts RESET (fillfactor);
DROP INDEX alerts_firing_by_source;
CREATE INDEX alerts_firing_by_last_seen ON alerts (source_type, last_seen_at) WHERE status = 'firing';
DROP INDEX incidents_open_by_service;
ALTER TABLE alerts DROP COLUMN receipt_sequence, DROP COLUMN receipt_epoch;
