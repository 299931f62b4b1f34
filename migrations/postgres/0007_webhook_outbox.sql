-- Signed webhooks of review cases: each event for each endpoint, written in the commit of the
-- change it tells about, until the endpoint acknowledges it (delivered_ms). Ids are UUIDv7:
-- their order is the order of delivery per endpoint.
CREATE TABLE webhook_outbox (
    id               TEXT PRIMARY KEY,
    endpoint         TEXT NOT NULL,
    body             TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    delivered_ms     BIGINT,
    last_error       TEXT
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox (endpoint, delivered_ms, id);
