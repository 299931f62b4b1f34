pub mod audit;
pub mod executions;
pub mod files;
pub mod ops;
pub mod policy;
pub mod sessions;

use crate::error::{code, ApiError};
use airlock_gateway_domain::{ErrorCode, SessionId};

/// A malformed id is answered like an unknown one.
pub fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw)
        .ok_or_else(|| code(ErrorCode::SessionNotFound, format!("no session {raw}")))
}
