-- The RCA workers' sweeps claim incidents left `idle` (waiting for one of their user's analysis
-- slots, or whose `incidents.created` event was never handled), oldest first, every few seconds:
-- few incidents are idle at any time, so this index stays small however many incidents exist.
CREATE INDEX incidents_idle_created ON incidents (created_at) WHERE aurora_status = 'idle';
