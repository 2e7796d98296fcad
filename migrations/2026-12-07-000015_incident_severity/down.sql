ALTER TABLE incidents DROP COLUMN firing_by_severity;
