-- The causes an analysis ranked, each with the facts behind it, so the console can show them
-- ranked rather than only inside the Markdown summary. Written with the analysis' outcome, in
-- the same transaction; an analysis that runs again replaces its incident's rows.
CREATE TABLE incident_hypotheses (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    -- 1 is the most likely.
    rank INTEGER NOT NULL,
    cause TEXT NOT NULL,
    -- In [0, 1].
    confidence DOUBLE PRECISION NOT NULL,
    evidence TEXT[] NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX incident_hypotheses_incident ON incident_hypotheses (incident_id, rank);
