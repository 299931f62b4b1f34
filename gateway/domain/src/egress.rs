//! What an execution may reach through the egress proxy, and what it did reach.

use serde::{Deserialize, Serialize};

/// The grant of one execution, from its decision's obligations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressGrant {
    /// `host:port`, lower case (hosts or IP addresses as the policy granted them).
    pub hosts: Vec<String>,
    /// Methods allowed on plain-HTTP requests.
    pub http_methods: Vec<String>,
    /// `name==version` (normalised name) the package index may serve to this execution.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Per pin, the only file hashes the index may serve (empty list or absent: any file).
    #[serde(default)]
    pub package_hashes: std::collections::BTreeMap<String, Vec<String>>,
    pub decision_id: String,
}

impl EgressGrant {
    pub fn admits(&self, host: &str, port: u16) -> bool {
        let want = format!("{}:{port}", host.to_ascii_lowercase());
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&want))
    }
}

/// One connection through the proxy, admitted or refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRecord {
    pub host: String,
    pub port: u16,
    /// `CONNECT` or the plain-HTTP method.
    pub method: String,
    pub admitted: bool,
    /// Why it was refused or ended early: `not_granted`, `raw_ip`, `private_address`,
    /// `host_mismatch`, `method_not_allowed`, `sni_mismatch`, `no_sni`, `not_tls`,
    /// `bad_request`, `upstream_unreachable`, `execution_ended` (cut when its execution ended),
    /// `peer_refused` (a process other than the sandbox's on its socket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
}

/// The connections of one execution, as the egress proxy records them: every connection it
/// opened, admitted or refused, on every way out (also when the sandbox dies under it). The
/// pipeline creates it, the backend's proxy fills it, and the pipeline records what it holds
/// once the run is over, whatever happened.
#[derive(Debug, Default)]
pub struct EgressLog {
    records: std::sync::Mutex<Vec<EgressRecord>>,
}

/// Connections one execution may have recorded (more are still cut, not recorded).
pub const MAX_EGRESS_RECORDS: usize = 10_000;

impl EgressLog {
    pub fn push(&self, rec: EgressRecord) {
        let mut r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() < MAX_EGRESS_RECORDS {
            r.push(rec);
        }
    }

    /// Everything recorded so far (taken).
    pub fn take(&self) -> Vec<EgressRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
