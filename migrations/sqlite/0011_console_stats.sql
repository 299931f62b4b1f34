-- The console's overview: executions by time, tenant and ending code, and when cases were
-- decided, without reading JSON bodies. Rows written before this migration leave them NULL.
ALTER TABLE executions ADD COLUMN tenant TEXT;
ALTER TABLE executions ADD COLUMN end_code TEXT;
ALTER TABLE review_cases ADD COLUMN decided_at BIGINT;
CREATE INDEX executions_created ON executions (created_at);
CREATE INDEX executions_tenant_created ON executions (tenant, created_at);
CREATE INDEX executions_owner_created ON executions (owner_key, created_at);
CREATE INDEX review_cases_tenant ON review_cases (tenant, status);
