//! Personal access keys: a signed-in user mints a named, expiring key for a tool that holds
//! one static credential, lists their keys and revokes them. The secret is shown once, at
//! minting; a key cannot manage keys.

use crate::{error::ApiError, extract::Caller, AppState};
use actix_web::{delete, get, post, web, HttpResponse};
use airlock_gateway_domain::access_keys::AccessKey;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintKey {
    /// What the key is for (`jupyterlab on my laptop`): 1 to 100 printable characters.
    name: String,
    /// Days the key lives; default and maximum `access_keys.max_days` (90).
    expires_in_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: String,
    name: String,
    created_at: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    status: String,
}

#[derive(Serialize, ToSchema)]
pub struct MintedKeyView {
    #[serde(flatten)]
    key: KeyView,
    /// The secret, shown this once: present it as `Authorization: Bearer <secret>` (or
    /// Jupyter's `Authorization: token <secret>`). Only its SHA-256 is stored.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn view(k: &AccessKey, now: time::OffsetDateTime) -> KeyView {
    let status = match (k.revoked_at, now >= k.expires_at) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        (None, false) => "active",
    };
    KeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: rfc3339(k.expires_at),
        revoked_at: k.revoked_at.map(rfc3339),
        status: status.into(),
    }
}

/// Mints a personal access key acting as the caller (identity and groups as now).
#[utoipa::path(post, path = "/v1/access-keys", tag = "access keys", request_body = MintKey,
    responses((status = 201, body = MintedKeyView),
              (status = 400, body = crate::dto::ErrorBody, description = "a bad name or lifetime"),
              (status = 403, body = crate::dto::ErrorBody, description = "called with an access key (access_key_not_allowed)"),
              (status = 409, body = crate::dto::ErrorBody, description = "too_many_access_keys")),
    security(("bearer" = [])))]
#[post("/access-keys")]
pub async fn mint(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<MintKey>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let lifetime = b
        .expires_in_days
        .map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
    let minted = state
        .gateway
        .mint_access_key(&caller.0, &b.name, lifetime)
        .await?;
    let now = state.gateway.now_for_api();
    Ok(HttpResponse::Created().json(MintedKeyView {
        key: view(&minted.key, now),
        secret: minted.secret,
    }))
}

/// The caller's keys, newest first (never their secrets).
#[utoipa::path(get, path = "/v1/access-keys", tag = "access keys",
    responses((status = 200, body = KeyList),
              (status = 403, body = crate::dto::ErrorBody, description = "called with an access key")),
    security(("bearer" = [])))]
#[get("/access-keys")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let keys = state.gateway.access_keys(&caller.0).await?;
    let now = state.gateway.now_for_api();
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys.iter().map(|k| view(k, now)).collect(),
    }))
}

/// Revokes one of the caller's keys: refused from the next request on. Idempotent.
#[utoipa::path(delete, path = "/v1/access-keys/{id}", tag = "access keys",
    params(("id" = String, Path, description = "the key's id (`ak_...`)")),
    responses((status = 200, body = KeyView),
              (status = 404, body = crate::dto::ErrorBody, description = "access_key_not_found")),
    security(("bearer" = [])))]
#[delete("/access-keys/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = state.gateway.revoke_access_key(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(view(&key, state.gateway.now_for_api())))
}
