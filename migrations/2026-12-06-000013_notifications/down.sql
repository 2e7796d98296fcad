DROP TABLE notification_deliveries;
DROP TABLE notification_targets;
ALTER TABLE incidents DROP COLUMN slack_channel;
