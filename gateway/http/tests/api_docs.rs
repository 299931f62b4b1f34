//! docs/api.md lists every error code with its status; this fails when the table is stale.
//! Regenerate with `AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test api_docs`.

const HEADER: &str = "| code | HTTP | meaning |\n|---|---|---|\n";
const EXECUTION_HEADER: &str = "| `error.code` | meaning |\n|---|---|\n";
const EGRESS_HEADER: &str = "| reason | meaning |\n|---|---|\n";

/// `doc` with the table under `header` replaced by `rows`.
fn with_table(doc: &str, header: &str, rows: &str) -> String {
    let (head, rest) = doc
        .split_once(header)
        .unwrap_or_else(|| panic!("docs/api.md lacks the table header {header:?}"));
    let tail_start = rest.find("\n\n").map_or(rest.len(), |i| i + 1);
    format!("{head}{header}{rows}{}", &rest[tail_start..])
}

#[test]
fn error_table_in_api_docs_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = with_table(
        &doc,
        HEADER,
        &airlock_gateway_domain::error::markdown_rows(),
    );
    let fresh = with_table(
        &fresh,
        EXECUTION_HEADER,
        &airlock_gateway_domain::error::execution_markdown_rows(),
    );
    let fresh = with_table(
        &fresh,
        EGRESS_HEADER,
        &airlock_gateway_domain::egress::refusal_markdown_rows(),
    );
    if std::env::var_os("AIRLOCK_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    assert!(doc == fresh, "the error table in docs/api.md is stale: run AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-gateway-http --test api_docs");
}
