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

#[cfg(test)]
mod tests {
    /// The spellings the configuration's `ssl_mode` maps to (gateway/config/src/modes.rs) are
    /// ones sqlx knows: a connector never falls back to a weaker mode.
    #[test]
    fn every_configured_ssl_mode_is_known_to_sqlx() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert!(m.parse::<sqlx::postgres::PgSslMode>().is_ok(), "{m}");
        }
        for m in [
            "disabled",
            "preferred",
            "required",
            "verify_ca",
            "verify_identity",
        ] {
            assert!(m.parse::<sqlx::mysql::MySqlSslMode>().is_ok(), "{m}");
        }
        assert!("verify_full".parse::<sqlx::postgres::PgSslMode>().is_err());
    }
}
