-- Bus messages that could not be processed (undecodable, or failing on every retry): kept with
-- their reason and payload, so nothing is lost and the stream is never blocked; replayable.
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    stream VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    consumer VARCHAR(255) NOT NULL,
    reason TEXT NOT NULL,
    payload BYTEA NOT NULL,
    deliveries INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    replayed_at TIMESTAMP
);
CREATE INDEX dead_letters_created ON dead_letters (created_at DESC);
