//! What the console's overview counts: executions by status over time, denials by code,
//! pending review cases and the time reviewers take to decide.

use async_trait::async_trait;

use crate::ports::StoreError;

/// Whose activity an overview counts: everything (a gateway auditor), one tenant (a tenant
/// auditor), or one principal's own (everyone else).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsScope {
    All,
    Tenant(String),
    Owner(String),
}

#[derive(Clone, Debug)]
pub struct OverviewQuery {
    pub scope: StatsScope,
    /// Unix milliseconds: counts from here on.
    pub since_ms: i64,
    /// Width of one time bucket, milliseconds (at least 1).
    pub bucket_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    /// (bucket start ms, status, executions), by bucket.
    pub executions: Vec<(i64, String, u64)>,
    /// (violation code, denied executions), most first, at most 10.
    pub denials: Vec<(String, u64)>,
    /// Cases waiting for a decision now.
    pub pending_cases: u64,
    /// Cases decided since `since_ms`, and the mean and longest time to decide them (ms).
    pub decided_cases: u64,
    pub decision_ms_mean: Option<i64>,
    pub decision_ms_max: Option<i64>,
}

/// Aggregates over the stored executions and cases.
#[async_trait]
pub trait StatsStore: Send + Sync {
    async fn overview(&self, q: &OverviewQuery) -> Result<Overview, StoreError>;
}
