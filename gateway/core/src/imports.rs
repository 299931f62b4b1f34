//! Imports at run time. The static analysis sees only the submitted text; code that builds its
//! imports at run time (`__import__(name)`, `importlib`, `exec`, a child `python -c`) is
//! caught inside the sandbox instead:
//!
//! - before a run, the runtime's inventory of importable third-party modules is decided with
//!   policy (action `execution.imports`); the modules it denies go with the job, and the import
//!   hook in every Python of the sandbox refuses them when the code asks for them;
//! - after a run, the modules the code actually loaded or tried to load are decided again, and
//!   a denial withholds the result: status `failed`, error code `package_not_allowed`, the
//!   kernel restarted (variables and loaded modules gone) and the files the run wrote removed,
//!   so the model never sees anything computed with an unapproved package.

use crate::{service::Gateway, sessions::LiveSession};
use airlock_gateway_domain::{
    decision::DecisionResult,
    files::WorkspacePath,
    policy_input::{Action, CodeFacts, PolicyInput},
    Decision, Execution, ExecutionError, ExecutionErrorCode, ExecutionStatus,
};

/// The modules refused to one session's code, for the policy revision and requested packages
/// they were decided under.
pub(crate) struct DeniedImports {
    key: String,
    modules: Vec<String>,
}

fn imports_input(base: &PolicyInput, modules: Vec<String>) -> PolicyInput {
    let mut input = base.clone();
    input.action = Action::ExecutionImports;
    input.analysis = Some(CodeFacts {
        imports: modules,
        ..Default::default()
    });
    input
}

impl Gateway {
    /// The runtime modules the session's code may not load under `base` (the execution's
    /// policy input), decided once per policy revision and set of requested packages.
    pub(crate) async fn denied_imports(
        &self,
        live: &LiveSession,
        base: &PolicyInput,
    ) -> Vec<String> {
        let key = format!(
            "{}\n{}",
            self.deps.policy.revision(),
            base.request.packages.join(",")
        );
        let mut cached = live.denied_imports.lock().await;
        if let Some(d) = cached.as_ref().filter(|d| d.key == key) {
            return d.modules.clone();
        }
        let inventory = match live.sandbox.runtime_modules().await {
            Ok(m) => m,
            Err(e) => {
                // An agent without an inventory: the check after the run still applies.
                tracing::warn!(error = %e, "the sandbox did not list its runtime modules");
                return vec![];
            }
        };
        let modules = match self.decide(&imports_input(base, inventory.clone())) {
            Ok(d) => d.obligations.denied_imports,
            // Fail closed: refuse every third-party module rather than none.
            Err(_) => inventory,
        };
        *cached = Some(DeniedImports {
            key,
            modules: modules.clone(),
        });
        modules
    }

    /// The modules a run loaded (or tried to), decided again: the input and decision to record.
    pub(crate) fn runtime_imports_decision(
        &self,
        base: &PolicyInput,
        imports: &[String],
    ) -> Option<(PolicyInput, Decision)> {
        if imports.is_empty() {
            return None;
        }
        let input = imports_input(base, imports.to_vec());
        let decision = match self.decide(&input) {
            Ok(d) => d,
            Err(e) => Decision {
                decision_id: String::new(),
                result: DecisionResult::Deny,
                violations: vec![airlock_gateway_domain::decision::Violation {
                    code: e.code.as_str().into(),
                    message: e.message,
                    hint: None,
                }],
                policy_revision: self.deps.policy.revision(),
                obligations: Default::default(),
                eval_micros: 0,
            },
        };
        Some((input, decision))
    }

    /// Withholds a run's result after a denial of what it imported: nothing it printed,
    /// displayed or wrote leaves, the kernel restarts and the files it wrote are removed.
    pub(crate) async fn withhold(&self, live: &LiveSession, exec: &mut Execution, d: &Decision) {
        let written: Vec<WorkspacePath> = exec
            .artifacts
            .iter()
            .filter_map(|a| WorkspacePath::parse(&a.path).ok())
            .collect();
        if let Err(e) = live.sandbox.quarantine(&written).await {
            tracing::error!(error = %e, execution = %exec.id, "quarantining a withheld execution failed");
        }
        let reasons: Vec<String> = d
            .violations
            .iter()
            .map(|v| match &v.hint {
                Some(h) => format!("{} ({h})", v.message),
                None => v.message.clone(),
            })
            .collect();
        exec.stdout.clear();
        exec.stderr.clear();
        exec.outputs.clear();
        exec.artifacts.clear();
        exec.status = ExecutionStatus::Failed;
        exec.error = Some(ExecutionError {
            name: "PackageNotAllowed".into(),
            value: format!(
                "{}. The result is withheld: the kernel was restarted (variables are gone) and the files the execution wrote were removed.",
                reasons.join("; ")
            ),
            traceback: vec![],
            code: Some(ExecutionErrorCode::Withheld(
                d.violations
                    .first()
                    .map_or("package_not_allowed", |v| v.code.as_str())
                    .to_owned(),
            )),
        });
    }
}
