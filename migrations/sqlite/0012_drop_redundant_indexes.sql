-- executions_session_id (session_id, id) and sessions_owner_id (owner_key, id) serve every
-- lookup the single-column indexes of 0001 served; those only cost every write a page more.
DROP INDEX IF EXISTS executions_session;
DROP INDEX IF EXISTS sessions_owner;
