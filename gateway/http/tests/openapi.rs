//! docs/openapi.json is generated from the code; this fails when the committed copy is stale.
//! Regenerate with `AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test openapi`.

use utoipa::OpenApi;

#[test]
fn committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let fresh = serde_json::to_string_pretty(&airlock_gateway_http::ApiDoc::openapi())
        .unwrap_or_default()
        + "\n";
    if std::env::var_os("AIRLOCK_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == fresh, "docs/openapi.json is stale: run AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test openapi");
    for route in [
        "/v1/sessions",
        "/v1/sessions/{id}/executions",
        "/v1/sessions/{id}/files/{path}",
        "/v1/policy/evaluate",
        "/v1/executions/{id}",
    ] {
        assert!(fresh.contains(&format!("\"{route}\"")), "{route} missing");
    }
}
