//! Personal access keys: the key as JSON beside the columns it is found by (its owner, its
//! secret's digest). Revocation replaces the row in the commit that audits it.

use crate::{
    batch::{Arg, Statement},
    codec::{db, json, ms, parse},
    sql_store::SqlStore,
};
use airlock_gateway_domain::{
    access_keys::AccessKey,
    ports::{AccessKeyStore, StoreError},
};
use async_trait::async_trait;
use sqlx::Row;

const UPSERT: &str = "INSERT INTO access_keys (id, owner_key, secret_sha256, body, created_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET body = excluded.body";

pub(crate) fn statement(k: &AccessKey) -> Result<Statement, StoreError> {
    Ok(Statement {
        sql: UPSERT.into(),
        args: vec![
            Arg::Text(k.id.clone()),
            Arg::Text(k.owner_key()),
            Arg::Text(k.secret_sha256.clone()),
            Arg::Text(json(k)?),
            Arg::Int(ms(k.created_at)),
        ],
    })
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
