//! `execute_request`: the cell becomes an Airlock execution of the connection's principal in
//! the kernel's session, through the same pipeline as the REST API. What it prints and
//! displays goes to iopub as it happens (already redacted by the job); a denial or a hold
//! comes back as an error reply whose `ename` names it and whose `evalue` and traceback carry
//! the violations and hints (or where to follow the review case), so a notebook or a model
//! sees why and can rewrite the cell.
//!
//! Per-cell options a client may send in the request's `metadata.airlock`: `packages`,
//! `egress`, `timeout_seconds`, and `connector` (the cell is then SQL for that warehouse).

use crate::{
    channels::Conn,
    shell::Outcome,
    wire::{Header, Incoming},
};
use airlock_gateway_core::jobs::{Job, JobEvent};
use airlock_gateway_domain::{
    Execution, ExecutionRequest, ExecutionStatus, GatewayError, Language, Output,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

/// How long a cell waits for the session's previous execution (an interrupted one stopping).
const TURN_WAIT: Duration = Duration::from_secs(15);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CellOptions {
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    egress: Vec<String>,
    timeout_seconds: Option<u32>,
    connector: Option<String>,
}

pub(crate) async fn run(conn: &Conn, m: &Incoming) -> Outcome {
    let h = &m.header;
    conn.status(h, "busy").await;
    let silent = m.content.get("silent").and_then(Value::as_bool) == Some(true);
    let store = m.content.get("store_history").and_then(Value::as_bool) != Some(false);
    let count = if store && !silent {
        conn.next_count()
    } else {
        conn.count()
    };
    let reply = match request(conn, m) {
        Ok(req) => {
            if !silent {
                conn.iopub(
                    "execute_input",
                    h,
                    json!({"code": req.code, "execution_count": count}),
                )
                .await;
            }
            submit(conn, h, req, count).await
        }
        Err(e) => failed(conn, h, count, &gateway_error(&e)).await,
    };
    let stop = reply["status"] == "error"
        && m.content.get("stop_on_error").and_then(Value::as_bool) != Some(false);
    conn.send(crate::wire::Channel::Shell, "execute_reply", h, reply)
        .await;
    conn.status(h, "idle").await;
    if stop {
        Outcome::StopQueue
    } else {
        Outcome::Done
    }
}

/// A queued cell not run because one before it failed: `status: aborted`, as kernels reply.
pub(crate) async fn abort(conn: &Conn, m: &Incoming) {
    let h = &m.header;
    conn.status(h, "busy").await;
    let content = json!({"status": "aborted", "execution_count": conn.count()});
    conn.send(crate::wire::Channel::Shell, "execute_reply", h, content)
        .await;
    conn.status(h, "idle").await;
}

fn request(conn: &Conn, m: &Incoming) -> Result<ExecutionRequest, GatewayError> {
    let invalid =
        |msg: String| GatewayError::new(airlock_gateway_domain::ErrorCode::InvalidRequest, msg);
    let code = m
        .content
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("content.code must be a string".into()))?;
    let opts: CellOptions = match m.metadata.get("airlock") {
        None | Some(Value::Null) => CellOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| invalid(format!("metadata.airlock: {e}")))?,
    };
    let language = if opts.connector.is_some() {
        Language::Sql
    } else {
        conn.language
    };
    Ok(ExecutionRequest {
        language,
        code: code.to_owned(),
        timeout_seconds: opts.timeout_seconds,
        packages: opts.packages,
        egress: opts.egress,
        connector: opts.connector,
    })
}

async fn submit(conn: &Conn, h: &Header, req: ExecutionRequest, count: u64) -> Value {
    let g = &conn.shared.gateway;
    // Each cell is a request for the rate limits, as each REST submission is.
    if let Err(e) = g.admit(&conn.principal) {
        return failed(conn, h, count, &gateway_error(&e)).await;
    }
    let submitted = match g
        .submit_within(&conn.principal, &conn.kernel, req, TURN_WAIT)
        .await
    {
        Ok(s) => s,
        Err(e) => return failed(conn, h, count, &gateway_error(&e)).await,
    };
    let mut seen = Seen::default();
    if let Some(job) = submitted.job.clone() {
        follow(conn, h, &job, count, &mut seen).await;
    }
    match submitted.finished().await {
        Ok(exec) => finish(conn, h, count, &exec, &seen).await,
        Err(e) => failed(conn, h, count, &gateway_error(&e)).await,
    }
}

/// What the iopub stream already carried of an execution.
#[derive(Default)]
struct Seen {
    output: bool,
    error: bool,
}

async fn follow(conn: &Conn, h: &Header, job: &Arc<Job>, count: u64, seen: &mut Seen) {
    let mut changed = job.log.subscribe();
    let mut after = 0;
    loop {
        let (events, finished) = job.log.after(after);
        for n in events {
            after = n.id;
            publish(conn, h, &n.event, count, seen).await;
        }
        if finished || changed.changed().await.is_err() {
            return;
        }
    }
}

async fn publish(conn: &Conn, h: &Header, event: &JobEvent, count: u64, seen: &mut Seen) {
    match event {
        JobEvent::Printed { stderr, text } => {
            seen.output = true;
            let name = if *stderr { "stderr" } else { "stdout" };
            conn.iopub("stream", h, json!({"name": name, "text": text}))
                .await;
        }
        JobEvent::Displayed(o) => {
            seen.output = true;
            display(conn, h, o, count).await;
        }
        JobEvent::Error(e) => {
            seen.error = true;
            conn.iopub(
                "error",
                h,
                json!({"ename": e.name, "evalue": e.value, "traceback": e.traceback}),
            )
            .await;
        }
        JobEvent::Status(_) | JobEvent::Artifact(_) | JobEvent::Result(_) => {}
    }
}

