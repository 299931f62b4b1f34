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

macro_rules! egress_refusals {
    ($($variant:ident => ($code:literal, $doc:literal)),* $(,)?) => {
        /// Why the egress proxy refused a connection or ended it early: recorded in
        /// `egress.connection` events and answered to the code in `X-Airlock-Egress`. Part of
        /// the one error table of docs/api.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EgressRefusal {
            $( #[doc = $doc] $variant, )*
        }

        impl EgressRefusal {
            pub const ALL: &'static [EgressRefusal] = &[$(EgressRefusal::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            pub fn meaning(self) -> &'static str {
                match self {
                    $(Self::$variant => $doc,)*
                }
            }
        }
    };
}

egress_refusals! {
    NotGranted => ("not_granted", "The execution's grant does not name this host and port."),
    RawIp => ("raw_ip", "An IP address where the grant names a host: connect by the granted name."),
    PrivateAddress => ("private_address", "The name resolves to a private, loopback, link-local or metadata address, and no `[egress] resolve` pin or IP grant allows it."),
    HostMismatch => ("host_mismatch", "A plain-HTTP request whose Host header does not name its target."),
    MethodNotAllowed => ("method_not_allowed", "A plain-HTTP method (or a package-index request) the grant does not allow."),
    SniMismatch => ("sni_mismatch", "The TLS server name differs from the host of the CONNECT."),
    NoSni => ("no_sni", "A TLS client hello without a server name."),
    NotTls => ("not_tls", "A CONNECT tunnel whose first bytes are not a TLS client hello."),
    BadRequest => ("bad_request", "A malformed proxy request (or `sql.airlock` request)."),
    TooLarge => ("too_large", "A request head or `sql.airlock` body over its size limit."),
    UpstreamUnreachable => ("upstream_unreachable", "The name does not resolve or the upstream refused the connection."),
    ExecutionEnded => ("execution_ended", "Cut when its execution ended (a connection never outlives the execution that opened it: one still open gets 25 ms for a close in flight to arrive, and one the code has finished sending on up to 1 s for the answer to pass)."),
    PeerRefused => ("peer_refused", "A process other than the sandbox's connected to its egress socket."),
    PackageNotGranted => ("package_not_granted", "The package index refused a file: the package or version is not one the execution may install."),
    PackageHashMismatch => ("package_hash_mismatch", "The package file's hash is not one the policy pinned."),
    SqlUnavailable => ("sql_unavailable", "`sql.airlock` while this gateway has no connectors."),
    SqlRefused => ("sql_refused", "`sql.airlock` answered with an error (the statement was denied, held, or failed; the answer says why)."),
}

impl std::fmt::Display for EgressRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The egress rows of the error table of docs/api.md.
pub fn refusal_markdown_rows() -> String {
    EgressRefusal::ALL
        .iter()
        .map(|r| format!("| `{}` | {} |\n", r.as_str(), r.meaning()))
        .collect()
}

/// One connection through the proxy, admitted or refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRecord {
    pub host: String,
    pub port: u16,
    /// `CONNECT` or the plain-HTTP method.
    pub method: String,
    pub admitted: bool,
    /// Why it was refused or ended early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EgressRefusal>,
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
