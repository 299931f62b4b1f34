//! The reserved host `sql.airlock`: code in a sandbox posts `{"connector", "sql"}` to
//! `http://sql.airlock/v1/query` through its proxy, and the gateway runs it on the session's
//! behalf (policy, a Vault-issued login, audit) through the [`SandboxSql`] port. The sandbox
//! never sees a credential, only rows.

use airlock_gateway_domain::{
    egress::{EgressRecord, EgressRefusal},
    ports::{SandboxSql, SandboxSqlAnswer},
    ExecutionStatus,
};
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const SQL_HOST: &str = "sql.airlock";
const MAX_BODY: usize = 1 << 20;

/// Set once the gateway is built (the sandbox backend exists before it).
#[derive(Clone, Default)]
pub struct SqlHook(pub Arc<OnceLock<Arc<dyn SandboxSql>>>);

impl std::fmt::Debug for SqlHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "SqlHook(set)"
        } else {
            "SqlHook(unset)"
        })
    }
}

async fn answer<S: AsyncWrite + Unpin>(client: &mut S, status: u16, body: &serde_json::Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let _ = client.write_all(head.as_bytes()).await;
    let _ = client.write_all(text.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// The HTTP answer `airlock.sql()` reads (deploy/runtime/airlock/__init__.py): 200 with the
/// rows, 403 with the violations, 422 with the error, or an error body with its code's status.
fn http_answer(a: SandboxSqlAnswer) -> (u16, serde_json::Value) {
    match a {
        SandboxSqlAnswer::Ran(e) => {
            let result = e
                .outputs
                .first()
                .and_then(|o| o.data.get("application/json").cloned());
            let status = match e.status {
                ExecutionStatus::Denied => 403,
                ExecutionStatus::Succeeded => 200,
                _ => 422,
            };
            let body = serde_json::json!({
                "execution_id": e.id,
                "status": e.status,
                "result": result,
                "error": e.error,
                "violations": e.decision.violations,
            });
            (status, body)
        }
        SandboxSqlAnswer::Refused(e) => (e.code.http_status(), error(e.code.as_str(), &e.message)),
    }
}

fn error(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "message": message}})
}

#[allow(clippy::too_many_arguments)]
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    mut rec: EgressRecord,
    method: &str,
    path: &str,
    content_length: u64,
    mut body: Vec<u8>,
    hook: &SqlHook,
    session_id: Option<&str>,
) -> EgressRecord {
    rec.admitted = false;
    let (Some(h), Some(session)) = (hook.0.get(), session_id) else {
        answer(
            &mut client,
            404,
            &error("connector_unavailable", "no connectors on this gateway"),
        )
        .await;
        rec.reason = Some(EgressRefusal::SqlUnavailable);
        return rec;
    };
    if method != "POST" || path != "/v1/query" {
        answer(
            &mut client,
            405,
            &error("invalid_request", "POST /v1/query"),
        )
        .await;
        rec.reason = Some(EgressRefusal::BadRequest);
        return rec;
    }
    let len = usize::try_from(content_length).unwrap_or(usize::MAX);
    if len > MAX_BODY {
        answer(
            &mut client,
            413,
            &error("payload_too_large", "at most 1 MiB of SQL"),
        )
        .await;
        rec.reason = Some(EgressRefusal::TooLarge);
        return rec;
    }
    let mut chunk = [0u8; 8192];
    while body.len() < len {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    let req: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            answer(&mut client, 400, &error("invalid_json", &e.to_string())).await;
            rec.reason = Some(EgressRefusal::BadRequest);
            return rec;
        }
    };
    let (Some(connector), Some(sql)) = (req["connector"].as_str(), req["sql"].as_str()) else {
        answer(
            &mut client,
            400,
            &error("invalid_request", "give connector and sql"),
        )
        .await;
        rec.reason = Some(EgressRefusal::BadRequest);
        return rec;
    };
    rec.bytes_up = len as u64;
    let (status, out) = http_answer(h.query(session, connector, sql).await);
    rec.admitted = status == 200;
    rec.reason = (status != 200).then_some(EgressRefusal::SqlRefused);
    answer(&mut client, status, &out).await;
    rec
}
