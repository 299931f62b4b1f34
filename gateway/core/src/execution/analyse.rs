//! Step 2 of every path that decides about code (an execution, `sql.airlock`, the policy dry
//! run): the size limit, then the facts of the code and, for a connector, of its SQL in the
//! connector's dialect. One function, so the dry run decides on exactly what a run would.

use crate::service::Gateway;
use airlock_gateway_domain::{
    execution::Language, policy_input::CodeFacts, ports::AnalysisError, ErrorCode, GatewayError,
};

impl Gateway {
    pub(crate) fn analyse(
        &self,
        language: Language,
        code: &str,
        connector: Option<&str>,
    ) -> Result<CodeFacts, GatewayError> {
        let limit = self.settings.limits.code_bytes as usize;
        if code.len() > limit {
            return Err(GatewayError::new(
                ErrorCode::CodeTooLarge,
                format!("the code is {} bytes; the limit is {limit}", code.len()),
            ));
        }
        let _span = tracing::info_span!("analyse", language = language.as_str()).entered();
        let mut facts = self.deps.analyzer.analyze(language, code).map_err(
            |AnalysisError::TooComplex(m)| GatewayError::new(ErrorCode::CodeTooComplex, m),
        )?;
        if let Some(name) = connector {
            let (dialect, schema) = self.connector_dialect(name);
            facts.sql = Some(self.deps.analyzer.analyze_sql(dialect, &schema, code));
        }
        Ok(facts)
    }

    /// The policy dry run: the decision `input` would get, with the gateway's own refusals of
    /// SQL it does not accept applied as for a real execution. Nothing is recorded or run.
    pub fn evaluate_code(
        &self,
        mut input: airlock_gateway_domain::policy_input::PolicyInput,
        code: Option<(Language, &str)>,
    ) -> Result<airlock_gateway_domain::Decision, GatewayError> {
        let connector = input.request.connector.clone();
        if let Some((language, text)) = code {
            input.analysis = Some(self.analyse(language, text, connector.as_deref())?);
        }
        let decision = self.decide(&input)?;
        let sql = input.analysis.as_ref().and_then(|a| a.sql.as_ref());
        Ok(crate::connectors::enforce_sql_analysis(decision, sql))
    }
}
