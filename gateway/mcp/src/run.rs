//! `execute_code` and `query_warehouse`: an execution through the same pipeline as
//! `POST /v1/sessions/{id}/executions`, followed as a job: printed text goes to the client as
//! progress notifications as it is printed (when the client asked for progress), and a
//! client's cancellation cancels the execution.

use crate::{reply, server::AirlockMcp, tools};
use airlock_gateway_core::jobs::{Job, JobEvent};
use airlock_gateway_domain::{ErrorCode, ExecutionRequest, GatewayError, Language, Principal};
use rmcp::{
    model::{CallToolResult, ProgressNotificationParam},
    service::RequestContext,
    RoleServer,
};
use std::sync::Arc;

pub(crate) async fn execute_code(
    s: &AirlockMcp,
    p: &Principal,
    a: tools::ExecuteCode,
    ctx: &RequestContext<RoleServer>,
) -> CallToolResult {
    let language = match language(a.language.as_deref()) {
        Ok(l) => l,
        Err(e) => return reply::gateway_error(&e),
    };
    let req = ExecutionRequest {
        language,
        code: a.code,
        timeout_seconds: a.timeout_seconds,
        packages: a.packages,
        egress: a.egress,
        connector: None,
    };
    run(s, p, req, ctx).await
}

pub(crate) async fn query_warehouse(
    s: &AirlockMcp,
    p: &Principal,
    a: tools::QueryWarehouse,
    ctx: &RequestContext<RoleServer>,
) -> CallToolResult {
    let req = ExecutionRequest {
        language: Language::Sql,
        code: a.sql,
        timeout_seconds: None,
        packages: vec![],
        egress: vec![],
        connector: Some(a.connector),
    };
    run(s, p, req, ctx).await
}

fn language(name: Option<&str>) -> Result<Language, GatewayError> {
    let name = name.unwrap_or("python");
    match Language::ALL.into_iter().find(|l| l.as_str() == name) {
        Some(Language::Sql) => Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            "SQL runs on a warehouse connector: use the query_warehouse tool",
        )),
        Some(l) => Ok(l),
        None => Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            format!("unknown language {name:?}; use python, bash or javascript"),
        )),
    }
}

async fn run(
    s: &AirlockMcp,
    p: &Principal,
    req: ExecutionRequest,
    ctx: &RequestContext<RoleServer>,
) -> CallToolResult {
    let session = match s.session(p).await {
        Ok(id) => id,
        Err(e) => return reply::gateway_error(&e),
    };
    let submitted = match s.gateway().submit_within(p, &session, req, TURN_WAIT).await {
        Ok(sub) => sub,
        Err(e) => return reply::gateway_error(&e),
    };
    if let Some(job) = submitted.job.clone() {
        // rmcp may drop this future when the client cancels: the guard cancels the execution
        // then, so it never runs on with nobody waiting for it.
        let _guard = CancelOnDrop {
            gateway: s.gateway().clone(),
            principal: p.clone(),
            job: job.clone(),
        };
        follow(s, p, &job, ctx).await;
    }
    match submitted.finished().await {
        Ok(exec) => reply::execution(&exec),
        Err(e) => reply::gateway_error(&e),
    }
}

/// How long a call waits for the session's turn (an execution a client just cancelled is
/// still stopping; a chat model's calls come one after another).
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Follows the job to its end: printed text as progress, the client's cancellation passed on.
async fn follow(s: &AirlockMcp, p: &Principal, job: &Arc<Job>, ctx: &RequestContext<RoleServer>) {
    let token = ctx.meta.get_progress_token();
    let mut changed = job.log.subscribe();
    let (mut seen, mut notes, mut cancelled) = (0, 0u32, false);
    loop {
        let (events, finished) = job.log.after(seen);
        for n in events {
            seen = n.id;
            if let (Some(t), JobEvent::Printed { text, .. }) = (&token, n.event) {
                notes += 1;
                let note =
                    ProgressNotificationParam::new(t.clone(), f64::from(notes)).with_message(text);
                if let Err(e) = ctx.peer.notify_progress(note).await {
                    tracing::debug!(error = %e, "a progress notification was not delivered");
                }
            }
        }
        if finished {
            return;
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            _ = ctx.ct.cancelled(), if !cancelled => {
                cancelled = true;
                if let Err(e) = s.gateway().cancel_execution(p, &job.execution_id).await {
                    tracing::warn!(error = %e, "cancelling an execution for an MCP client");
                }
            }
        }
    }
}

/// Cancels the execution if the call ends (or is dropped) before the execution does.
struct CancelOnDrop {
    gateway: Arc<airlock_gateway_core::Gateway>,
    principal: Principal,
    job: Arc<Job>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.job.log.finished_at().is_some() {
            return;
        }
        let (gateway, p, id) = (
            self.gateway.clone(),
            self.principal.clone(),
            self.job.execution_id.clone(),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = gateway.cancel_execution(&p, &id).await {
                    tracing::warn!(error = %e, "cancelling an abandoned MCP execution");
                }
            });
        }
    }
}
