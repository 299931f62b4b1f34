//! Usage metering: what each principal (and so each tenant) used, per UTC day, summed. Added
//! in the same commit as the record it meters (an execution's end, a case's opening), so the
//! figures and the audit trail never disagree.

use serde::{Deserialize, Serialize};

/// Amounts used. CPU is what the sandbox's cgroup counted while the code ran (absent where the
/// backend cannot tell); memory is the sandbox's memory limit times the execution's wall time
/// (what was reserved, as FaaS bills it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    /// Executions that ran (in a sandbox or on a connector).
    pub executions: u64,
    pub cpu_ms: u64,
    pub memory_mib_ms: u64,
    /// Bytes both ways through the egress proxy.
    pub egress_bytes: u64,
    /// Rows read from warehouses through connectors.
    pub warehouse_rows: u64,
    /// Review cases opened for this principal's work.
    pub review_cases: u64,
}

impl Usage {
    pub fn add(&mut self, o: &Usage) {
        self.executions += o.executions;
        self.cpu_ms += o.cpu_ms;
        self.memory_mib_ms += o.memory_mib_ms;
        self.egress_bytes += o.egress_bytes;
        self.warehouse_rows += o.warehouse_rows;
        self.review_cases += o.review_cases;
    }
}

/// Usage to add to one principal's figures of one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEntry {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub tenant: Option<String>,
    /// `Principal::owner_key`.
    pub principal: String,
    pub usage: Usage,
}

/// Which figures to read: days `from` to `to` (inclusive, `YYYY-MM-DD`), of one tenant or
/// all, of one principal or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: String,
    pub to: String,
    pub tenant: Option<String>,
    pub principal: Option<String>,
}

/// One principal's usage over the queried days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageTotal {
    pub tenant: Option<String>,
    pub principal: String,
    pub usage: Usage,
}
