//! Step 5: the code runs, in the sandbox with the decision's grants (`sandbox.rs`: its output
//! streamed to the job as it comes), or as SQL through a connector in the gateway
//! (`connector.rs`: credentials never enter the sandbox).

use super::{prepare::Ready, record::RunFailure};
use crate::{jobs::Job, service::Gateway};
use airlock_gateway_domain::{audit::NewEvent, ports::JobOutcome, Principal};
use std::sync::Arc;

/// What enforcing produced, for inspection and the record.
pub(crate) struct Enforced {
    pub outcome: JobOutcome,
    /// What the sandbox printed and displayed, redacted as it streamed (sandbox runs).
    pub streamed: Option<crate::jobs::Streamed>,
    /// Egress connections, credential and statement events.
    pub events: Vec<NewEvent>,
    /// Labels the session takes on from the connector it read.
    pub labels: Vec<String>,
    /// The output policy held for a reviewer (set by inspection).
    pub held: Option<super::outputs::HeldForReview>,
}

impl Gateway {
    pub(super) async fn enforce(
        &self,
        p: &Principal,
        ready: &Ready,
        job: Option<&Arc<Job>>,
    ) -> Result<Enforced, RunFailure> {
        match ready.exec.decision.obligations.connector.clone() {
            Some(grant) => self.on_connector(p, ready, &grant).await,
            None => self.in_sandbox(p, ready, job).await,
        }
    }
}
