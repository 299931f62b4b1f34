//! End-to-end tests: the real `airlock` binary (and its `airlock-agent`) against a real OpenID
//! Provider (npm oidc-provider), real bubblewrap sandboxes with a real Jupyter kernel, real
//! SQLite and PostgreSQL. One test binary with a shared harness (one OIDC provider per run).
//!
//! Needs `cargo build --workspace --bins` first and the test services of `.ci/run`.

mod harness;

mod audit;
mod audit_kafka;
mod audit_query;
mod auth;
mod bad_input;
mod chart;
mod connectors;
mod console;
mod crash_inputs;
mod data_scopes;
mod egress;
mod egress_attacks;
mod governed_sql;
mod isolation;
mod jobs;
mod jupyter;
mod kafka;
mod kubernetes;
mod lifecycle;
mod limits;
mod load;
mod mcp;
mod observability;
mod outputs;
mod packages;
mod policy_replay;
mod policy_source;
mod pool;
mod restart;
mod review;
mod review_webhooks;
mod runtime_imports;
mod sql_allowlist;
mod sse;
mod tenancy;
mod user_story;
mod vault;
