pub mod access_keys;
pub mod audit;
pub mod executions;
pub mod files;
pub mod ops;
pub mod policy;
pub mod replay;
pub mod reviews;
pub mod sessions;
pub mod usage;

use crate::error::{code, ApiError};
use airlock_gateway_domain::{ErrorCode, SessionId};

/// A malformed id is answered like an unknown one.
pub fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw)
        .ok_or_else(|| code(ErrorCode::SessionNotFound, format!("no session {raw}")))
}

/// A page cursor as this API gave it (an id of the listed kind), or 400.
pub fn cursor<T>(raw: Option<&str>, parse: fn(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
    raw.map(|c| {
        parse(c).ok_or_else(|| code(ErrorCode::InvalidRequest, "cursor is not one this API gave"))
    })
    .transpose()
}

/// An optional RFC 3339 time parameter as Unix ms, or 400 naming the parameter.
pub fn millis(raw: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    raw.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(airlock_gateway_domain::unix_ms)
            .map_err(|e| {
                code(
                    ErrorCode::InvalidRequest,
                    format!("{name} is not an RFC 3339 time: {e}"),
                )
            })
    })
    .transpose()
}
