//! The one place errors become HTTP responses: `{"error": {"code", "message", "details"}}`
//! with the status of the code's row in `ErrorCode`.

use actix_web::{
    error::JsonPayloadError, http::StatusCode, HttpRequest, HttpResponse, ResponseError,
};
use airlock_gateway_domain::{ErrorCode, GatewayError};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError(pub GatewayError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code.as_str(), self.0.message)
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        Self(e)
    }
}

pub fn code(c: ErrorCode, msg: impl Into<String>) -> ApiError {
    ApiError(GatewayError::new(c, msg))
}

pub fn body(e: &GatewayError) -> serde_json::Value {
    json!({"error": e})
}

/// The status and headers of `e`'s answer (`WWW-Authenticate` on 401, `Retry-After` when the
/// error says when to retry): every HTTP surface of the gateway answers errors with these,
/// whatever body shape its clients expect.
pub fn response_head(e: &GatewayError) -> actix_web::HttpResponseBuilder {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    if e.code.http_status() == 401 {
        b.insert_header((
            "WWW-Authenticate",
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                e.code.as_str()
            ),
        ));
    }
    if let Some(secs) = e.details["retry_after_seconds"].as_u64() {
        b.insert_header(("Retry-After", secs.to_string()));
    }
    b
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        response_head(&self.0).json(body(&self.0))
    }
}

pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            code(ErrorCode::PayloadTooLarge, err.to_string())
        }
        JsonPayloadError::ContentType => code(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(d) => code(
            ErrorCode::InvalidJson,
            format!("the body does not match the schema: {d}"),
        ),
        other => code(ErrorCode::InvalidJson, other.to_string()),
    };
    e.into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    code(ErrorCode::RouteNotFound, err.to_string()).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    code(
        ErrorCode::InvalidRequest,
        format!("the query string is not valid: {err}"),
    )
    .into()
}
