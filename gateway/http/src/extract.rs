//! `Caller`: the authenticated principal. A handler that names it cannot run unauthenticated.

use crate::{error::ApiError, AppState};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use airlock_gateway_domain::{ErrorCode, GatewayError, Principal};
use std::{future::Future, pin::Pin};

pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get("authorization")
            .map(|h| h.to_str().map(str::to_owned));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError(GatewayError::internal("no app state")))?;
            let header = match header {
                None => None,
                Some(Ok(h)) => Some(h),
                Some(Err(_)) => {
                    return Err(ApiError(GatewayError::new(
                        ErrorCode::MalformedToken,
                        "the Authorization header is not ASCII",
                    )))
                }
            };
            let p = state
                .auth
                .authenticate(header.as_deref())
                .await
                .map_err(|e| {
                    tracing::info!(code = e.code.as_str(), "authentication failed");
                    ApiError(e)
                })?;
            state.gateway.admit(&p)?;
            Ok(Caller(p))
        })
    }
}
