//! Gateway state in SQLite (embedded default) or PostgreSQL (several replicas), through sqlx's
//! `Any` driver so both run the same queries. Migrations live in `migrations/sqlite` and
//! `migrations/postgres`, embedded at build time.

mod access_keys;
mod audit_rows;
mod batch;
mod codec;
mod commit;
mod listing;
mod reviews;
mod sql_store;
mod stats;
mod usage;
mod webhooks;

pub use sql_store::{Backend, SqlStore, StoreOpenError};
