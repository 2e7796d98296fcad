DROP INDEX incident_events_unpublished;
ALTER TABLE incident_events DROP COLUMN published;
