-- A claim is a lease its worker renews while it works: an analysis whose worker died
-- (kill -9, a lost node) stops being renewed, and another worker takes it over and finishes it
-- instead of leaving it `running` until the time budget fails it.
ALTER TABLE analysis_claims ADD COLUMN renewed_at TIMESTAMP;
UPDATE analysis_claims SET renewed_at = claimed_at;
ALTER TABLE analysis_claims ALTER COLUMN renewed_at SET NOT NULL;
CREATE INDEX analysis_claims_renewed_at ON analysis_claims (renewed_at);
