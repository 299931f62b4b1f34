-- Airlock gateway state (SQLite). Times are Unix milliseconds; structured values are JSON text.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    owner_key      TEXT NOT NULL,
    principal      TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_reason  TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    limits         TEXT NOT NULL,
    labels         TEXT NOT NULL,
    instance_id    TEXT NOT NULL
);
CREATE INDEX sessions_status ON sessions (status, instance_id);
CREATE INDEX sessions_owner ON sessions (owner_key);

CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    owner_key   TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX executions_session ON executions (session_id);

CREATE TABLE files (
    session_id     TEXT NOT NULL REFERENCES sessions (id),
    path           TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    classification TEXT,
    media_type     TEXT NOT NULL,
    PRIMARY KEY (session_id, path)
);

-- Every audit event, appended in the same transaction as the state change it records.
CREATE TABLE audit_outbox (
    chain_id     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    event_id     TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    subject      TEXT,
    hash         TEXT NOT NULL,
    body         TEXT NOT NULL,
    published_at BIGINT,
    PRIMARY KEY (chain_id, seq)
);
