-- Compliance review: one case per held execution. `version` grows with every change; a write
-- applies only over the version it read, so two reviewers deciding at once cannot both move it.
CREATE TABLE review_cases (
    id            TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    status        TEXT NOT NULL,
    tenant        TEXT,
    -- Which reviewers may see it: `*` (any tenant) or `t:` and the requester's tenant.
    reviewer_scope TEXT NOT NULL,
    requester_key TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    body          TEXT NOT NULL
);
-- A reviewer's queue (status and scope, newest first), a requester's own cases, and the
-- sweeper's pending cases past their expiry.
CREATE INDEX review_cases_queue ON review_cases (status, reviewer_scope, id);
CREATE INDEX review_cases_scope ON review_cases (reviewer_scope, id);
CREATE INDEX review_cases_requester ON review_cases (requester_key, id);
CREATE INDEX review_cases_expiry ON review_cases (status, expires_at);
