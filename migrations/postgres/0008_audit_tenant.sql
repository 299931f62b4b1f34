-- Tenant-scoped auditors read only their tenant's events: the tenant of the event's principal
-- (or a case's requester), kept beside the event. Events recorded before have none.
ALTER TABLE audit_outbox ADD COLUMN tenant TEXT;
CREATE INDEX audit_outbox_tenant ON audit_outbox (tenant, event_id);
