-- Leases of database credentials the gateway issued, until revoked: a gateway that crashed
-- mid-query leaves them open, and the sweep revokes them.
CREATE TABLE credential_leases (
    lease_hash  TEXT PRIMARY KEY,
    lease_id    TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    connector   TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX credential_leases_open ON credential_leases (revoked_at, instance_id);
