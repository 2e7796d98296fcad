-- A claim is a lease its worker renews while it works: an analysis whose worker died
-- (kill -9, a lost node) stops being renewed, and another worker takes it over and finishes it
-- instead of leaving it `running` until the time budget fails it. `lease_id` names the attempt
-- holding the claim: renewals, releases and completions of any other attempt change nothing.
-- Defaults keep claims made by workers of the previous version valid during a rolling update.
ALTER TABLE analysis_claims ADD COLUMN renewed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE analysis_claims ADD COLUMN lease_id UUID NOT NULL DEFAULT gen_random_uuid();
UPDATE analysis_claims SET renewed_at = claimed_at;
CREATE INDEX analysis_claims_renewed_at ON analysis_claims (renewed_at);
