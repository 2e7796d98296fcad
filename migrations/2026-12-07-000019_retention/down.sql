DROP INDEX incidents_merged_into;
DROP INDEX alert_deliveries_opened;
DROP INDEX alert_deliveries_alert;
DROP INDEX incidents_closed_at;
DROP INDEX alerts_resolved_at;
DROP INDEX raw_payloads_received_brin;
