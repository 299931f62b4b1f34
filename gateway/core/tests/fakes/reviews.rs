//! Review cases in the in-memory store: versioned like the database's.

use super::store::{lock, MemStore};
use airlock_gateway_domain::{ports::WebhookOutbox, webhooks::WebhookDelivery};
use airlock_gateway_domain::{
    ports::{Change, ReviewStore, StoreError},
    review::{scope_of, CaseId, CaseQuery, CaseStatus, ReviewCase},
    unix_ms,
};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Refuses a commit whose case is not at the version after the stored one.
pub fn check_versions(
    cases: &BTreeMap<String, ReviewCase>,
    changes: &[Change],
) -> Result<(), StoreError> {
    for c in changes {
        if let Change::PutCase(case) = c {
            let stored = cases.get(case.id.as_str()).map(|c| c.version);
            let fits = match stored {
                None => case.version <= 1,
                Some(v) => case.version == v + 1,
            };
            if !fits {
                return Err(StoreError::Conflict(format!("case {}", case.id)));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl ReviewStore for MemStore {
    async fn case(&self, id: &CaseId) -> Result<Option<ReviewCase>, StoreError> {
        Ok(lock(&self.cases).get(id.as_str()).cloned())
    }

    async fn cases(&self, q: &CaseQuery) -> Result<Vec<ReviewCase>, StoreError> {
        Ok(lock(&self.cases)
            .values()
            .rev()
            .filter(|c| q.status.is_none_or(|s| s == c.status))
            .filter(|c| q.tenant.as_ref().is_none_or(|t| t.as_deref() == c.tenant()))
            .filter(|c| {
                q.requester
                    .as_ref()
                    .is_none_or(|r| *r == c.requester.owner_key())
            })
            .filter(|c| {
                q.reviewer_tenant.as_ref().is_none_or(|t| {
                    let scope = c.reviewer_scope();
                    scope == "*" || scope == scope_of(t.as_deref())
                })
            })
            .filter(|c| q.before.as_ref().is_none_or(|b| c.id < *b))
            .filter(|c| {
                q.created_since_ms
                    .is_none_or(|t| unix_ms(c.created_at) >= t)
            })
            .filter(|c| q.created_until_ms.is_none_or(|t| unix_ms(c.created_at) < t))
            .take(q.limit as usize)
            .cloned()
            .collect())
    }

    async fn count_cases(&self, status: CaseStatus) -> Result<u64, StoreError> {
        Ok(lock(&self.cases)
            .values()
            .filter(|c| c.status == status)
            .count() as u64)
    }

    async fn cases_expiring(&self, now_ms: i64, limit: u32) -> Result<Vec<ReviewCase>, StoreError> {
        Ok(lock(&self.cases)
            .values()
            .filter(|c| c.status == CaseStatus::Pending && unix_ms(c.expires_at) <= now_ms)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl WebhookOutbox for MemStore {
    async fn webhooks_pending(
        &self,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        Ok(lock(&self.webhooks)
            .values()
            .filter(|(d, done)| d.endpoint == endpoint && done.is_none())
            .take(limit as usize)
            .map(|(d, _)| d.clone())
            .collect())
    }

    async fn webhook_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        if let Some(entry) = lock(&self.webhooks).get_mut(id) {
            entry.1 = Some(at_ms);
        }
        Ok(())
    }

    async fn webhook_failed(
        &self,
        id: &str,
        next_attempt_ms: i64,
        _error: &str,
    ) -> Result<(), StoreError> {
        if let Some((d, _)) = lock(&self.webhooks).get_mut(id) {
            d.attempts += 1;
            d.next_attempt_ms = next_attempt_ms;
        }
        Ok(())
    }
}
