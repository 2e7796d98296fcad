ALTER TABLE alerts DROP COLUMN description, DROP COLUMN runbook_url;
