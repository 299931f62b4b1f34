-- Executions as jobs: listing a session's history newest first, and finding the executions a
-- restart left unfinished (status queued or running).
CREATE INDEX executions_session_id ON executions (session_id, id);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX sessions_owner_id ON sessions (owner_key, id);
