//! Kernels and kernelspecs. A kernel is one of the caller's active sessions; its kernelspec
//! (the language its cells run as) is remembered here. Kernelspecs are the sandbox's languages
//! that policy lets the caller run: each is checked with a dry run of `execution.run`.

use airlock_gateway_core::Gateway;
use airlock_gateway_domain::{
    policy_input::{Action, PolicyInput, RequestFacts},
    GatewayError, Language, Principal, Session, SessionId,
};
use serde_json::{json, Value};
use std::{collections::HashMap, sync::Mutex};
use time::format_description::well_known::Rfc3339;

/// The kernelspecs the gateway offers, by name.
pub const SPECS: [(&str, Language, &str); 3] = [
    ("python3", Language::Python, "Python 3 (Airlock)"),
    ("bash", Language::Bash, "Bash (Airlock)"),
    ("javascript", Language::Javascript, "JavaScript (Airlock)"),
];

pub const DEFAULT_SPEC: &str = "python3";

pub fn language_of(spec: &str) -> Option<Language> {
    SPECS.iter().find(|(n, ..)| *n == spec).map(|(_, l, _)| *l)
}

/// A kernel's id: its session's UUID, hyphenated (Jupyter Server routes only kernel ids of
/// that shape).
pub fn kernel_id(s: &SessionId) -> String {
    let h = s.short();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The session of a kernel id (or of a session id, which the REST API shows).
pub fn session_of(kernel: &str) -> Option<SessionId> {
    if let Some(s) = SessionId::parse(kernel) {
        return Some(s);
    }
    let parts: Vec<&str> = kernel.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return None;
    }
    SessionId::parse(&format!("ses_{}", parts.concat().to_ascii_lowercase()))
}

/// What this gateway remembers of its kernels beyond their sessions.
#[derive(Default)]
pub struct KernelTable {
    inner: Mutex<HashMap<SessionId, KernelEntry>>,
}

/// An iopub message as one connection sent it, for the kernel's other connections.
pub type Published = (u64, std::sync::Arc<str>);

/// iopub messages a slow connection may fall behind before it misses some.
const IOPUB_BACKLOG: usize = 1024;

struct KernelEntry {
    spec: String,
    connections: u32,
    since: std::time::Instant,
    /// Every connection's iopub messages, to all connections of the kernel (as a kernel
    /// publishes iopub to every client). All of them are the kernel owner's.
    iopub: tokio::sync::broadcast::Sender<Published>,
    /// The kernel's `execution_count`, shared by its connections.
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What a connection shares with the kernel's other connections.
pub struct Shared {
    pub iopub: tokio::sync::broadcast::Sender<Published>,
    pub count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for KernelEntry {
    fn default() -> Self {
        Self {
            spec: String::new(),
            connections: 0,
            since: std::time::Instant::now(),
            iopub: tokio::sync::broadcast::Sender::new(IOPUB_BACKLOG),
            count: Default::default(),
        }
    }
}

/// Entries kept before unconnected ones older than a day (past any session's life) are pruned:
/// kernels that ended by their TTL or on another route are never told to this table.
const MAX_ENTRIES: usize = 10_000;
const ENTRY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl KernelTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, KernelEntry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_spec(&self, id: &SessionId, spec: &str) {
        let mut t = self.lock();
        if t.len() >= MAX_ENTRIES {
            t.retain(|_, e| e.connections > 0 || e.since.elapsed() < ENTRY_TTL);
        }
        t.entry(id.clone()).or_default().spec = spec.to_owned();
    }

    /// The kernelspec of a kernel (a session started elsewhere, by the REST API or before a
    /// restart, is a Python kernel).
    pub fn spec(&self, id: &SessionId) -> String {
        self.lock()
            .get(id)
            .map(|e| e.spec.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SPEC.to_owned())
    }

