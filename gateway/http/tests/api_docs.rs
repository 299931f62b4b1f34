//! docs/api.md lists every error code with its status; this fails when the table is stale.
//! Regenerate with `AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test api_docs`.

const HEADER: &str = "| code | HTTP | meaning |\n|---|---|---|\n";

#[test]
fn error_table_in_api_docs_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (head, rest) = doc
        .split_once(HEADER)
        .unwrap_or_else(|| panic!("docs/api.md lacks the error table header"));
    let tail_start = rest.find("\n\n").map_or(rest.len(), |i| i + 1);
    let fresh = format!(
        "{head}{HEADER}{}{}",
        airlock_gateway_domain::error::markdown_rows(),
        &rest[tail_start..]
    );
    if std::env::var_os("AIRLOCK_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    assert!(doc == fresh, "the error table in docs/api.md is stale: run AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test api_docs");
}
