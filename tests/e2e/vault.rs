//! OpenBao for the end-to-end tests (the service lives in the test crate's library, shared with
//! the benchmark).

pub use airlock_tests::vault::*;
