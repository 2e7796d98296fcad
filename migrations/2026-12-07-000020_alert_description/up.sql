-- What the vendor says about an alert beyond its title, and its runbook link: the analyst reads
-- the description, the API serves both. Nullable, so adding them rewrites nothing.
ALTER TABLE alerts ADD COLUMN description TEXT, ADD COLUMN runbook_url TEXT;
