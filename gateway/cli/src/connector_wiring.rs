//! Wires `[vault]` and `[[connectors]]`: the Vault broker, one connector per entry, the key
//! that hashes lease ids in audit events.

use airlock_connector_sql::{MySqlConnector, MySqlSettings, PostgresConnector, PostgresSettings};
use airlock_connector_vault::{VaultAuth, VaultBroker, VaultSettings};
use airlock_gateway_config::{Config, ConnectorKind, VaultAuthKind};
use airlock_gateway_core::{ConnectorEntry, Connectors};
use anyhow::Context;
use std::{sync::Arc, time::Duration};

pub fn connectors(cfg: &Config) -> anyhow::Result<Connectors> {
    let Some(v) = &cfg.vault else {
        return Ok(Connectors::default());
    };
    let mount = |default: &str| v.auth_mount.clone().unwrap_or_else(|| default.into());
    let auth = match v.auth {
        VaultAuthKind::Approle => VaultAuth::AppRole {
            mount: mount("approle"),
            role_id: v.role_id.clone().unwrap_or_default(),
            secret_id: std::fs::read_to_string(v.secret_id_file.clone().unwrap_or_default())
                .context("reading vault.secret_id_file")?
                .trim()
                .to_owned(),
        },
        VaultAuthKind::Jwt => VaultAuth::Jwt {
            mount: mount("jwt"),
            role: v.role.clone().unwrap_or_default(),
            jwt_path: v.jwt_path.clone().unwrap_or_default(),
        },
        VaultAuthKind::Kubernetes => VaultAuth::Kubernetes {
            mount: mount("kubernetes"),
            role: v.role.clone().unwrap_or_default(),
            jwt_path: v
                .jwt_path
                .clone()
                .unwrap_or_else(|| "/var/run/secrets/kubernetes.io/serviceaccount/token".into()),
        },
        VaultAuthKind::Token => {
            VaultAuth::Token(std::env::var(&v.token_env).with_context(|| {
                format!(
                    "vault.auth = \"token\" reads the token from ${}",
                    v.token_env
                )
            })?)
        }
    };
    let renews = !matches!(auth, VaultAuth::Token(_));
    let broker = Arc::new(VaultBroker::new(VaultSettings {
        address: v.address.clone(),
        auth,
        timeout: Duration::from_secs(v.timeout_seconds),
        attempts: v.attempts,
    }));
    if renews {
        let b = broker.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(300)).await;
                if let Err(e) = b.renew_token().await {
                    tracing::warn!(error = %e, "renewing the Vault token failed; the next call logs in again");
                }
            }
        });
    }
    let mut by_name = std::collections::HashMap::new();
    for c in &cfg.connectors {
        let connector: Arc<dyn airlock_gateway_domain::connectors::SqlConnector> =
            if c.kind == ConnectorKind::Mysql {
                Arc::new(MySqlConnector::new(MySqlSettings {
                    host: c.host.clone(),
                    port: c.port,
                    database: c.database.clone(),
                    ssl_mode: c.ssl_mode.mysql().into(),
                    connect_timeout: Duration::from_secs(10),
                }))
            } else {
                Arc::new(PostgresConnector::new(PostgresSettings {
                    host: c.host.clone(),
                    port: c.port,
                    database: c.database.clone(),
                    default_schema: c.default_schema.clone(),
                    ssl_mode: c.ssl_mode.postgres().into(),
                    connect_timeout: Duration::from_secs(10),
                }))
            };
        by_name.insert(
            c.name.clone(),
            ConnectorEntry {
                connector,
                vault_mount: c.vault_mount.clone(),
                labels: c.labels.clone(),
                max_rows: c.max_rows,
            },
        );
    }
    Ok(Connectors {
        broker: Some(broker),
        by_name,
        lease_grace: Duration::from_secs(v.lease_grace_seconds),
        lease_hash_key: lease_hash_key(&cfg.state.dir.join("lease-hash.key"))?,
        in_use: Default::default(),
    })
}

/// A random key kept in the state directory (0600), so lease hashes correlate across restarts.
fn lease_hash_key(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(k) = std::fs::read(path) {
        if k.len() == 32 {
            return Ok(k);
        }
    }
    let mut key = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| anyhow::anyhow!("no randomness for the lease hash key"))?;
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(&key)?;
    Ok(key)
}
