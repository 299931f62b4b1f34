use crate::{
    dto::{EvaluateRequest, EvaluateResponse},
    error::{code, ApiError},
    extract::Caller,
    AppState,
};
use actix_web::{post, web, HttpResponse};
use airlock_gateway_domain::{
    policy_input::{Action, PolicyInput, RequestFacts, SessionFacts},
    ErrorCode, Language,
};

/// Dry run: the decision this caller would get. Nothing is executed or changed.
#[utoipa::path(post, path = "/v1/policy/evaluate", tag = "policy", request_body = EvaluateRequest,
    responses((status = 200, body = EvaluateResponse), (status = 400, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[post("/policy/evaluate")]
pub async fn evaluate(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<EvaluateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let action = match b.action.as_str() {
        "session.create" => Action::SessionCreate,
        "file.upload" => Action::FileUpload,
        "file.download" => Action::FileDownload,
        "execution.run" => Action::ExecutionRun,
        other => {
            return Err(code(
                ErrorCode::InvalidRequest,
                format!("unknown action {other:?}"),
            ))
        }
    };
    let session = match &b.session_id {
        Some(raw) => {
            let s = state
                .gateway
                .get_session(&caller.0, &super::session_id(raw)?)
                .await?;
            Some(SessionFacts {
                id: s.id.to_string(),
                labels: s.labels,
                executions: 0,
            })
        }
        None => None,
    };
    let language = match &b.language {
        Some(l) => Some(Language::parse(l).ok_or_else(|| {
            code(
                ErrorCode::UnsupportedLanguage,
                format!("language {l:?} is not supported"),
            )
        })?),
        None => None,
    };
    let text = b.code.clone();
    let input = PolicyInput {
        action,
        principal: caller.0,
        session,
        request: RequestFacts {
            language: b.language,
            code_bytes: b.code.as_ref().map(|c| c.len() as u64),
            timeout_seconds: b.timeout_seconds,
            packages: b.packages,
            egress: b.egress,
            path: b.path,
            classification: b.classification,
            connector: b.connector,
            ..Default::default()
        },
        analysis: None,
    };
    let decision = state
        .gateway
        .evaluate_code(input, language.zip(text.as_deref()))?;
    Ok(HttpResponse::Ok().json(EvaluateResponse { decision }))
}
