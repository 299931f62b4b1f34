//! Cases nobody decided in time: expired on the next read, and by the sweeper.

use super::act::{next, Step};
use super::open::case_event;
use crate::service::{store_err, Gateway};
use airlock_gateway_domain::{
    audit::types,
    review::{CaseStatus, ReviewCase},
    unix_ms, ExecutionErrorCode, ExecutionStatus, GatewayError,
};
use serde_json::json;

/// Cases the sweeper expires per pass.
const SWEEP_BATCH: u32 = 100;

impl Gateway {
    /// The case as it is now: expired if its time has come.
    pub(super) async fn expire_if_due(&self, case: ReviewCase) -> Result<ReviewCase, GatewayError> {
        if !case.is_expired_at(self.now()) {
            return Ok(case);
        }
        let id = case.id.clone();
        match self.expire(case).await? {
            Step::Done(c) => Ok(*c),
            // Decided or expired by someone else meanwhile: read what they left.
            Step::Stale => self
                .deps
                .store
                .case(&id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| GatewayError::internal("a case vanished")),
        }
    }

    async fn expire(&self, mut case: ReviewCase) -> Result<Step, GatewayError> {
        case.status = CaseStatus::Expired;
        let event = case_event(
            types::REVIEW_EXPIRED,
            next(&mut case, self.now()),
            json!({}),
        );
        let closed = self
            .close_held(
                &case,
                ExecutionStatus::Cancelled,
                ExecutionErrorCode::ReviewExpired,
            )
            .await?;
        self.commit_case(case, closed, vec![event]).await
    }

    /// Expires pending cases past their time (the sweeper's pass); returns how many.
    pub async fn expire_cases(&self) -> Result<usize, GatewayError> {
        let due = self
            .deps
            .store
            .cases_expiring(unix_ms(self.now()), SWEEP_BATCH)
            .await
            .map_err(store_err)?;
        let mut expired = 0;
        for case in due {
            if let Step::Done(_) = self.expire(case).await? {
                expired += 1;
            }
        }
        if let Ok(n) = self.deps.store.count_cases(CaseStatus::Pending).await {
            metrics::gauge!(crate::metric::REVIEW_CASES_PENDING).set(n as f64);
        }
        Ok(expired)
    }
}
