//! The tools that are not executions: workspace files (policy-checked, inspected and audited
//! exactly like the REST routes), the caller's review cases, and the session's life.

use crate::{reply, server::AirlockMcp, tools};
use airlock_gateway_core::CaseFilter;
use airlock_gateway_domain::{
    files::FileInfo, review::CaseId, ErrorCode, GatewayError, Principal, WorkspacePath,
};
use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock as Content, ResourceContents};

fn structured(text: String, value: impl serde::Serialize) -> CallToolResult {
    let mut r = CallToolResult::success(vec![Content::text(text)]);
    r.structured_content = Some(serde_json::to_value(value).unwrap_or_default());
    r
}

fn entry(f: &FileInfo) -> tools::FileEntry {
    tools::FileEntry {
        path: f.path.clone(),
        size: f.size,
        sha256: f.sha256.clone(),
        classification: f.classification.clone(),
    }
}

fn path(p: &str) -> Result<WorkspacePath, GatewayError> {
    WorkspacePath::parse(p)
        .map_err(|e| GatewayError::new(ErrorCode::InvalidPath, format!("{p:?}: {e}")))
}

pub(crate) async fn upload(s: &AirlockMcp, p: &Principal, a: tools::UploadFile) -> CallToolResult {
    let data = match (a.content, a.content_base64) {
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| {
                GatewayError::new(ErrorCode::InvalidRequest, format!("content_base64: {e}"))
            }),
        _ => Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            "give exactly one of content and content_base64",
        )),
    };
    let done = async {
        let target = path(&a.path)?;
        let session = s.session(p).await?;
        s.gateway()
            .upload_file(p, &session, &target, data?, a.classification)
            .await
    }
    .await;
    match done {
        Ok(f) => structured(format!("uploaded {} ({} bytes)", f.path, f.size), entry(&f)),
        Err(e) => reply::gateway_error(&e),
    }
}

pub(crate) async fn list(s: &AirlockMcp, p: &Principal) -> CallToolResult {
    let done = async {
        let session = s.session(p).await?;
        let files = s.gateway().list_files(p, &session).await?;
        Ok::<_, GatewayError>((session, files))
    }
    .await;
    match done {
        Ok((session, files)) => {
            let text = files
                .iter()
                .map(|f| format!("{} ({} bytes)\n", f.path, f.size))
                .collect::<String>();
            structured(
                if text.is_empty() {
                    "no files".into()
                } else {
                    text
                },
                tools::FileList {
                    session_id: session.to_string(),
                    files: files.iter().map(entry).collect(),
                },
            )
        }
        Err(e) => reply::gateway_error(&e),
    }
}

pub(crate) async fn read(s: &AirlockMcp, p: &Principal, a: tools::ReadFile) -> CallToolResult {
    let done = async {
        let target = path(&a.path)?;
        let session = s.session(p).await?;
        let (info, data) = s.gateway().download_file(p, &session, &target).await?;
        Ok::<_, GatewayError>((session, info, data))
    }
    .await;
    let (session, info, data) = match done {
        Ok(x) => x,
        Err(e) => return reply::gateway_error(&e),
    };
    let uri = reply::file_uri(session.as_str(), &info.path);
    let contents = match String::from_utf8(data) {
        Ok(text) => ResourceContents::text(text, uri).with_mime_type(info.media_type.clone()),
        Err(bin) => ResourceContents::blob(
            base64::engine::general_purpose::STANDARD.encode(bin.into_bytes()),
            uri,
        )
        .with_mime_type(info.media_type.clone()),
    };
    let mut r = CallToolResult::success(vec![Content::resource(contents)]);
    r.structured_content = Some(serde_json::to_value(entry(&info)).unwrap_or_default());
    r
}

pub(crate) async fn review_status(
    s: &AirlockMcp,
    p: &Principal,
    a: tools::ReviewStatus,
) -> CallToolResult {
    let cases = match a.case_id {
        Some(id) => match CaseId::parse(&id) {
            Some(id) => s.gateway().review_case(p, &id).await.map(|c| vec![c]),
            None => Err(GatewayError::new(
                ErrorCode::CaseNotFound,
                "no such review case",
            )),
        },
        None => {
            let own = CaseFilter {
                mine: true,
                limit: 20,
                ..CaseFilter::default()
            };
            s.gateway().review_cases(p, &own).await
        }
    };
    let cases = match cases {
        Ok(c) => c,
        Err(e) => return reply::gateway_error(&e),
    };
    let summaries: Vec<tools::CaseSummary> = cases
        .into_iter()
        .map(|c| tools::CaseSummary {
            case_id: c.id.to_string(),
            status: c.status.as_str().into(),
            kind: c.kind.as_str().into(),
            execution_id: c.execution_id.to_string(),
            approvals: c.approvals.iter().map(|a| a.subject.clone()).collect(),
            approvals_required: c.rules.approvals_required.max(1),
            reason: c.reason,
        })
        .collect();
    let text = summaries
        .iter()
        .map(|c| {
            format!(
                "{} {} ({}, execution {})\n",
                c.case_id, c.status, c.kind, c.execution_id
            )
        })
        .collect::<String>();
    structured(
        if text.is_empty() {
            "no review cases".into()
        } else {
            text
        },
        tools::Cases { cases: summaries },
    )
}

pub(crate) async fn new_session(s: &AirlockMcp, p: &Principal) -> CallToolResult {
    let done = async {
        s.end(p).await?;
        s.session(p).await
    }
    .await;
    match done {
        Ok(id) => structured(
            format!("new session {id}"),
            tools::SessionInfo {
                session_id: Some(id.to_string()),
                status: "active".into(),
            },
        ),
        Err(e) => reply::gateway_error(&e),
    }
}

pub(crate) async fn end_session(s: &AirlockMcp, p: &Principal) -> CallToolResult {
    match s.end(p).await {
        Ok(id) => structured(
            "the session ended".into(),
            tools::SessionInfo {
                session_id: id.map(|i| i.to_string()),
                status: "deleted".into(),
            },
        ),
        Err(e) => reply::gateway_error(&e),
    }
}
