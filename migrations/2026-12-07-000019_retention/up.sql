-- Retention deletes what is due in small batches; these find it without reading the tables.
-- Raw bodies arrive in order: a BRIN index stays tiny and costs the storm next to nothing.
CREATE INDEX raw_payloads_received_brin ON raw_payloads USING brin (received_at);
-- Only resolved alerts and closed incidents are ever due; they go one user at a time.
CREATE INDEX alerts_resolved_at ON alerts (user_id, resolved_at) WHERE status = 'resolved';
CREATE INDEX incidents_closed_at ON incidents (user_id, (coalesce(resolved_at, updated_at)))
    WHERE status IN ('resolved', 'merged');
-- Deleting an alert or an incident follows the foreign keys that reference it: these let
-- PostgreSQL find the referencing rows instead of reading whole tables once per row deleted.
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);
CREATE INDEX alert_deliveries_opened ON alert_deliveries (opened_incident_id)
    WHERE opened_incident_id IS NOT NULL;
CREATE INDEX incidents_merged_into ON incidents (merged_into_incident_id)
    WHERE merged_into_incident_id IS NOT NULL;
