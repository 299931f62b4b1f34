//! The Helm chart (charts/airlock), offline: `helm lint --strict` and `helm template` with the
//! default and the production-like values, the rendered output equal to what is committed
//! (charts/airlock/rendered/, refreshed by charts/airlock/render.sh), every rendered manifest
//! and the sandbox pod the backend creates validated against the Kubernetes API schemas
//! (`kubernetes-validate --strict`), the generated gateway configuration accepted by the
//! gateway, and values the schema or the chart refuse. deploy/test.sh provides helm
//! (AIRLOCK_TEST_HELM) and kubernetes-validate (AIRLOCK_TEST_KUBE_VALIDATE).

use crate::harness::{airlock_bin, repo_root};
use std::{path::PathBuf, process::Command};

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

fn helm(args: &[&str]) -> std::process::Output {
    Command::new(tool("AIRLOCK_TEST_HELM", "helm"))
        .args(args)
        .current_dir(repo_root().join("charts/airlock"))
        .output()
        .unwrap_or_else(|e| panic!("helm (deploy/install-chart-tools.sh installs it): {e}"))
}

fn render(production: bool) -> String {
    let mut args = vec!["template", "airlock", ".", "--namespace", "airlock"];
    if production {
        args.extend(["-f", "ci/production-values.yaml"]);
    }
    let out = helm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn validate(file: &std::path::Path) -> String {
    let out = Command::new(tool("AIRLOCK_TEST_KUBE_VALIDATE", "kubernetes-validate"))
        .arg("--strict")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("kubernetes-validate (PyPI, in the test venv): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}: {text}", file.display());
    text
}

#[test]
fn the_chart_lints_strictly_and_renders_as_committed() {
    for values in [None, Some("ci/production-values.yaml")] {
        let mut args = vec!["lint", "--strict", "."];
        if let Some(v) = values {
            args.extend(["-f", v]);
        }
        let out = helm(&args);
        assert!(
            out.status.success(),
            "helm lint --strict {values:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (production, file) in [(false, "default.yaml"), (true, "production.yaml")] {
        let committed =
            std::fs::read_to_string(repo_root().join("charts/airlock/rendered").join(file))
                .unwrap_or_default();
        assert!(
            render(production) == committed,
            "charts/airlock/rendered/{file} is stale: run charts/airlock/render.sh"
        );
    }
}

#[test]
fn every_rendered_manifest_validates_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (production, kinds) in [
        (false, 11),
        // + HorizontalPodAutoscaler, ServiceMonitor
        (true, 13),
    ] {
        let text = render(production);
        let file = dir.path().join(format!("rendered-{production}.yaml"));
        std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        let report = validate(&file);
        let passed = report.matches("passed for resource").count();
        let documents = text.matches("\nkind: ").count();
        assert_eq!(documents, kinds, "{text}");
        // Every document passed, except the ServiceMonitor, a CRD the tool has no schema for
        // (checked by hand below).
        let servicemonitors = text.matches("kind: ServiceMonitor").count();
        assert_eq!(passed + servicemonitors, documents, "{report}");
        if production {
            assert_eq!(servicemonitors, 1);
            assert!(text.contains("path: /metrics") && text.contains("- port: http"));
        }
        // What the backend needs and no more: pods, Secrets, Leases, in the sandbox namespace.
        assert!(text.contains("resources: [\"pods\"]"));
        assert!(!text.contains("ClusterRole"), "no cluster-wide rights");
        assert!(text.contains("pod-security.kubernetes.io/enforce: restricted"));
    }
}

/// The pod the backend posts, as the API server's schema sees it.
#[test]
fn the_sandbox_pod_the_backend_creates_validates_against_the_kubernetes_schemas() {
    use airlock_gateway_sandbox_kubernetes::{sandbox_pod, PodTemplate};
    let template = PodTemplate {
        name: "default".into(),
        namespace: "airlock-sandboxes".into(),
        image: "registry.example.com/airlock/sandbox@sha256:9a8b".into(),
        runtime_class: Some("gvisor".into()),
        labels: [("cost-center".to_owned(), "data".to_owned())].into(),
        node_selector: [("airlock.dev/sandbox-node".to_owned(), "true".to_owned())].into(),
        user_namespace: true,
        agent_port: 7070,
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, session) in [
        ("sbx-pool-default-0a1b2c", None),
        ("sbx-ses-1", Some("ses_1")),
    ] {
        let pod = sandbox_pod(
            &template,
            &airlock_gateway_domain::Limits::default(),
            name,
            session,
            session.map(|_| "acme"),
            Some(&format!("{name}-token")),
        );
        let mut value = serde_json::to_value(&pod).unwrap_or_else(|e| panic!("{e}"));
        value["apiVersion"] = "v1".into();
        value["kind"] = "Pod".into();
        let file: PathBuf = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, value.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let report = validate(&file);
        assert!(report.contains("passed for resource pod/"), "{report}");
    }
}

/// The configuration the chart generates is one the gateway accepts, for both value sets.
#[test]
fn the_generated_configuration_is_accepted_by_the_gateway() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for production in [false, true] {
        let text = render(production);
        // The ConfigMap's airlock.toml: the indented block after `airlock.toml: |`.
        let start = text
            .find("airlock.toml: |\n")
            .unwrap_or_else(|| panic!("no airlock.toml in the ConfigMap"));
        let toml: String = text[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let file = dir.path().join(format!("airlock-{production}.toml"));
        std::fs::write(&file, &toml).unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(airlock_bin())
            .args(["config", "check", "--config"])
            .arg(&file)
            .env("AIRLOCK_SERVER__INSTANCE_ID", "airlock-7d9f-x2k4q")
            .env(
                "AIRLOCK_SANDBOX__KUBERNETES__EGRESS_ADVERTISE",
                "10.4.0.12:7071",
            )
            .env(
                "AIRLOCK_STATE__DATABASE_URL",
                "postgres://airlock:pw@db:5432/airlock",
            )
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{toml}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let effective = String::from_utf8_lossy(&out.stdout);
        assert!(
            effective.contains("\"backend\": \"kubernetes\""),
            "{effective}"
        );
        assert!(effective.contains("\"egress_advertise\": \"10.4.0.12:7071\""));
    }
}

#[test]
fn values_the_schema_or_the_chart_refuse_are_refused_before_anything_is_rendered() {
    for (args, why) in [
        (vec!["--set", "sandbox.poolSize=-1"], "poolSize"),
        (vec!["--set", "sandbox.namespace=Sandboxes!"], "namespace"),
        (vec!["--set", "audit.code=everything"], "code"),
        (vec!["--set", "unknownKey=1"], "unknownKey"),
        (
            vec![
                "--set",
                "replicaCount=2",
                "--set",
                "database.existingSecret=",
            ],
            "PostgreSQL",
        ),
    ] {
        let mut all = vec!["template", "airlock", "."];
        all.extend(args.iter().copied());
        let out = helm(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} rendered");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}
