ALTER TABLE integrations DROP COLUMN signature_timestamp;
