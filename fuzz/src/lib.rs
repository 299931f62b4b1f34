//! Fuzz targets: every parser that sees untrusted input, each with the invariants that must hold
//! for any input. The cargo-fuzz harness (`fuzz/cargo-fuzz`, nightly, libFuzzer) calls these for
//! long runs; `tests/corpus.rs` replays the committed corpora (`fuzz/corpus/<target>/`) in every
//! test run. A crash, hang or broken invariant is a bug; its input goes into the corpus.

use airlock_gateway_analysis::Analyzer;
use airlock_gateway_domain::{
    connectors::SqlDialect, execution::Language, files::WorkspacePath, ports::CodeAnalyzer,
};

/// A fuzz target: any bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name (the corpus directory names).
pub const TARGETS: &[(&str, Target)] = &[
    ("python", python),
    ("sql", sql),
    ("workspace_path", workspace_path),
    ("token", token),
    ("agent_protocol", agent_protocol),
    ("egress_head", egress_head),
    ("tls_client_hello", tls_client_hello),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Python cell analysis: never panics, never overflows the stack; refuses what nests too deeply.
pub fn python(data: &[u8]) {
    if let Some(code) = text(data) {
        let _ = Analyzer.analyze(Language::Python, code);
        let _ = Analyzer.analyze(Language::Bash, code);
    }
}

/// SQL analysis in both dialects. Whatever it accepts prints back to a canonical statement that
/// has no backslash, and that the analyser accepts again as itself with the same tables (the
/// text the connector runs means what was analysed).
pub fn sql(data: &[u8]) {
    let Some(sql) = text(data) else { return };
    for dialect in [SqlDialect::Postgres, SqlDialect::Mysql] {
        let facts = Analyzer.analyze_sql(dialect, "public", sql);
        let Some(canonical) = &facts.canonical else {
            continue;
        };
        assert!(!canonical.contains('\\'), "backslash in {canonical:?}");
        assert!(facts.refusals.is_empty() && facts.statements.len() == 1);
        let again = Analyzer.analyze_sql(dialect, "public", canonical);
        assert_eq!(
            again.canonical.as_deref(),
            Some(canonical.as_str()),
            "not a fixpoint: {sql:?}"
        );
        assert_eq!(
            again.statements, facts.statements,
            "tables changed: {sql:?}"
        );
    }
}

/// Workspace paths: what parses stays inside the workspace and parses back to itself.
pub fn workspace_path(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(p) = WorkspacePath::parse(s) {
        let printed = p.to_string();
        assert!(
            !printed.starts_with('/') && !printed.contains('\0'),
            "{printed:?}"
        );
        assert!(
            !printed
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty()),
            "{printed:?}"
        );
        assert!(!printed.chars().any(char::is_control), "{printed:?}");
        assert_eq!(
            WorkspacePath::parse(&printed).map(|q| q.to_string()).ok(),
            Some(printed)
        );
    }
}

/// Token headers and unverified claims, before any key is looked up.
pub fn token(data: &[u8]) {
    if let Some(t) = text(data) {
        if let Ok(u) = airlock_gateway_auth::inspect_token(t) {
            assert!(airlock_gateway_auth::parse_algorithm(&format!("{:?}", u.alg)).is_some());
        }
    }
}

/// The agent protocol: framing, then every frame as the gateway's envelope and the agent's
/// event; what decodes encodes again.
pub fn agent_protocol(data: &[u8]) {
    for frame in airlock_sandbox_protocol::decode_frames(data)
        .into_iter()
        .flatten()
    {
        assert!(frame.len() <= airlock_sandbox_protocol::MAX_FRAME);
        if let Ok(env) = serde_json::from_slice::<airlock_sandbox_protocol::Envelope>(&frame) {
            assert!(serde_json::to_vec(&env).is_ok());
        }
        if let Ok(ev) = serde_json::from_slice::<airlock_sandbox_protocol::Event>(&frame) {
            assert!(serde_json::to_vec(&ev).is_ok());
        }
    }
}

/// The egress proxy's request heads: what is admitted for parsing names a host and a port and
/// says where the head ends.
pub fn egress_head(data: &[u8]) {
    if let Ok(h) = airlock_gateway_egress::head::parse(data) {
        assert!(!h.host.is_empty() && h.port != 0, "{h:?}");
        assert!(h.len <= data.len());
        assert!(h.connect || h.path.starts_with('/'), "{h:?}");
    }
}

/// TLS ClientHello server names, read before a tunnel is admitted.
pub fn tls_client_hello(data: &[u8]) {
    let _ = airlock_gateway_egress::client_hello_sni(data);
}
