DROP INDEX deployments_one_per_delivery;
DROP INDEX deployments_one_per_build;
ALTER TABLE deployments DROP COLUMN delivery_id, DROP COLUMN started_at, DROP COLUMN branch;
