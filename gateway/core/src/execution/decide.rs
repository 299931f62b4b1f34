//! Step 3: policy decides on the request, the session and the code's facts; SQL the analyser
//! did not accept whole is refused whatever the bundle says.

use crate::service::Gateway;
use airlock_gateway_domain::{
    policy_input::{Action, CodeFacts, PolicyInput, RequestFacts},
    Decision, ExecutionRequest, GatewayError, Principal, Session,
};

impl Gateway {
    pub(crate) fn decide_execution(
        &self,
        p: &Principal,
        session: &Session,
        executions: u64,
        req: &ExecutionRequest,
        running_egress: Vec<String>,
        facts: &CodeFacts,
    ) -> Result<(PolicyInput, Decision), GatewayError> {
        let mut input = self.input(
            Action::ExecutionRun,
            p,
            Some(session),
            executions,
            self.request_facts(req, running_egress),
        );
        input.analysis = Some(facts.clone());
        let decision = self.decide(&input)?;
        let decision = crate::connectors::enforce_sql_analysis(decision, facts.sql.as_ref());
        Ok((input, decision))
    }

    /// What policy sees of the request beside the code's analysis.
    fn request_facts(&self, req: &ExecutionRequest, running_egress: Vec<String>) -> RequestFacts {
        RequestFacts {
            language: Some(req.language.as_str().into()),
            code_bytes: Some(req.code.len() as u64),
            timeout_seconds: req.timeout_seconds,
            packages: req.packages.clone(),
            egress: req.egress.clone(),
            connector: req.connector.clone(),
            connector_labels: req
                .connector
                .as_deref()
                .map(|c| self.connector_labels(c))
                .unwrap_or_default(),
            // SQL from a running execution is decided knowing that execution's egress.
            running_egress,
            ..Default::default()
        }
    }
}
