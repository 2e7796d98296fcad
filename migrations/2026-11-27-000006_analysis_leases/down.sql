ALTER TABLE analysis_claims DROP COLUMN renewed_at;
