-- An incident's severity follows its firing alerts: the highest among them. The correlator
-- keeps a count of firing alerts per severity (critical, high, medium, low, info, unknown, the
-- order of the code's Severity::ALL), as it keeps firing_alert_count, so a resolve can tell
-- whether a worse alert still fires without reading the incident's alerts.
ALTER TABLE incidents ADD COLUMN firing_by_severity INTEGER[] NOT NULL DEFAULT '{0,0,0,0,0,0}';

UPDATE incidents i
SET firing_by_severity = ARRAY[a.critical, a.high, a.medium, a.low, a.info, a.unknown]
FROM (
    SELECT incident_id,
           count(*) FILTER (WHERE severity = 'critical')::int AS critical,
           count(*) FILTER (WHERE severity = 'high')::int AS high,
           count(*) FILTER (WHERE severity = 'medium')::int AS medium,
           count(*) FILTER (WHERE severity = 'low')::int AS low,
           count(*) FILTER (WHERE severity = 'info')::int AS info,
           count(*) FILTER (WHERE severity NOT IN ('critical', 'high', 'medium', 'low', 'info'))::int
               AS unknown
    FROM alerts
    WHERE status = 'firing' AND incident_id IS NOT NULL
    GROUP BY incident_id
) a
WHERE a.incident_id = i.id;
