//! The gateway's sense of time and its source of identifiers, as ports.
//!
//! Core never reads the wall clock or mints an id itself: it asks the [`Clock`] and the
//! [`IdGenerator`] among its dependencies, so that tests can fix both and replay a pipeline
//! exactly (`clippy.toml` bans the direct calls everywhere else). Monotonic `Instant::now()`
//! for measuring durations and deadlines stays allowed: it never reaches a record.

use crate::{ExecutionId, SessionId};
use time::OffsetDateTime;

/// Wall-clock time, truncated to milliseconds (the precision the store keeps).
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Identifiers for sessions, executions, decisions and audit events. Ids sort by creation time
/// (UUIDv7) so the store and the logs list them in order.
pub trait IdGenerator: Send + Sync {
    /// A fresh UUID; every other id is derived from one.
    fn uuid(&self) -> uuid::Uuid;

    fn session_id(&self) -> SessionId {
        SessionId::from_uuid(self.uuid())
    }

    fn execution_id(&self) -> ExecutionId {
        ExecutionId::from_uuid(self.uuid())
    }

    /// The id of a policy decision or an audit event (hyphenated UUID text).
    fn event_id(&self) -> String {
        self.uuid().to_string()
    }

    /// An unguessable secret (a personal access key's): hex of at least 240 random bits.
    fn secret(&self) -> String;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one reading of the wall clock
    fn now(&self) -> OffsetDateTime {
        truncate_to_ms(OffsetDateTime::now_utc())
    }
}

/// UUIDv7 from the system clock and the OS's random numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemIds;

impl IdGenerator for SystemIds {
    #[allow(clippy::disallowed_methods)] // the one place ids are minted
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }

    /// Two UUIDv4 from the OS's random numbers (`getrandom`): 244 random bits.
    #[allow(clippy::disallowed_methods)] // secrets come from the OS, not the id sequence
    fn secret(&self) -> String {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }
}

/// `t` without its sub-millisecond part.
pub fn truncate_to_ms(t: OffsetDateTime) -> OffsetDateTime {
    let ms = t.millisecond();
    t.replace_nanosecond(u32::from(ms) * 1_000_000).unwrap_or(t)
}
