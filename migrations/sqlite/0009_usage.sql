-- Usage metering: one row per UTC day, tenant ('' for none) and principal, added to in the
-- commit of what it meters (an execution's end, a review case's opening).
CREATE TABLE usage_daily (
    day TEXT NOT NULL,
    tenant TEXT NOT NULL,
    principal TEXT NOT NULL,
    executions BIGINT NOT NULL DEFAULT 0,
    cpu_ms BIGINT NOT NULL DEFAULT 0,
    memory_mib_ms BIGINT NOT NULL DEFAULT 0,
    egress_bytes BIGINT NOT NULL DEFAULT 0,
    warehouse_rows BIGINT NOT NULL DEFAULT 0,
    review_cases BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tenant, principal)
);
CREATE INDEX usage_daily_tenant ON usage_daily (tenant, day);
