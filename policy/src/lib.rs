//! The Rego policy engine (regorus) behind the gateway's `PolicyEngine` port.
//!
//! A bundle is a directory in OPA's layout: `.manifest` (revision, roots), `data.json`, and
//! `*.rego` files (one package per folder, `x_test.rego` beside `x.rego`). The default bundle in
//! `policy/bundle/` is embedded in the binary; `policy.bundle_dir` in config replaces it.
//! The entry point is `data.airlock.decision.decision`.

mod archive;
mod bundle;
mod engine;
mod holder;
mod mask;
pub mod revision;
pub mod signing;
mod testing;

pub use archive::{read_tar_gz, write_tar_gz};
pub use bundle::{read_dir_raw, Bundle, LoadError};
pub use engine::{RegoPolicy, DEFAULT_TIME_LIMIT};
pub use holder::{BundleSource, HolderStatus, PolicyHolder};
pub use testing::{run_tests, test_rules, TestOutcome};

/// The JSON schema of the policy input, generated from the Rust types.
pub fn input_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(
        airlock_gateway_domain::policy_input::PolicyInput
    ))
    .unwrap_or_default()
}
