use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DecisionResult {
    Allow,
    Deny,
    Review,
}

impl DecisionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Review => "review",
        }
    }
}

/// One reason policy gave; `code` is stable so a model can branch on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Violation {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What the decision obliges the enforcement to do.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
pub struct Obligations {
    /// Execution wall time cap from policy (seconds), if policy sets one below the session's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<u32>,
    /// Sandbox memory from policy (MiB), when policy sets one below the gateway's default
    /// (a session's pod or cgroup gets the lower of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Sandbox CPU from policy (millicores), likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<u32>,
    /// For `session.create`: the most live sessions this principal may hold, when policy
    /// sets one below the gateway's (`sessions.max_per_principal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
    /// For `execution.run`: the most executions this principal may run at once, when policy
    /// sets one below the gateway's (`executions.max_running_per_principal`, where set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running_executions: Option<u32>,
    /// For `session.create`: the most live sessions the principal's tenant may hold in all
    /// (policy data `tenant_limits`), applied when below `sessions.max_per_tenant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_max_sessions: Option<u32>,
    /// For `execution.run`: the most executions the principal's tenant may run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_max_running_executions: Option<u32>,
    /// `host:port` the execution may reach through the egress proxy (empty: none).
    #[serde(default)]
    pub egress: Vec<String>,
    /// Methods allowed on plain-HTTP requests through the proxy (TLS is opaque).
    #[serde(default)]
    pub egress_http_methods: Vec<String>,
    /// `name==version` to install from the package index before the code runs.
    #[serde(default)]
    pub packages: Vec<String>,
    /// The sha256 of the files each pin may install (from policy, not from the index).
    #[serde(default)]
    pub package_hashes: std::collections::BTreeMap<String, Vec<String>>,
    /// For SQL through a connector: the Vault role, row limit and transaction mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<crate::connectors::ConnectorGrant>,
    /// For action `execution.imports`: the modules among `analysis.imports` this principal may
    /// not load (the sandbox's import hook refuses them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_imports: Vec<String>,
    /// For action `output.inspect`: what happens to each finding (allow, mask, hold, block).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<crate::outputs::OutputRuling>,
    /// For a held request: who may decide its case and how (the gateway's defaults when
    /// policy says nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::review::ReviewRules>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Decision {
    pub decision_id: String,
    pub result: DecisionResult,
    pub violations: Vec<Violation>,
    pub policy_revision: String,
    #[serde(default)]
    pub obligations: Obligations,
    /// Evaluation time in microseconds.
    #[serde(default)]
    pub eval_micros: u64,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.result == DecisionResult::Allow
    }
}
