//! policy/schema/input.schema.json is generated from the Rust input types; this fails when the
//! committed copy is stale. Regenerate with `AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-policy --test schema`.

#[test]
fn committed_input_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/input.schema.json");
    let fresh = serde_json::to_string_pretty(&sorted(airlock_policy::input_schema()))
        .unwrap_or_default()
        + "\n";
    if std::env::var_os("AIRLOCK_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == fresh, "policy/schema/input.schema.json is stale: run AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-policy --test schema");
    assert!(fresh.contains("\"analysis\"") && fresh.contains("\"principal\""));
}

/// Keys in sorted order whatever serde_json's map keeps (its `preserve_order` feature is on in
/// workspace builds, off in this crate's own), so the committed file is one text either way.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => {
            let mut entries: Vec<_> = o.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
