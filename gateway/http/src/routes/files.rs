use crate::{
    dto::FileList,
    error::{code, ApiError},
    extract::Caller,
    AppState,
};
use actix_multipart::Multipart;
use actix_web::{get, post, web, HttpResponse};
use airlock_gateway_domain::{ErrorCode, FileInfo, WorkspacePath};
use futures::StreamExt;

fn bad_path(raw: &str, e: &airlock_gateway_domain::files::PathError) -> ApiError {
    ApiError(
        airlock_gateway_domain::GatewayError::new(
            ErrorCode::InvalidPath,
            format!("invalid file path: {e}"),
        )
        .with_details(serde_json::json!({"path": raw.escape_debug().to_string()})),
    )
}

/// Upload a file (multipart/form-data: `file`, optional `path` and `classification`).
#[utoipa::path(post, path = "/v1/sessions/{id}/files", tag = "files",
    params(("id" = String, Path)),
    responses((status = 201, body = FileInfo), (status = 400, body = crate::dto::ErrorBody), (status = 403, body = crate::dto::ErrorBody), (status = 413, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/sessions/{id}/files")]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    // Make sure the session exists and is the caller's before reading a large body.
    state.gateway.get_session(&caller.0, &id).await?;
    let limit = state.gateway.settings().limits.upload_bytes;
    let (mut data, mut filename, mut path, mut classification) =
        (None::<Vec<u8>>, None, None, None);
    let mut seen: Vec<String> = vec![];
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| code(ErrorCode::InvalidMultipart, e.to_string()))?;
        let name = field
            .content_disposition()
            .and_then(|cd| cd.get_name())
            .unwrap_or_default()
            .to_owned();
        // Each field once: a stream of repeated parts is refused, not read.
        if seen.contains(&name) {
            return Err(code(
                ErrorCode::InvalidMultipart,
                format!("field {name:?} appears more than once"),
            ));
        }
        seen.push(name.clone());
        if name == "file" {
            filename = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(str::to_owned);
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| code(ErrorCode::InvalidMultipart, e.to_string()))?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(code(
                    ErrorCode::PayloadTooLarge,
                    format!("uploads are limited to {limit} bytes"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        let text = || {
            String::from_utf8(buf.clone()).map_err(|_| {
                code(
                    ErrorCode::InvalidMultipart,
                    format!("field {name} is not UTF-8"),
                )
            })
        };
        match name.as_str() {
            "file" => data = Some(buf),
            "path" => path = Some(text()?),
            "classification" => classification = Some(text()?),
            _ => {
                return Err(code(
                    ErrorCode::InvalidMultipart,
                    format!("unexpected field {name:?}; send file, path, classification"),
                ))
            }
        }
    }
    let data = data.ok_or_else(|| {
        code(
            ErrorCode::InvalidMultipart,
            "the upload has no 'file' field",
        )
    })?;
    let raw = path.or(filename).ok_or_else(|| {
        code(
            ErrorCode::InvalidPath,
            "name the file with a filename or a 'path' field",
        )
    })?;
    let wp = WorkspacePath::parse(&raw).map_err(|e| bad_path(&raw, &e))?;
    let info = state
        .gateway
        .upload_file(&caller.0, &id, &wp, data, classification)
        .await?;
    Ok(HttpResponse::Created().json(info))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/files", tag = "files",
    params(("id" = String, Path)), responses((status = 200, body = FileList)), security(("bearer" = [])))]
#[get("/sessions/{id}/files")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    Ok(HttpResponse::Ok().json(FileList {
        files: state.gateway.list_files(&caller.0, &id).await?,
    }))
}

/// Download a workspace file (policy-checked and audited).
#[utoipa::path(get, path = "/v1/sessions/{id}/files/{path}", tag = "files",
    params(("id" = String, Path), ("path" = String, Path)),
    responses((status = 200, description = "the file's bytes; X-Airlock-Sha256 carries their digest"), (status = 403, body = crate::dto::ErrorBody), (status = 404, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/sessions/{id}/files/{path:.*}")]
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, raw) = params.into_inner();
    let id = super::session_id(&id)?;
    let wp = WorkspacePath::parse(&raw).map_err(|e| bad_path(&raw, &e))?;
    let (info, bytes) = state.gateway.download_file(&caller.0, &id, &wp).await?;
    Ok(HttpResponse::Ok()
        .content_type(info.media_type.as_str())
        .insert_header(("X-Airlock-Sha256", info.sha256))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Disposition", "attachment"))
        .body(bytes))
}
