use super::*;

fn template() -> PodTemplate {
    PodTemplate {
        name: "python-default".into(),
        namespace: "airlock-sandboxes".into(),
        image: "registry.example/airlock-sandbox@sha256:abc".into(),
        runtime_class: Some("gvisor".into()),
        labels: BTreeMap::from([("team".into(), "data".into())]),
        node_selector: BTreeMap::from([("airlock.dev/sandbox-node".into(), "true".into())]),
        user_namespace: true,
        agent_port: 7070,
    }
}

fn pod_json(
    session: Option<&str>,
    tenant: Option<&str>,
    secret: Option<&str>,
) -> serde_json::Value {
    let limits = Limits {
        memory_mib: 768,
        cpu_millis: 500,
        workspace_mib: 256,
        ..Default::default()
    };
    let pod = sandbox_pod(&template(), &limits, "sbx-1", session, tenant, secret);
    serde_json::to_value(&pod).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_hardening_field_is_set() {
    let p = pod_json(Some("ses_0123"), Some("acme"), Some("sbx-1-token"));
    let spec = &p["spec"];
    assert_eq!(p["metadata"]["namespace"], "airlock-sandboxes");
    assert_eq!(spec["runtimeClassName"], "gvisor");
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["enableServiceLinks"], false);
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert_eq!(spec[host], false, "{host}");
    }
    assert_eq!(spec["hostUsers"], false, "a user namespace per pod");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_ne!(sc["runAsUser"], 0);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    // Resources from the session's limits; requests equal limits.
    assert_eq!(c["resources"]["limits"]["memory"], "768Mi");
    assert_eq!(c["resources"]["limits"]["cpu"], "500m");
    assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
    // The workspace: an emptyDir with a size limit; /tmp in memory, bounded.
    let vols = spec["volumes"].as_array().cloned().unwrap_or_default();
    let ws = vols
        .iter()
        .find(|v| v["name"] == "workspace")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ws["emptyDir"]["sizeLimit"], "256Mi");
    let tmp = vols
        .iter()
        .find(|v| v["name"] == "tmp")
        .cloned()
        .unwrap_or_default();
    assert_eq!(tmp["emptyDir"]["medium"], "Memory");
    assert!(
        vols.iter().all(|v| v.get("hostPath").is_none()),
        "no host paths"
    );
    // The agent listens on TCP with the session's token from its Secret, read-only.
    let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap_or_default();
    assert!(
        args.windows(2)
            .any(|w| w == ["--listen", "tcp:0.0.0.0:7070"]),
        "{args:?}"
    );
    assert!(args
        .windows(2)
        .any(|w| w == ["--token-file", "/var/run/airlock/token"]));
    assert!(args.windows(2).any(|w| w == ["--quota-bytes", "268435456"]));
    let token = vols
        .iter()
        .find(|v| v["name"] == "agent-token")
        .cloned()
        .unwrap_or_default();
    assert_eq!(token["secret"]["secretName"], "sbx-1-token");
    assert_eq!(token["secret"]["defaultMode"], 0o400);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["nodeSelector"]["airlock.dev/sandbox-node"], "true");
}

#[test]
fn labels_name_session_tenant_and_pool_and_a_pool_pod_carries_neither() {
    let p = pod_json(Some("ses_0123"), Some("Acme Corp!"), Some("t"));
    let l = &p["metadata"]["labels"];
    assert_eq!(l[LABEL_SESSION], "ses_0123");
    assert_eq!(l[LABEL_TENANT], "Acme_Corp", "label values are sanitised");
    assert_eq!(l[LABEL_POOL], "python-default");
    assert_eq!(l["team"], "data");
    let pool = pod_json(None, None, None);
    let l = &pool["metadata"]["labels"];
    assert!(l.get(LABEL_SESSION).is_none() && l.get(LABEL_TENANT).is_none());
    let vols = pool["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        vols.iter().all(|v| v["name"] != "agent-token"),
        "no identity before the claim"
    );
}
