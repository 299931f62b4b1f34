//! A fresh PostgreSQL database per test on the shared test server.

use super::*;

/// A fresh PostgreSQL database for one test, dropped when the test ends.
pub struct PostgresDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PostgresDb {
    pub fn create() -> Self {
        let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("airlock_e2e_{}", free_port());
        let db = Self {
            url: format!(
                "{}/{name}",
                admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
            ),
            admin,
            name,
        };
        assert!(
            db.admin_sql(&format!("CREATE DATABASE {}", db.name)),
            "PostgreSQL must be reachable at {}",
            db.admin
        );
        db
    }

    fn admin_sql(&self, sql: &str) -> bool {
        Command::new("psql")
            .args([self.admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// One query's rows (`psql -tA`), trimmed.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        self.admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
