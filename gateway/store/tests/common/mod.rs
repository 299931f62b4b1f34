//! The two backends the store tests run on: SQLite in a temp dir, and a fresh database on the
//! machine's PostgreSQL (AIRLOCK_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).

// Test data: unique database names straight from uuid.
#![allow(clippy::disallowed_methods, dead_code)]

use airlock_gateway_store::SqlStore;
use sqlx::{Connection, Executor};

pub struct Sqlite {
    pub store: SqlStore,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.db").display()
    );
    let store = SqlStore::connect(&url, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Sqlite { store, _dir: dir }
}

/// A store on a fresh PostgreSQL database; `drop_postgres` removes it.
pub async fn postgres() -> (SqlStore, String) {
    let admin = admin_url();
    let name = format!("airlock_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "{}/{name}",
        admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base)
    );
    let store = SqlStore::connect(&url, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (store, name)
}

pub async fn drop_postgres(store: SqlStore, name: &str) {
    store.close().await;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
        let _ = conn
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await;
    }
}

fn admin_url() -> String {
    std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}
