DROP INDEX incidents_user_running;
DROP TABLE analysis_claims;
