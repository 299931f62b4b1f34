//! A policy that answers what the test says, and an analyser that finds nothing.

use super::store::lock;
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    connectors::{
        ConnectorGrant, PlainStatement, SqlDialect, SqlFacts, SqlRefusal, StatementPlan, TableName,
        TableRules,
    },
    decision::{Decision, DecisionResult, Obligations, Violation},
    outputs::{FindingFacts, OutputAction, OutputRuling},
    policy_input::{CodeFacts, PolicyInput},
    ports::{AnalysisError, CodeAnalyzer, PolicyEngine, PolicyError},
    Language,
};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
};

/// Caps a policy gives: on sessions, on running executions.
pub type Caps = (Option<u32>, Option<u32>);

/// Decides what the test set: allow, deny or review, for executions; allow for the rest.
pub struct ScriptedPolicy {
    pub execution: Mutex<DecisionResult>,
    /// Granted to executions that name a connector.
    pub connector: Mutex<Option<ConnectorGrant>>,
    /// The rulings of every `output.inspect` (as a bundle's table would give them), and
    /// the findings each was asked about.
    pub outputs: Mutex<Vec<OutputRuling>>,
    pub inspected: Mutex<Vec<Vec<FindingFacts>>>,
    /// `output.inspect` fails as an engine that cannot evaluate.
    pub outputs_fail: AtomicBool,
    /// A profile's caps: `max_sessions` (on `session.create`) and `max_running_executions`
    /// (on `execution.run`).
    pub caps: Mutex<Caps>,
    /// Tenants' limits (`tenant_max_sessions`, `tenant_max_running_executions`), by tenant.
    pub tenant_caps: Mutex<BTreeMap<String, Caps>>,
}

impl ScriptedPolicy {
    pub fn new() -> Self {
        Self {
            execution: Mutex::new(DecisionResult::Allow),
            connector: Mutex::new(None),
            outputs: Mutex::new(vec![]),
            inspected: Mutex::new(vec![]),
            outputs_fail: AtomicBool::new(false),
            caps: Mutex::new((None, None)),
            tenant_caps: Mutex::new(BTreeMap::new()),
        }
    }
}

impl PolicyEngine for ScriptedPolicy {
    fn revision(&self) -> String {
        "test-1".into()
    }

    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        if input.action.as_str() == "output.inspect" {
            if self.outputs_fail.load(Ordering::SeqCst) {
                return Err(PolicyError::Evaluation(Cause::msg("scripted failure")));
            }
            return Ok(self.rule_outputs(input));
        }
        let result = match input.action.as_str() {
            "execution.run" => *lock(&self.execution),
            _ => DecisionResult::Allow,
        };
        let violations = match result {
            DecisionResult::Deny => vec![Violation {
                code: "test_denied".into(),
                message: "the test policy denies it".into(),
                hint: Some("do not".into()),
            }],
            _ => vec![],
        };
        let mut obligations = Obligations::default();
        let (max_sessions, max_running) = *lock(&self.caps);
        let (tenant_sessions, tenant_running) = input
            .principal
            .tenant
            .as_ref()
            .and_then(|t| lock(&self.tenant_caps).get(t).copied())
            .unwrap_or_default();
        match input.action.as_str() {
            "session.create" => {
                obligations.max_sessions = max_sessions;
                obligations.tenant_max_sessions = tenant_sessions;
            }
            "execution.run" => {
                obligations.max_running_executions = max_running;
                obligations.tenant_max_running_executions = tenant_running;
            }
            _ => {}
        }
        if input.request.connector.is_some() {
            obligations.connector = lock(&self.connector).clone();
        }
        Ok(Decision {
            decision_id: String::new(),
            result,
            violations,
            policy_revision: self.revision(),
            obligations,
            eval_micros: 1,
        })
    }
}

impl ScriptedPolicy {
    /// Every scripted ruling whose detector was found; a block is also a violation.
    fn rule_outputs(&self, input: &PolicyInput) -> Decision {
        let found = &input.request.findings;
        lock(&self.inspected).push(found.clone());
        let rulings: Vec<OutputRuling> = lock(&self.outputs)
            .iter()
            .filter(|r| found.iter().any(|f| f.detector == r.detector))
            .cloned()
            .collect();
        let stopped = |action: OutputAction, code: &str| -> Vec<Violation> {
            rulings
                .iter()
                .filter(|r| r.action == action)
                .map(|r| Violation {
                    code: code.into(),
                    message: format!("{} may not leave", r.detector),
                    hint: Some("print counts instead".into()),
                })
                .collect()
        };
        let (blocked, held) = (
            stopped(OutputAction::Block, "output_blocked"),
            stopped(OutputAction::Hold, "output_held"),
        );
        let (result, violations) = match (blocked.is_empty(), held.is_empty()) {
            (false, _) => (DecisionResult::Deny, blocked),
            (true, false) => (DecisionResult::Review, held),
            (true, true) => (DecisionResult::Allow, vec![]),
        };
        Decision {
            decision_id: String::new(),
            result,
            violations,
            policy_revision: self.revision(),
            obligations: Obligations {
                outputs: rulings,
                ..Obligations::default()
            },
            eval_micros: 1,
        }
    }
}

pub struct NoAnalysis;

impl CodeAnalyzer for NoAnalysis {
    fn analyze(&self, _language: Language, _code: &str) -> Result<CodeFacts, AnalysisError> {
        Ok(CodeFacts::default())
    }

    /// Accepts any one statement as it is.
    fn analyze_sql(&self, _dialect: SqlDialect, _schema: &str, sql: &str) -> SqlFacts {
        SqlFacts {
            canonical: Some(sql.to_owned()),
            ..SqlFacts::default()
        }
    }

    /// Governs every table the grant names (the rewrite itself is the analyser's, tested
    /// there): refuses a statement starting with UPDATE, else appends the columns it got.
    fn plan_sql(
        &self,
        _dialect: SqlDialect,
        _schema: &str,
        canonical: &str,
        governed: &BTreeMap<String, TableRules>,
    ) -> Result<Box<dyn StatementPlan>, SqlRefusal> {
        if governed.is_empty() {
            return Ok(Box::new(PlainStatement(canonical.to_owned())));
        }
        if canonical.starts_with("UPDATE") {
            return Err(SqlRefusal {
                code: "sql_write_governed".into(),
                message: "the table is governed".into(),
                hint: "read it".into(),
            });
        }
        let tables = governed
            .keys()
            .filter_map(|k| k.split_once('.'))
            .map(|(schema, table)| TableName {
                schema: schema.into(),
                table: table.into(),
            })
            .collect();
        Ok(Box::new(FakePlan(canonical.to_owned(), tables)))
    }
}

/// A statement over governed tables: the canonical text with the columns it was given.
pub struct FakePlan(String, Vec<TableName>);

impl StatementPlan for FakePlan {
    fn governed_tables(&self) -> &[TableName] {
        &self.1
    }

    fn statement(&self, columns: &[Vec<String>]) -> Result<String, SqlRefusal> {
        if columns.iter().any(Vec::is_empty) {
            return Err(SqlRefusal {
                code: "sql_table_not_found".into(),
                message: "no such table".into(),
                hint: "check the name".into(),
            });
        }
        Ok(format!("{} /* over {columns:?} */", self.0))
    }
}
