-- Notifications: the notifier's durable record of what it must tell Slack, PagerDuty and
-- outgoing webhooks about each incident, so a delivery survives restarts and is made once.

-- The Slack channel of the incident's message (its `ts` is `slack_message_ts`).
ALTER TABLE incidents ADD COLUMN slack_channel VARCHAR(50);

-- Where an incident is announced: one row per destination its user's routing rules chose
-- (`slack:<channel>`, `pagerduty:<rule>`, `webhook:<endpoint>`), with what that destination
-- already holds. Rows are only added: a rule an incident matches later (its severity rose) adds
-- a destination, and one it no longer matches keeps the message it has.
CREATE TABLE notification_targets (
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    target VARCHAR(300) NOT NULL,
    -- The delivery loop that serves it: `slack`, `pagerduty` or `webhook:<endpoint>`.
    endpoint VARCHAR(200) NOT NULL,
    -- The routing rule that chose it.
    rule VARCHAR(200) NOT NULL,
    -- Nothing is sent before this (the rule's `notify_after_secs` after the incident opened).
    announce_after TIMESTAMPTZ NOT NULL,
    -- Something was sent: an incident resolved within the delay is never announced.
    announced BOOLEAN NOT NULL DEFAULT false,
    -- Slack: the message kept up to date.
    slack_channel VARCHAR(50),
    slack_ts VARCHAR(50),
    -- PagerDuty: `trigger` or `resolve`, as last sent.
    pagerduty_state VARCHAR(20),
    -- A notifier is sending to this destination for this incident until then (by PostgreSQL's
    -- clock): one delivery at a time per incident and destination, whichever replica sends it.
    locked_until TIMESTAMPTZ,
    -- The next `sync` waits until then: a Slack message is updated every few seconds at most.
    sync_after TIMESTAMPTZ,
    PRIMARY KEY (incident_id, target)
);

-- One row per thing to send, keyed by the event that caused it, so a redelivered event, a
-- restart or a second notifier replica records it once. Rows of one incident and destination
-- are sent in id order: an update waits for the message it updates.
CREATE TABLE notification_deliveries (
    id BIGSERIAL PRIMARY KEY,
    incident_id UUID NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    target VARCHAR(300) NOT NULL,
    endpoint VARCHAR(200) NOT NULL,
    -- `sync` (bring the Slack message or the PagerDuty alert to the incident's state),
    -- `summary` (the analysis as a threaded Slack reply) or `event` (one outgoing webhook).
    action VARCHAR(20) NOT NULL,
    -- `created`, or the `incident_events` id of the change.
    event_key VARCHAR(40) NOT NULL,
    -- `incident.created`, `incident.correlated` … (the webhook's event type).
    event_type VARCHAR(40) NOT NULL,
    -- `pending`, then `delivered`, `coalesced` (a later sync of the same state did it),
    -- `skipped` (resolved within the rule's delay) or `dead` (failed for good; `last_error`).
    state VARCHAR(12) NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- Set while an attempt runs; still set when the row is claimed again, the attempt was cut
    -- off (its notifier died) and may have reached the destination.
    attempt_started_at TIMESTAMPTZ,
    -- When the first attempt that may have reached the destination without an answer began
    -- (cut off, timed out): until the delivery is sent, each attempt first looks for what that
    -- one may have posted.
    in_doubt_since TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    UNIQUE (incident_id, target, action, event_key)
);
CREATE INDEX notification_deliveries_queue ON notification_deliveries (endpoint, incident_id, target, id)
    WHERE state = 'pending';
CREATE INDEX notification_deliveries_dead ON notification_deliveries (finished_at)
    WHERE state = 'dead';
