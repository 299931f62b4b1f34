//! Column masks and row filters on the way to the database: the grant's governed tables turn
//! the analysed statement into a plan the connector completes with their columns (the rewrite
//! is the analyser's, `airlock_gateway_analysis::sql::govern`). A statement that writes a
//! governed table or cannot be rewritten safely never gets a credential.

use super::ConnectorEntry;
use crate::service::Gateway;
use airlock_gateway_domain::{
    connectors::{ConnectorGrant, SqlFacts, SqlRefusal, StatementPlan, TableRules},
    execution::ExecutionError,
    ports::{JobEnd, JobOutcome},
    ExecutionErrorCode,
};
use std::{collections::BTreeMap, time::Duration};

impl Gateway {
    /// The plan for the analysed statement under the grant's governed tables.
    pub(super) fn statement_plan(
        &self,
        entry: &ConnectorEntry,
        grant: &ConnectorGrant,
        facts: Option<&SqlFacts>,
    ) -> Result<Box<dyn StatementPlan>, SqlRefusal> {
        // enforce_sql_analysis refused the execution if there is no canonical statement.
        let canonical = facts
            .and_then(|f| f.canonical.as_deref())
            .unwrap_or_default();
        let c = &entry.connector;
        self.deps
            .analyzer
            .plan_sql(c.dialect(), c.default_schema(), canonical, &grant.governed)
    }
}

/// A statement refused at planning or by the rewrite: the execution fails with the refusal's
/// code and hint, nothing ran.
pub(super) fn refused(r: &SqlRefusal, duration: Duration) -> JobOutcome {
    let mut o = JobOutcome::new(JobEnd::Failed, duration);
    o.error = Some(ExecutionError {
        name: "SqlRefused".into(),
        value: format!("{} ({})", r.message, r.hint),
        traceback: vec![],
        code: Some(ExecutionErrorCode::Withheld(r.code.clone())),
    });
    o
}

/// What the caller is told about the governed tables a statement read: which columns came
/// masked and which tables' rows were filtered, so a model does not mistake `****` for data.
pub(super) fn summary(
    plan: &dyn StatementPlan,
    governed: &BTreeMap<String, TableRules>,
) -> Option<serde_json::Value> {
    let tables = plan.governed_tables();
    if tables.is_empty() {
        return None;
    }
    let by_name: BTreeMap<String, &TableRules> = governed
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let each: serde_json::Map<String, serde_json::Value> = tables
        .iter()
        .filter_map(|t| {
            let name = t.to_string();
            let rules = by_name.get(&name.to_lowercase())?;
            Some((
                name,
                serde_json::json!({
                    "masked_columns": rules.masks.keys().collect::<Vec<_>>(),
                    "rows_filtered_by": rules.row_filter.iter().map(|c| &c.column).collect::<Vec<_>>(),
                }),
            ))
        })
        .collect();
    Some(serde_json::Value::Object(each))
}
