//! Output inspection: the last check on everything that leaves a sandbox for the caller
//! (printed text as it streams, rich outputs, the error, SQL rows, files on download).
//!
//! The detectors (`airlock-gateway-outputs`) find personal data and the operator's named
//! patterns; policy (`output.inspect`) rules on each finding with the session's data labels and
//! the principal; the [`OutputGuard`] of one execution or download applies the rulings: the
//! value masked, or the output withheld. Secrets are not left to policy: the redactor removes
//! them before inspection, always.
//!
//! Policy is asked when a detector first finds something in a place (or the session's labels
//! changed since), not per chunk, and once more at the end with the totals, so rules that
//! count (`more than 10 e-mail addresses`) see the whole output. Policy that cannot be
//! evaluated withholds the output (fail closed).

mod guard;
mod report;

pub(crate) use guard::{blocks, inspect_input, OutputGuard};
pub(crate) use report::Inspected;

pub use airlock_gateway_outputs::NamedDetector;
use airlock_gateway_outputs::Scanner;
use std::sync::Arc;

/// The detectors of this gateway (`[outputs]` in the configuration).
#[derive(Clone)]
pub struct OutputInspection {
    pub(crate) scanner: Arc<Scanner>,
}

impl OutputInspection {
    /// The built-in detectors and the operator's named ones.
    pub fn new(named: &[NamedDetector]) -> Result<Self, regex::Error> {
        Ok(Self {
            scanner: Arc::new(Scanner::new(named)?),
        })
    }
}

impl crate::service::Gateway {
    /// A guard for the outputs of `session` (an execution's, or a download's).
    pub(crate) fn output_guard(
        &self,
        p: &airlock_gateway_domain::Principal,
        live: &crate::sessions::LiveSession,
        session_id: &airlock_gateway_domain::SessionId,
    ) -> OutputGuard {
        OutputGuard::new(guard::GuardContext {
            scanner: self.deps.outputs.scanner.clone(),
            policy: self.deps.policy.clone(),
            ids: self.deps.ids.clone(),
            principal: p.clone(),
            session_id: session_id.to_string(),
            executions: live.executions.load(std::sync::atomic::Ordering::SeqCst),
            labels: live.labels.clone(),
        })
    }
}
