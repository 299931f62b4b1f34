-- The audit query filters by event type (alone or with a time range).
CREATE INDEX audit_outbox_type ON audit_outbox (event_type, event_id);
