//! The policy dry run: the decision a caller would get for a request, with nothing executed or
//! changed. The REST API's `/v1/policy/evaluate` and the console's playground both ask here.

use crate::{service::err, Gateway};
use airlock_gateway_domain::{
    policy_input::{Action, PolicyInput, RequestFacts, SessionFacts},
    Decision, ErrorCode, GatewayError, Language, Principal, SessionId,
};

/// What to decide: the request's facts as a caller would send them.
#[derive(Clone, Debug, Default)]
pub struct DryRun {
    /// `session.create`, `file.upload`, `file.download` or `execution.run`.
    pub action: String,
    pub session_id: Option<String>,
    pub language: Option<String>,
    pub code: Option<String>,
    pub timeout_seconds: Option<u32>,
    pub packages: Vec<String>,
    pub egress: Vec<String>,
    pub path: Option<String>,
    pub classification: Option<String>,
    pub connector: Option<String>,
}

fn action(name: &str) -> Result<Action, GatewayError> {
    Ok(match name {
        "session.create" => Action::SessionCreate,
        "file.upload" => Action::FileUpload,
        "file.download" => Action::FileDownload,
        "execution.run" => Action::ExecutionRun,
        other => {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("unknown action {other:?}"),
            ))
        }
    })
}

impl Gateway {
    pub async fn dry_run(&self, p: &Principal, req: DryRun) -> Result<Decision, GatewayError> {
        let action = action(&req.action)?;
        let session = match &req.session_id {
            Some(raw) => {
                let id = SessionId::parse(raw)
                    .ok_or_else(|| err(ErrorCode::SessionNotFound, "no such session"))?;
                let s = self.get_session(p, &id).await?;
                Some(SessionFacts {
                    id: s.id.to_string(),
                    labels: s.labels,
                    executions: 0,
                })
            }
            None => None,
        };
        let language = match &req.language {
            Some(l) => Some(Language::parse(l).ok_or_else(|| {
                err(
                    ErrorCode::UnsupportedLanguage,
                    format!("language {l:?} is not supported"),
                )
            })?),
            None => None,
        };
        let input = PolicyInput {
            action,
            principal: p.clone(),
            session,
            request: RequestFacts {
                language: req.language,
                code_bytes: req.code.as_ref().map(|c| c.len() as u64),
                timeout_seconds: req.timeout_seconds,
                packages: req.packages,
                egress: req.egress,
                path: req.path,
                classification: req.classification,
                connector: req.connector,
                ..Default::default()
            },
            analysis: None,
        };
        self.evaluate_code(input, language.zip(req.code.as_deref()))
    }
}
