//! OAuth 2.0 Protected Resource Metadata (RFC 9728): which authorization servers issue tokens
//! for `/mcp`. Served at the path-inserted well-known location of the resource and at the
//! bare one, so clients of either form of discovery find it.

use crate::guard::Shared;
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    pub resource_name: String,
}

/// The metadata URL of `resource` (`https://h/mcp` -> `https://h/.well-known/oauth-protected-resource/mcp`).
pub(crate) fn metadata_url(resource: &str) -> String {
    let (scheme, rest) = resource.split_once("://").unwrap_or(("https", resource));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        format!("{scheme}://{host}/.well-known/oauth-protected-resource")
    } else {
        format!("{scheme}://{host}/.well-known/oauth-protected-resource/{path}")
    }
}

async fn metadata(shared: web::Data<Shared>) -> HttpResponse {
    let s = &shared.settings;
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "max-age=300"))
        .json(ResourceMetadata {
            resource: s.resource.clone(),
            authorization_servers: s.authorization_servers.clone(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: "Airlock code interpreter".into(),
        })
}

pub(crate) fn routes() -> actix_web::Scope {
    web::scope("/.well-known/oauth-protected-resource")
        .route("", web::get().to(metadata))
        .route("/mcp", web::get().to(metadata))
}

#[cfg(test)]
mod tests {
    use super::metadata_url;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_resource_path() {
        assert_eq!(
            metadata_url("https://airlock.example.com/mcp"),
            "https://airlock.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
    }
}
