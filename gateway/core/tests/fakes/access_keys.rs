//! Personal access keys in memory.

use super::store::{lock, MemStore};
use airlock_gateway_domain::{
    access_keys::AccessKey,
    ports::{AccessKeyStore, StoreError},
};
use async_trait::async_trait;

#[async_trait]
impl AccessKeyStore for MemStore {
    async fn access_key_by_digest(&self, digest: &str) -> Result<Option<AccessKey>, StoreError> {
        Ok(lock(&self.access_keys)
            .values()
            .find(|k| k.secret_sha256 == digest)
            .cloned())
    }

    async fn access_keys_of_owner(&self, owner_key: &str) -> Result<Vec<AccessKey>, StoreError> {
        let mut keys: Vec<AccessKey> = lock(&self.access_keys)
            .values()
            .filter(|k| k.owner_key() == owner_key)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(keys)
    }
}
