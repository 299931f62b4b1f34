//! The typed input of every policy evaluation. The JSON schema committed under `policy/schema/`
//! is generated from these types.

use crate::{decision::Decision, principal::Principal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the caller is trying to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    #[serde(rename = "session.create")]
    SessionCreate,
    #[serde(rename = "file.upload")]
    FileUpload,
    #[serde(rename = "file.download")]
    FileDownload,
    #[serde(rename = "execution.run")]
    ExecutionRun,
    /// The modules an execution loaded at run time (`analysis.imports`), checked again.
    #[serde(rename = "execution.imports")]
    ExecutionImports,
    /// What output inspection found in an execution's output or a file on its way out
    /// (`request.findings`); policy rules on each finding (`obligations.outputs`).
    #[serde(rename = "output.inspect")]
    OutputInspect,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionCreate => "session.create",
            Self::FileUpload => "file.upload",
            Self::FileDownload => "file.download",
            Self::ExecutionRun => "execution.run",
            Self::ExecutionImports => "execution.imports",
            Self::OutputInspect => "output.inspect",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInput {
    pub action: Action,
    pub principal: Principal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionFacts>,
    pub request: RequestFacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CodeFacts>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionFacts {
    pub id: String,
    /// Data labels accumulated by the session.
    pub labels: Vec<String>,
    pub executions: u64,
}

/// Facts of the request itself; fields apply per action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub egress: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// For SQL through a connector: the data labels of what it reads (from the connector's
    /// configuration); the session holds them afterwards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_labels: Vec<String>,
    /// For SQL sent from code of a running execution (`airlock.sql()`): the egress that
    /// execution holds now. Labelled data must not arrive where it could leave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_egress: Vec<String>,
    /// For `output.inspect`: what the detectors found, per detector and place (counts only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::outputs::FindingFacts>,
}

/// What static analysis found in the code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CodeFacts {
    /// Top-level modules imported (`import a.b` gives `a`), sorted, deduplicated.
    pub imports: Vec<String>,
    /// Full dotted module names as written, for rules that care about submodules.
    pub modules: Vec<String>,
    /// Modules imported by computed names that analysis could not resolve.
    pub dynamic_imports: u32,
    /// Code that runs code analysis cannot see: imports by computed names (`computed import`,
    /// also counted in `dynamic_imports`), `exec`/`eval`/`compile` of computed text,
    /// modules loaded by path or through import machinery (`runpy`, `importlib.util`),
    /// computed lookups on `builtins`/`importlib`/`sys`, `sys.modules[...]`, and magics that
    /// run files (`%run`, `%load`, `%load_ext`). Each entry names the form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_code: Vec<String>,
    /// Package installs attempted (`%pip install x`, `!pip install x`, pip via subprocess).
    pub pip_installs: Vec<String>,
    /// Shell commands started by `!cmd` lines or subprocess/os.system calls with literal args.
    pub shell_commands: Vec<String>,
    /// SQL for a connector, analysed in the connector's dialect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<crate::connectors::SqlFacts>,
    /// Set when the code could not be parsed; the kernel will report the SyntaxError.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// A decision together with the input that produced it (for the audit trail).
#[derive(Clone, Debug, PartialEq)]
pub struct Decided {
    pub input: PolicyInput,
    pub decision: Decision,
}
