ALTER TABLE alerts DROP COLUMN suppressed_by;
DROP TABLE silences;
