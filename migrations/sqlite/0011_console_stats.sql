-- The console's overview: executions by hour, tenant, status and ending code, and when cases
-- were decided, counted from index-only scans without reading JSON bodies. `created_hour` is
-- `created_at / 3600000` (a column, so the planner knows how many groups to expect). Rows
-- written before this migration leave the new columns NULL and are not counted.
ALTER TABLE executions ADD COLUMN tenant TEXT;
ALTER TABLE executions ADD COLUMN end_code TEXT;
ALTER TABLE executions ADD COLUMN created_hour BIGINT;
ALTER TABLE review_cases ADD COLUMN decided_at BIGINT;
CREATE INDEX executions_hour ON executions (created_hour, status, end_code);
CREATE INDEX executions_tenant_hour ON executions (tenant, created_hour, status, end_code);
CREATE INDEX executions_owner_hour ON executions (owner_key, created_hour, status, end_code);
CREATE INDEX review_cases_tenant ON review_cases (tenant, status);
