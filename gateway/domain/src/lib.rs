//! Domain types and ports of the Airlock gateway.
//!
//! Everything here is pure: no I/O, no SDKs. Adapters (store, audit sinks, sandbox backends,
//! policy engine, authentication) implement the ports in [`ports`]; the pipeline in
//! `airlock-gateway-core` is written only against them.

pub mod access_keys;
pub mod audit;
pub mod canonical_json;
pub mod cause;
pub mod clock;
pub mod connectors;
pub mod decision;
pub mod digest;
pub mod egress;
pub mod error;
pub mod execution;
pub mod files;
pub mod ids;
pub mod limits;
pub mod outputs;
pub mod policy_input;
pub mod ports;
pub mod principal;
pub mod replay;
pub mod review;
pub mod session;
pub mod stats;
pub mod urls;
pub mod usage;
pub mod webhooks;

pub use cause::Cause;
pub use clock::{Clock, IdGenerator, SystemClock, SystemIds};
pub use decision::{Decision, DecisionResult, Obligations, Violation};
pub use error::{ErrorCode, ExecutionErrorCode, GatewayError};
pub use execution::{
    Artifact, Execution, ExecutionError, ExecutionRequest, ExecutionStatus, Language, Output,
};
pub use files::{FileInfo, WorkspacePath};
pub use ids::{ExecutionId, SessionId};
pub use limits::Limits;
pub use principal::{Channel, Principal};
pub use session::{Session, SessionStatus};

/// Unix milliseconds of `t` (the state DB's time unit).
pub fn unix_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
