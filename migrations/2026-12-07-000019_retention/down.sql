DROP INDEX incidents_closed_at;
DROP INDEX alerts_resolved_at;
DROP INDEX raw_payloads_received_brin;
