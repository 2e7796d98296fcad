-- Whether the integration's vendor signature must cover a timestamp (replay protection):
-- 'required' or 'optional'; NULL is the scheme's default (required for Aurora's own CI
-- signature, optional for Grafana's).
ALTER TABLE integrations
    ADD COLUMN signature_timestamp TEXT
        CHECK (signature_timestamp IN ('required', 'optional'));
-- Signed Jenkins and CloudBees integrations made before timestamps were required keep working
-- on upgrade: their pipelines sign the body alone. `aurora integration signature-timestamp
-- ... required` turns the protection on once a pipeline sends X-Aurora-Timestamp.
UPDATE integrations SET signature_timestamp = 'optional'
WHERE source_type IN ('jenkins', 'cloudbees') AND signing_secrets <> '{}';
