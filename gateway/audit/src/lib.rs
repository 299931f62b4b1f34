//! Audit sinks beyond the outbox, and the verifier behind `airlock audit verify`.

mod file_sink;
mod verify;

pub use file_sink::JsonlFileSink;
pub use verify::{verify_file, verify_reader};
