-- Who last wrote the incident's summary by hand (PATCH): an analysis finishing afterwards
-- keeps that summary and adds its own as a thought. NULL: the summary is the analysis' own.
ALTER TABLE incidents ADD COLUMN aurora_summary_edited_by VARCHAR(255);
