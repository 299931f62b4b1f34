//! The [`SandboxSql`] port: `sql.airlock` requests from a sandbox run as connector executions
//! of the session's principal, inside the execution that holds the session's turn.

use crate::service::Gateway;
use airlock_gateway_domain::{
    ports::{SandboxSql, SandboxSqlAnswer},
    ErrorCode, ExecutionRequest, GatewayError, Language, SessionId,
};
use std::sync::Weak;

pub(crate) struct SandboxSqlPort(pub Weak<Gateway>);

#[async_trait::async_trait]
impl SandboxSql for SandboxSqlPort {
    async fn query(&self, session_id: &str, connector: &str, sql: &str) -> SandboxSqlAnswer {
        let refused = |code, msg: &str| SandboxSqlAnswer::Refused(GatewayError::new(code, msg));
        let Some(gw) = self.0.upgrade() else {
            return refused(ErrorCode::ShuttingDown, "the gateway is stopping");
        };
        let Some(sid) = SessionId::parse(session_id) else {
            return refused(ErrorCode::SessionNotFound, "no such session");
        };
        let Some(live) = gw.sessions.get(&sid).await else {
            return refused(ErrorCode::SessionNotFound, "no such session");
        };
        let principal = live.session.lock().await.owner.clone();
        let req = ExecutionRequest {
            language: Language::Sql,
            code: sql.to_owned(),
            timeout_seconds: None,
            packages: vec![],
            egress: vec![],
            connector: Some(connector.to_owned()),
        };
        match gw.execute_nested(&principal, &sid, req).await {
            Ok(e) => SandboxSqlAnswer::Ran(Box::new(e)),
            Err(e) => SandboxSqlAnswer::Refused(e),
        }
    }
}
