//! The data of each audit event type.

pub use airlock_gateway_domain::digest::sha256_hex;
use airlock_gateway_domain::{
    decision::Decision,
    policy_input::{CodeFacts, PolicyInput},
    session::Session,
    Execution, FileInfo, Principal,
};
use serde_json::{json, Value};

pub fn principal(p: &Principal) -> Value {
    let mut v = json!({"issuer": p.issuer, "subject": p.subject, "email": p.email, "groups": p.groups, "tenant": p.tenant});
    if let (Some(via), Value::Object(o)) = (&p.via, &mut v) {
        o.insert("via".into(), json!(via));
    }
    v
}

pub fn session(s: &Session, extra: Value) -> Value {
    let mut v = json!({
        "principal": principal(&s.owner),
        "session_id": s.id,
        "status": s.status.as_str(),
        "reason": s.status_reason,
        "expires_at": s.expires_at.unix_timestamp(),
        "limits": s.limits,
        "labels": s.labels,
    });
    merge(&mut v, extra);
    v
}

pub fn decided(
    p: &Principal,
    input: &PolicyInput,
    d: &Decision,
    session_id: Option<&str>,
    execution_id: Option<&str>,
) -> Value {
    json!({
        "principal": principal(p),
        "session_id": session_id,
        "execution_id": execution_id,
        "decision_id": d.decision_id,
        "action": input.action.as_str(),
        "result": d.result.as_str(),
        "violations": d.violations,
        "obligations": d.obligations,
        "policy_revision": d.policy_revision,
        "eval_micros": d.eval_micros,
        "path": "data.airlock.decision.decision",
        "input": input,
    })
}

pub fn requested(
    p: &Principal,
    e: &Execution,
    code: &str,
    facts: &CodeFacts,
    timeout_seconds: u32,
) -> Value {
    json!({
        "principal": principal(p),
        "session_id": e.session_id,
        "execution_id": e.id,
        "language": e.language.as_str(),
        "code_sha256": e.code_sha256,
        "code_bytes": code.len(),
        "code": code,
        "timeout_seconds": timeout_seconds,
        "resources": {"imports": facts.imports, "packages": facts.pip_installs},
    })
}

pub fn completed(p: &Principal, e: &Execution, kernel_restarted: bool, truncated: bool) -> Value {
    let outputs: Vec<Value> = e.outputs.iter().map(|o| {
        let bytes = serde_json::to_vec(&o.data).unwrap_or_default();
        json!({"type": o.kind, "media_types": o.data.keys().collect::<Vec<_>>(), "sha256": sha256_hex(&bytes)})
    }).collect();
    json!({
        "principal": principal(p),
        "session_id": e.session_id,
        "execution_id": e.id,
        "status": e.status.as_str(),
        "error": e.error.as_ref().map(|er| json!({"name": er.name, "code": er.code})),
        "stdout_sha256": sha256_hex(e.stdout.as_bytes()),
        "stderr_sha256": sha256_hex(e.stderr.as_bytes()),
        "stdout_bytes": e.stdout.len(),
        "stderr_bytes": e.stderr.len(),
        "output_truncated": truncated,
        "outputs": outputs,
        "artifacts": e.artifacts,
        "kernel_restarted": kernel_restarted,
        "duration_ms": e.duration_ms,
        "case_id": e.case_id,
    })
}

pub fn file(p: &Principal, session_id: &str, f: &FileInfo) -> Value {
    json!({"principal": principal(p), "session_id": session_id, "path": f.path, "size": f.size, "sha256": f.sha256, "classification": f.classification, "media_type": f.media_type})
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
}

pub fn egress(
    p: &Principal,
    e: &Execution,
    r: &airlock_gateway_domain::egress::EgressRecord,
) -> Value {
    json!({
        "principal": principal(p),
        "session_id": e.session_id,
        "execution_id": e.id,
        "decision_id": r.decision_id,
        "host": r.host,
        "port": r.port,
        "method": r.method,
        "admitted": r.admitted,
        "reason": r.reason,
        "bytes_up": r.bytes_up,
        "bytes_down": r.bytes_down,
    })
}

/// What output inspection found in an execution's outputs or a file on its way out: per
/// detector and place, the count and the action taken (never a value).
pub struct OutputInspected<'a> {
    pub session_id: &'a str,
    pub execution_id: Option<&'a str>,
    pub path: Option<&'a str>,
    /// `[{detector, where, count, action}]`.
    pub findings: Value,
    /// `released`, `blocked` or `held`.
    pub outcome: &'static str,
    pub decision_id: Option<&'a str>,
    pub policy_revision: Option<&'a str>,
}

pub fn output_inspected(p: &Principal, o: &OutputInspected<'_>) -> Value {
    let mut data = json!({
        "principal": principal(p),
        "session_id": o.session_id,
        "findings": o.findings,
        "outcome": o.outcome,
        "decision_id": o.decision_id,
        "policy_revision": o.policy_revision,
    });
    if let Some(e) = o.execution_id {
        data["execution_id"] = e.into();
    }
    if let Some(path) = o.path {
        data["path"] = path.into();
    }
    data
}
