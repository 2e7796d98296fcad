DROP INDEX incidents_idle_created;
