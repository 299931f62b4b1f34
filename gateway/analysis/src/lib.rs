//! Facts about submitted code for policy: Python imports found by a real parser (rustpython),
//! IPython magics and shell escapes, package installs attempted.

pub mod highlight;
mod python;
mod sql;
pub mod stack;

use std::collections::BTreeMap;

use airlock_gateway_domain::{
    connectors::{SqlDialect, SqlFacts, SqlRefusal, StatementPlan, TableRules},
    execution::Language,
    policy_input::CodeFacts,
    ports::{AnalysisError, CodeAnalyzer},
};

#[derive(Default, Clone, Copy)]
pub struct Analyzer;

impl CodeAnalyzer for Analyzer {
    fn analyze(&self, language: Language, code: &str) -> Result<CodeFacts, AnalysisError> {
        Ok(match language {
            Language::Python => python::analyze(code)?,
            Language::Bash => CodeFacts {
                pip_installs: python::pip_installs_in_shell(code),
                shell_commands: vec![code.to_owned()],
                ..Default::default()
            },
            Language::Sql | Language::Javascript => CodeFacts::default(),
        })
    }

    fn analyze_sql(&self, dialect: SqlDialect, default_schema: &str, sql: &str) -> SqlFacts {
        sql::analyze(dialect, default_schema, sql)
    }

    fn plan_sql(
        &self,
        dialect: SqlDialect,
        default_schema: &str,
        canonical: &str,
        governed: &BTreeMap<String, TableRules>,
    ) -> Result<Box<dyn StatementPlan>, SqlRefusal> {
        stack::on_large_stack(canonical.len(), || {
            sql::plan(dialect, default_schema, canonical, governed)
        })
    }
}
