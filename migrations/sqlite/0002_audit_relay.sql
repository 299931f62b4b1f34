-- The relay to Kafka and the audit query API.
-- Columns the query API filters on, taken from each event when it is recorded.
ALTER TABLE audit_outbox ADD COLUMN time_ms BIGINT;
ALTER TABLE audit_outbox ADD COLUMN actor TEXT;
ALTER TABLE audit_outbox ADD COLUMN session_id TEXT;
CREATE INDEX audit_outbox_actor ON audit_outbox (actor, event_id);
CREATE INDEX audit_outbox_session ON audit_outbox (session_id, event_id);
CREATE INDEX audit_outbox_time ON audit_outbox (time_ms);

-- One row per chain: how far the relay has published it, and which replica relays it.
CREATE TABLE audit_relay (
    chain_id      TEXT PRIMARY KEY,
    published_seq BIGINT NOT NULL DEFAULT 0,
    holder        TEXT,
    lease_until   BIGINT NOT NULL DEFAULT 0
);
