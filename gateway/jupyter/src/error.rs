//! Errors as Jupyter Server answers them: `{"message", "reason"}` (`reason` the stable code),
//! with the status and headers the REST API gives the same error (`response_head`).

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use airlock_gateway_domain::{ErrorCode, GatewayError};

#[derive(Debug)]
pub struct JupyterError(pub GatewayError);

impl std::fmt::Display for JupyterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code.as_str(), self.0.message)
    }
}

impl From<GatewayError> for JupyterError {
    fn from(e: GatewayError) -> Self {
        Self(e)
    }
}

impl JupyterError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(GatewayError::new(code, message))
    }
}

impl ResponseError for JupyterError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        airlock_gateway_http::response_head(&self.0).json(serde_json::json!({
            "message": self.0.message,
            "reason": self.0.code.as_str(),
            "details": self.0.details,
        }))
    }
}
