ALTER TABLE alert_deliveries DROP COLUMN event_ids;
DROP INDEX alerts_firing_by_last_seen;
DROP INDEX alerts_latest_by_key;
DROP INDEX incidents_user_status_created;
DROP INDEX incidents_open_candidates;
