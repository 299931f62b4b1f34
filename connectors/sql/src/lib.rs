//! Warehouse connectors over sqlx. Each query connects with the credential the broker issued
//! for it (never a pooled login), runs in a transaction that is read-only unless policy granted
//! a write, under a statement timeout, and disconnects.
//!
//! sqlx also lives in the state store; the two uses are different databases with different
//! lifetimes (a pool for the gateway's state, one connection per query here), so each adapter
//! keeps its own.

mod common;
mod mysql;
mod postgres;

pub use mysql::{MySqlConnector, MySqlSettings};
pub use postgres::{PostgresConnector, PostgresSettings};
