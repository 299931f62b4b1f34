//! Row <-> domain conversions.

use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{ids::SessionId, ports::StoreError, session::SessionStatus, Session};
use sqlx::{any::AnyRow, Row};
use time::OffsetDateTime;

pub fn ms(t: OffsetDateTime) -> i64 {
    airlock_gateway_domain::unix_ms(t)
}

pub fn from_ms(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(Cause::new(e))
}

pub fn session_from_row(r: &AnyRow) -> Result<Session, StoreError> {
    let id: String = r.try_get("id").map_err(db)?;
    let status: String = r.try_get("status").map_err(db)?;
    Ok(Session {
        id: SessionId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("session id {id}")))?,
        owner: parse(&r.try_get::<String, _>("principal").map_err(db)?)?,
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        status_reason: r.try_get("status_reason").map_err(db)?,
        created_at: from_ms(r.try_get("created_at").map_err(db)?)?,
        expires_at: from_ms(r.try_get("expires_at").map_err(db)?)?,
        last_active_at: from_ms(r.try_get("last_active_at").map_err(db)?)?,
        limits: parse(&r.try_get::<String, _>("limits").map_err(db)?)?,
        labels: parse(&r.try_get::<String, _>("labels").map_err(db)?)?,
        instance_id: r.try_get("instance_id").map_err(db)?,
    })
}
