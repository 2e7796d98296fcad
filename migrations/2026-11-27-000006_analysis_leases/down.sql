ALTER TABLE analysis_claims DROP COLUMN lease_id;
ALTER TABLE analysis_claims DROP COLUMN renewed_at;
