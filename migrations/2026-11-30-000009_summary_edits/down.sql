ALTER TABLE incidents DROP COLUMN aurora_summary_edited_by;
