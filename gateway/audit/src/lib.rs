//! Audit sinks beyond the outbox, the audit signing key, and the verifier behind
//! `airlock audit verify`.

mod file_sink;
mod signing;
mod verify;

pub use file_sink::JsonlFileSink;
pub use signing::{AuditSigningKey, KeyError, TrustedKeys};
pub use verify::{verify_file, verify_reader, verify_reader_with, VerifyOptions};
