DROP INDEX incidents_open_services;
ALTER TABLE alerts DROP COLUMN receipt_sequence, DROP COLUMN receipt_epoch;
