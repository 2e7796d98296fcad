-- Whether the integration's vendor signature must cover a timestamp (replay protection):
-- 'required' or 'optional'; NULL is the scheme's default (required for Aurora's own CI
-- signature, optional for Grafana's).
ALTER TABLE integrations
    ADD COLUMN signature_timestamp TEXT
        CHECK (signature_timestamp IN ('required', 'optional'));