async fn display(conn: &Conn, h: &Header, o: &Output, count: u64) {
    if o.kind == "execute_result" {
        conn.iopub(
            "execute_result",
            h,
            json!({"execution_count": count, "data": o.data, "metadata": {}}),
        )
        .await;
    } else {
        conn.iopub(
            "display_data",
            h,
            json!({"data": o.data, "metadata": {}, "transient": {}}),
        )
        .await;
    }
}

/// The reply for the finished (or stopped) execution; what the stream did not carry (a
/// connector's rows, a decision) is published first.
async fn finish(conn: &Conn, h: &Header, count: u64, exec: &Execution, seen: &Seen) -> Value {
    if !seen.output {
        for (stderr, text) in [(false, &exec.stdout), (true, &exec.stderr)] {
            if !text.is_empty() {
                let name = if stderr { "stderr" } else { "stdout" };
                conn.iopub("stream", h, json!({"name": name, "text": text}))
                    .await;
            }
        }
        for o in &exec.outputs {
            display(conn, h, o, count).await;
        }
    }
    let airlock =
        json!({"execution_id": exec.id, "status": exec.status.as_str(), "case_id": exec.case_id});
    let mut reply = match exec.status {
        ExecutionStatus::Succeeded => {
            json!({"status": "ok", "execution_count": count, "user_expressions": {}, "payload": []})
        }
        ExecutionStatus::Denied => failed(conn, h, count, &denied(exec)).await,
        ExecutionStatus::PendingReview => failed(conn, h, count, &held(exec)).await,
        _ => {
            let e = ran_into(exec);
            if seen.error {
                error_reply(count, &e)
            } else {
                failed(conn, h, count, &e).await
            }
        }
    };
    if let Value::Object(o) = &mut reply {
        o.insert("airlock".into(), airlock);
    }
    reply
}

/// An error's three fields as Jupyter shows them.
struct CellError {
    ename: String,
    evalue: String,
    traceback: Vec<String>,
}

fn error_reply(count: u64, e: &CellError) -> Value {
    json!({"status": "error", "execution_count": count, "ename": e.ename, "evalue": e.evalue, "traceback": e.traceback})
}

/// Publishes the error on iopub and returns the error reply.
async fn failed(conn: &Conn, h: &Header, count: u64, e: &CellError) -> Value {
    conn.iopub(
        "error",
        h,
        json!({"ename": e.ename, "evalue": e.evalue, "traceback": e.traceback}),
    )
    .await;
    error_reply(count, e)
}

/// `policy_denied` -> `PolicyDenied`.
fn camel(code: &str) -> String {
    code.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn gateway_error(e: &GatewayError) -> CellError {
    let mut traceback = vec![format!("{}: {}", camel(e.code.as_str()), e.message)];
    if !e.details.is_null() {
        traceback.push(e.details.to_string());
    }
    CellError {
        ename: camel(e.code.as_str()),
        evalue: e.message.clone(),
        traceback,
    }
}

fn denied(exec: &Execution) -> CellError {
    let reasons: Vec<String> = exec
        .decision
        .violations
        .iter()
        .map(|v| match &v.hint {
            Some(hint) => format!("{} ({}): {hint}", v.message, v.code),
            None => format!("{} ({})", v.message, v.code),
        })
        .collect();
    let mut traceback = vec![format!(
        "PolicyDenied: Airlock's policy refused this cell; nothing ran (execution {})",
        exec.id
    )];
    traceback.extend(reasons.iter().map(|r| format!("  - {r}")));
    CellError {
        ename: "PolicyDenied".into(),
        evalue: reasons.join("; "),
        traceback,
    }
}

fn held(exec: &Execution) -> CellError {
    let case = exec.case_id.as_ref().map_or_else(String::new, |c| {
        format!(" as review case {c} (GET /v1/reviews/{c})")
    });
    let evalue = format!(
        "held for compliance review{case}; it runs when a reviewer approves it: follow GET /v1/executions/{}/events",
        exec.id
    );
    CellError {
        ename: "PendingReview".into(),
        traceback: vec![format!("PendingReview: {evalue}")],
        evalue,
    }
}

fn ran_into(exec: &Execution) -> CellError {
    match &exec.error {
        Some(e) => CellError {
            ename: e.name.clone(),
            evalue: e.value.clone(),
            traceback: if e.traceback.is_empty() {
                vec![format!("{}: {}", e.name, e.value)]
            } else {
                e.traceback.clone()
            },
        },
        None if exec.status == ExecutionStatus::Cancelled => CellError {
            ename: "KeyboardInterrupt".into(),
            evalue: "the cell was interrupted".into(),
            traceback: vec!["KeyboardInterrupt: the cell was interrupted".into()],
        },
        None => CellError {
            ename: camel(exec.status.as_str()),
            evalue: format!("the execution ended {}", exec.status.as_str()),
            traceback: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn error_codes_become_exception_like_names() {
        assert_eq!(camel("policy_denied"), "PolicyDenied");
        assert_eq!(camel("too_many_executions"), "TooManyExecutions");
        assert_eq!(camel("timed_out"), "TimedOut");
    }
}
