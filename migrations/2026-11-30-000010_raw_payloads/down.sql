ALTER TABLE alerts ADD COLUMN raw_payload JSONB;
UPDATE alerts SET raw_payload = raw_payloads.payload
FROM raw_payloads WHERE alerts.raw_payload_id = raw_payloads.id;
UPDATE alerts SET raw_payload = '{}' WHERE raw_payload IS NULL;
ALTER TABLE alerts ALTER COLUMN raw_payload SET NOT NULL;
DROP INDEX alerts_raw_payload;
ALTER TABLE alerts DROP COLUMN raw_payload_id;
DROP TABLE raw_payloads;