    /// One more connection to a kernel, unless it has `max` already (one step under the lock,
    /// so concurrent connects never pass it): the kernel's iopub channel to publish on and
    /// hear the other connections from, and its cell counter.
    pub fn try_connect(&self, id: &SessionId, max: u32) -> Option<Shared> {
        let mut t = self.lock();
        let e = t.entry(id.clone()).or_default();
        if e.connections >= max {
            return None;
        }
        e.connections += 1;
        Some(Shared {
            iopub: e.iopub.clone(),
            count: e.count.clone(),
        })
    }

    /// One fewer (a kernel forgotten meanwhile stays forgotten).
    pub fn disconnect(&self, id: &SessionId) {
        if let Some(e) = self.lock().get_mut(id) {
            e.connections = e.connections.saturating_sub(1);
        }
    }

    /// A restarted kernel counts its cells from 1 again.
    pub fn reset_count(&self, id: &SessionId) {
        if let Some(e) = self.lock().get(id) {
            e.count.store(0, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn forget(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    pub fn connections(&self, id: &SessionId) -> u32 {
        self.lock().get(id).map_or(0, |e| e.connections)
    }
}

/// The kernel model of Jupyter's REST API.
pub fn model(table: &KernelTable, s: &Session, busy: bool) -> Value {
    json!({
        "id": kernel_id(&s.id),
        "name": table.spec(&s.id),
        "last_activity": s.last_active_at.format(&Rfc3339).unwrap_or_default(),
        "execution_state": if busy { "busy" } else { "idle" },
        "connections": table.connections(&s.id),
    })
}

/// One kernelspec as `/api/kernelspecs` lists it.
pub fn spec_model(name: &str, language: Language, display: &str) -> Value {
    json!({
        "name": name,
        "spec": {
            "argv": [],
            "display_name": display,
            "language": language.as_str(),
            "interrupt_mode": "message",
            "env": {},
            "metadata": {"airlock": {"governed": true}},
        },
        "resources": {},
    })
}

/// The kernelspecs `p` may use: a language policy refuses them is left out.
pub fn allowed_specs(gateway: &Gateway, p: &Principal) -> Result<Vec<&'static str>, GatewayError> {
    let mut out = vec![];
    for (name, language, _) in SPECS {
        let input = PolicyInput {
            action: Action::ExecutionRun,
            principal: p.clone(),
            session: None,
            request: RequestFacts {
                language: Some(language.as_str().to_owned()),
                ..Default::default()
            },
            analysis: None,
        };
        let d = gateway.evaluate_code(input, None)?;
        if !d
            .violations
            .iter()
            .any(|v| v.code == "language_not_allowed")
        {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_ids_are_session_uuids_and_map_back() {
        let s = SessionId::parse("ses_01a23c80f3d7763fa7f63fad2f0476dd").expect("id");
        let k = kernel_id(&s);
        assert_eq!(k, "01a23c80-f3d7-763f-a7f6-3fad2f0476dd");
        assert_eq!(session_of(&k), Some(s.clone()));
        assert_eq!(session_of(s.as_str()), Some(s));
        assert_eq!(session_of("01a23c80-f3d7-763f-a7f6"), None);
        assert_eq!(session_of("../../etc/passwd"), None);
        assert_eq!(session_of("zzzzzzzz-f3d7-763f-a7f6-3fad2f0476dd"), None);
    }

    #[test]
    fn the_table_counts_connections_and_forgets_for_good() {
        let t = KernelTable::default();
        let s = SessionId::parse("ses_01a23c80f3d7763fa7f63fad2f0476dd").expect("id");
        assert_eq!(t.spec(&s), DEFAULT_SPEC);
        t.set_spec(&s, "bash");
        assert!(t.try_connect(&s, 2).is_some() && t.try_connect(&s, 2).is_some());
        assert!(t.try_connect(&s, 2).is_none(), "past the maximum");
        t.disconnect(&s);
        assert_eq!((t.spec(&s).as_str(), t.connections(&s)), ("bash", 1));
        t.forget(&s);
        t.disconnect(&s);
        assert!(
            t.lock().is_empty(),
            "a late disconnect brought a forgotten kernel back"
        );
    }
}
