use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = d.path().join("airlock.toml");
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    (d, p)
}

fn err(text: &str, e: &[(&str, &str)]) -> String {
    let (_d, p) = write(text);
    Config::load(Some(&p), env(e))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "accepted".into())
}

const DEV: &str = "[auth.dev_issuer]\nenabled = true\n";

#[test]
fn example_config_in_deploy_is_valid() {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/airlock.example.toml");
    Config::load(Some(&p), vec![]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn defaults_need_an_issuer() {
    let e = Config::load(None, vec![])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("auth.issuers"), "{e}");
}

#[test]
fn env_overrides_nested_keys_with_types() {
    let (_d, p) = write(DEV);
    let c = Config::load(
        Some(&p),
        env(&[
            ("AIRLOCK_SESSIONS__TTL_SECONDS", "600"),
            ("AIRLOCK_SERVER__LISTEN", "127.0.0.1:9999"),
            ("AIRLOCK_LOG", "debug"),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sessions.ttl_seconds, 600);
    assert_eq!(c.server.listen, "127.0.0.1:9999");
}

const CONNECTOR_TYPO_SSL: &str = "[auth.dev_issuer]\nenabled = true\n[vault]\n[[connectors]]\nname = \"w\"\nkind = \"postgres\"\nhost = \"db\"\nport = 5432\ndatabase = \"w\"\nssl_mode = \"verify_full\"\n";
const CONNECTOR_TYPO_KIND: &str = "[auth.dev_issuer]\nenabled = true\n[vault]\n[[connectors]]\nname = \"w\"\nkind = \"postgresql\"\nhost = \"db\"\nport = 5432\ndatabase = \"w\"\n";

#[test]
fn bad_config_is_rejected_naming_the_key() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("[server]\nlisten = \"nope\"\n[auth.dev_issuer]\nenabled = true\n", &[], "server.listen"),
        ("[server]\nlistne = \"x\"\n", &[], "listne"),
        (DEV, &[("AIRLOCK_SESSIONS__TTL_SECONDS", "\"soon\"")], "sessions.ttl_seconds"),
        (DEV, &[("AIRLOCK_LIMITS__MEMORY_MIB", "16")], "limits.memory_mib"),
        ("[server]\nlisten = \"0.0.0.0:8080\"\n[auth.dev_issuer]\nenabled = true\n", &[], "auth.dev_issuer.enabled"),
        ("[[auth.issuers]]\nissuer = \"http://idp.example.com\"\naudiences = [\"a\"]\n", &[], "auth.issuers[0].issuer"),
        ("[[auth.issuers]]\nissuer = \"https://idp\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n", &[], "auth.issuers[0].algorithms"),
        ("[[auth.issuers]]\nissuer = \"https://idp\"\naudiences = []\n", &[], "auth.issuers[0].audiences"),
        (DEV, &[("AIRLOCK_SANDBOX__LOCAL__UID_BASE", "0")], "sandbox.local.uid_base"),
        ("not toml = = 1", &[], "not valid TOML"),
        ("[auth.dev_issuer]\nenabled = true\n[policy]\nbundle_dir = \"/a\"\nbundle_url = \"https://b\"\n", &[], "bundle_dir, bundle_file, bundle_url"),
        ("[auth.dev_issuer]\nenabled = true\n[policy]\nrequire_signature = true\n", &[], "policy.signing_keys"),
        ("[auth.dev_issuer]\nenabled = true\n[policy]\nbundle_url = \"http://bundles.example.com/b.tar.gz\"\n", &[], "policy.bundle_url"),
        // Modes are enums: a misspelt mode is refused with its key, never a silent fallback.
        (CONNECTOR_TYPO_SSL, &[], "connectors[0].ssl_mode"),
        (CONNECTOR_TYPO_KIND, &[], "connectors[0].kind"),
        ("[auth.dev_issuer]\nenabled = true\n[vault]\nauth = \"approl\"\n", &[], "vault.auth"),
        ("[auth.dev_issuer]\nenabled = true\n[sandbox.local]\ncgroups = \"best-effort\"\n", &[], "sandbox.local.cgroups"),
        ("[auth.dev_issuer]\nenabled = true\n[telemetry]\nlog_format = \"JSON\"\n", &[], "telemetry.log_format"),
        // Named detectors: a bad pattern, a built-in's name, or one matching nothing at all.
        (&format!("{DEV}[outputs]\ndetectors = [{{ name = \"x\", pattern = \"(\" }}]\n"), &[], "outputs.detectors[0]"),
        (&format!("{DEV}[outputs]\ndetectors = [{{ name = \"email\", pattern = \"@\" }}]\n"), &[], "outputs.detectors[0]"),
        (&format!("{DEV}[outputs]\ndetectors = [{{ name = \"a\", pattern = \"b\" }}, {{ name = \"z\", pattern = \"x*\" }}]\n"), &[], "outputs.detectors[1]"),
    ];
    for (text, e, want) in cases {
        let got = err(text, e);
        assert!(got.contains(want), "expected {want:?} in {got:?}");
    }
}

#[test]
fn audit_settings_are_validated_with_the_key_named() {
    let kafka = |extra: &str| {
        err(
            &format!("{DEV}[audit.kafka]\nbrokers = \"127.0.0.1:9092\"\n{extra}"),
            &[],
        )
    };
    assert_eq!(kafka(""), "accepted");
    assert!(kafka("topic = \"a b\"").contains("audit.kafka.topic"));
    assert!(kafka("max_backlog = 0").contains("audit.kafka.max_backlog"));
    // The delivery guarantees cannot be turned off through the pass-through properties.
    let e = kafka("[audit.kafka.properties]\n\"enable.idempotence\" = \"false\"");
    assert!(
        e.contains("audit.kafka.properties.enable.idempotence"),
        "{e}"
    );
    assert!(kafka("[audit.kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"") == "accepted");
    assert!(err(&format!("{DEV}[audit.kafka]\n"), &[]).contains("audit.kafka.brokers"));
    let e = err(
        &format!("{DEV}[audit]\nredact_patterns = [\"(unclosed\"]\n"),
        &[],
    );
    assert!(e.contains("audit.redact_patterns[0]"), "{e}");
    assert!(err(&format!("{DEV}[audit]\ncode = \"sometimes\"\n"), &[]) != "accepted");
}

#[test]
fn the_kubernetes_backend_needs_a_valid_namespace() {
    let ok = err(&format!("{DEV}[sandbox]\nbackend = \"kubernetes\"\n"), &[]);
    assert_eq!(ok, "accepted");
    let e = err(
        &format!("{DEV}[sandbox]\nbackend = \"kubernetes\"\n[sandbox.kubernetes]\nnamespace = \"Sandboxes!\"\n"),
        &[],
    );
    assert!(e.contains("sandbox.kubernetes.namespace"), "{e}");
}

#[test]
fn warm_pools_have_distinct_names_and_a_real_lease() {
    let k8s = format!("{DEV}[sandbox]\nbackend = \"kubernetes\"\n[sandbox.kubernetes]\n");
    let ok = err(
        &format!("{k8s}pools = [{{name = \"small\", size = 2, memory_mib = 256}}]\n"),
        &[],
    );
    assert_eq!(ok, "accepted");
    for bad in [
        "pools = [{name = \"default\", size = 1}]\n",
        "pools = [{name = \"a\", size = 1}, {name = \"a\", size = 2}]\n",
        "pools = [{name = \"Small!\", size = 1}]\n",
    ] {
        let e = err(&format!("{k8s}{bad}"), &[]);
        assert!(e.contains("sandbox.kubernetes.pools"), "{bad}: {e}");
    }
    let e = err(&format!("{k8s}pool_lease_seconds = 1\n"), &[]);
    assert!(e.contains("pool_lease_seconds"), "{e}");
}

#[test]
fn local_warm_pools_are_planned_per_class_with_distinct_names() {
    let (_d, p) = write(&format!(
        "{DEV}[limits]\nmemory_mib = 1024\n[sandbox.local]\npool_size = 2\n[[sandbox.local.pools]]\nname = \"small\"\nsize = 1\nmemory_mib = 256\n[[sandbox.local.pools]]\nname = \"off\"\nsize = 0\n"
    ));
    let c = Config::load(Some(&p), vec![]).unwrap_or_else(|e| panic!("{e}"));
    let plans = crate::pool_plans(&c.limits, c.sandbox.local.pool_size, &c.sandbox.local.pools);
    let got: Vec<(&str, usize, u32)> = plans
        .iter()
        .map(|p| (p.name.as_str(), p.size, p.limits.memory_mib))
        .collect();
    assert_eq!(got, [("default", 2, 1024), ("small", 1, 256)]);

    for bad in ["default", "Small", "a/b"] {
        let (_d, p) = write(&format!(
            "{DEV}[[sandbox.local.pools]]\nname = \"{bad}\"\nsize = 1\n"
        ));
        let e = Config::load(Some(&p), vec![]).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("sandbox.local.pools")),
            "{bad}: {e:?}"
        );
    }
}
