//! Personal access keys: the key as JSON beside the columns it is found by (its owner, its
//! secret's digest). Revocation replaces the row in the commit that audits it.

use crate::{
    codec::{db, json, ms, parse},
    sql_store::SqlStore,
};
use airlock_gateway_domain::{
    access_keys::AccessKey,
    ports::{AccessKeyStore, StoreError},
};
use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};

const UPSERT: &str = "INSERT INTO access_keys (id, owner_key, secret_sha256, body, created_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body";

pub async fn put(tx: &mut Transaction<'_, Any>, k: &AccessKey) -> Result<(), StoreError> {
    sqlx::query(UPSERT)
        .bind(k.id.clone())
        .bind(k.owner_key())
        .bind(k.secret_sha256.clone())
        .bind(json(k)?)
        .bind(ms(k.created_at))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

fn key_from(body: &str) -> Result<AccessKey, StoreError> {
    parse(body)
}

#[async_trait]
impl AccessKeyStore for SqlStore {
    async fn access_key_by_digest(
        &self,
        secret_sha256: &str,
    ) -> Result<Option<AccessKey>, StoreError> {
        let row = sqlx::query("SELECT body FROM access_keys WHERE secret_sha256 = $1")
            .bind(secret_sha256.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| key_from(&r.try_get::<String, _>("body").map_err(db)?))
            .transpose()
    }

    async fn access_keys_of_owner(&self, owner_key: &str) -> Result<Vec<AccessKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM access_keys WHERE owner_key = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(owner_key.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| key_from(&r.try_get::<String, _>("body").map_err(db)?))
            .collect()
    }
}
