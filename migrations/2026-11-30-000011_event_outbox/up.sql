-- The outbox: an incident event is recorded in the transaction that makes the change, and is
-- on the INCIDENTS stream once `published`. A writer publishes after its commit and marks it;
-- what a crash between the two left unpublished, the correlator's relay publishes (with the
-- event id as `Nats-Msg-Id`, so a publish that did happen is dropped as a duplicate). Events
-- from before the outbox count as published (the default applies to existing rows without a
-- rewrite); new ones start unpublished.
ALTER TABLE incident_events ADD COLUMN published BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE incident_events ALTER COLUMN published SET DEFAULT false;
CREATE INDEX incident_events_unpublished ON incident_events (id) WHERE NOT published;
