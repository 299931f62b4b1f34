//! The sandbox pod: the agent listens on TCP for the gateway only (per-session token), the
//! code runs as a non-root user with a read-only root file system, no privilege escalation,
//! every capability dropped, the runtime's default seccomp profile, no service account token,
//! no host namespaces; resources from the session's limits; the workspace an `emptyDir` with a
//! size limit; labels for session, tenant and pool.

use airlock_gateway_domain::Limits;
use k8s_openapi::{
    api::core::v1::{
        Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, Pod,
        PodSecurityContext, PodSpec, Probe, ResourceRequirements, SeccompProfile,
        SecretVolumeSource, SecurityContext, TCPSocketAction, Volume, VolumeMount,
    },
    apimachinery::pkg::{
        api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString,
    },
};
use std::collections::BTreeMap;

/// The agent port pods use unless a template says otherwise.
pub const DEFAULT_AGENT_PORT: u16 = 7070;
pub const LABEL_SESSION: &str = "airlock.dev/session";
pub const LABEL_TENANT: &str = "airlock.dev/tenant";
pub const LABEL_POOL: &str = "airlock.dev/pool";
/// `warm` (in the pool, no session) or `claimed` (a session's).
pub const LABEL_STATE: &str = "airlock.dev/state";
pub const STATE_WARM: &str = "warm";
pub const STATE_CLAIMED: &str = "claimed";
const LABEL_MANAGED: &str = "app.kubernetes.io/managed-by";
/// The uid the sandbox runs as (the image's `airlock` user; never 0).
const SANDBOX_UID: i64 = 1000;

/// What a platform team configures per template.
#[derive(Clone, Debug)]
pub struct PodTemplate {
    /// The pool (template) name.
    pub name: String,
    pub namespace: String,
    /// The sandbox runtime image (agent, kernel, pinned packages), by digest in production.
    pub image: String,
    /// `gvisor` or `kata` in production; None runs under the node's default runtime.
    pub runtime_class: Option<String>,
    /// Extra labels (cost centre, team).
    pub labels: BTreeMap<String, String>,
    /// Node selector for sandbox nodes.
    pub node_selector: BTreeMap<String, String>,
    /// The port the agent listens on in the pod.
    pub agent_port: u16,
    /// A user namespace per pod (`hostUsers: false`; Kubernetes 1.33+ with a runtime that
    /// supports it; gVisor brings its own isolation and may not).
    pub user_namespace: bool,
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn q(s: String) -> Quantity {
    Quantity(s)
}

/// Label values: at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn label_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The pod of one session (`session` and `tenant` None: a warm-pool pod, which carries no
/// tenant data or identity until it is claimed). `token_secret` names the Secret holding the
/// agent's per-session token.
pub fn sandbox_pod(
    t: &PodTemplate,
    limits: &Limits,
    name: &str,
    session: Option<&str>,
    tenant: Option<&str>,
    token_secret: Option<&str>,
) -> Pod {
    let mut labels = t.labels.clone();
    labels.insert(LABEL_MANAGED.into(), "airlock".into());
    labels.insert(LABEL_POOL.into(), label_value(&t.name));
    if let Some(s) = session {
        labels.insert(LABEL_SESSION.into(), label_value(s));
    }
    labels.insert(
        LABEL_STATE.into(),
        if session.is_some() {
            STATE_CLAIMED
        } else {
            STATE_WARM
        }
        .into(),
    );
    if let Some(tn) = tenant {
        labels.insert(LABEL_TENANT.into(), label_value(tn));
    }
    let memory = q(format!("{}Mi", limits.memory_mib));
    let cpu = q(format!("{}m", limits.cpu_millis));
    let resources = ResourceRequirements {
        // Requests equal limits: the sandbox is Guaranteed and its limits are its promise.
        limits: Some(BTreeMap::from([
            ("memory".into(), memory.clone()),
            ("cpu".into(), cpu.clone()),
            (
                "ephemeral-storage".into(),
                q(format!("{}Mi", limits.workspace_mib + 256)),
            ),
        ])),
        requests: Some(BTreeMap::from([
            ("memory".into(), memory),
            ("cpu".into(), cpu),
            (
                "ephemeral-storage".into(),
                q(format!("{}Mi", limits.workspace_mib + 256)),
            ),
        ])),
        ..Default::default()
    };
    let security = SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(SANDBOX_UID),
        run_as_group: Some(SANDBOX_UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..Default::default()
    };
    let mut mounts = vec![
        VolumeMount {
            name: "workspace".into(),
            mount_path: "/workspace".into(),
            ..Default::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        },
    ];
    let mut volumes = vec![
        Volume {
            name: "workspace".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(q(format!("{}Mi", limits.workspace_mib))),
            }),
            ..Default::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(q("256Mi".into())),
            }),
            ..Default::default()
        },
    ];
    let mut args = vec![
        "--listen".to_owned(),
        format!("tcp:0.0.0.0:{}", t.agent_port),
        "--workspace".into(),
        "/workspace".into(),
        "--quota-bytes".into(),
        (u64::from(limits.workspace_mib) << 20).to_string(),
        "--max-file-bytes".into(),
        (u64::from(limits.max_file_mib) << 20).to_string(),
    ];
    if let Some(secret) = token_secret {
        mounts.push(VolumeMount {
            name: "agent-token".into(),
            mount_path: "/var/run/airlock".into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "agent-token".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.into()),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..Default::default()
        });
        // The mounted token only lets the gateway claim the pod: the session's token arrives
        // with the claim and is never written where the pod's code can read it.
        args.extend([
            "--token-file".into(),
            "/var/run/airlock/token".into(),
            "--claimable".into(),
        ]);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(t.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PodSpec {
            runtime_class_name: t.runtime_class.clone(),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            host_users: t.user_namespace.then_some(false),
            share_process_namespace: Some(false),
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(5),
            node_selector: (!t.node_selector.is_empty()).then(|| t.node_selector.clone()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(SANDBOX_UID),
                run_as_group: Some(SANDBOX_UID),
                fs_group: Some(SANDBOX_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            containers: vec![Container {
                name: "sandbox".into(),
                image: Some(t.image.clone()),
                image_pull_policy: Some("IfNotPresent".into()),
                args: Some(args),
                ports: Some(vec![ContainerPort {
                    name: Some("agent".into()),
                    container_port: i32::from(t.agent_port),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                env: Some(vec![
                    // Clients that honour the usual variables use the agent's relay to the
                    // gateway's egress port; the NetworkPolicy leaves no other way out.
                    env("HTTP_PROXY", "http://127.0.0.1:3128"),
                    env("HTTPS_PROXY", "http://127.0.0.1:3128"),
                    env("http_proxy", "http://127.0.0.1:3128"),
                    env("https_proxy", "http://127.0.0.1:3128"),
                    env("HOME", "/tmp/home"),
                    env("MPLCONFIGDIR", "/tmp/matplotlib"),
                    EnvVar {
                        name: "OPENBLAS_NUM_THREADS".into(),
                        value: Some("2".into()),
                        value_from: None,
                    },
                    EnvVar {
                        name: "OMP_NUM_THREADS".into(),
                        value: Some("2".into()),
                        value_from: None,
                    },
                ]),
                // The agent binds its port once the kernel runs: ready means claimable.
                readiness_probe: Some(Probe {
                    tcp_socket: Some(TCPSocketAction {
                        port: IntOrString::Int(i32::from(t.agent_port)),
                        host: None,
                    }),
                    period_seconds: Some(1),
                    failure_threshold: Some(3),
                    ..Default::default()
                }),
                resources: Some(resources),
                security_context: Some(security),
                volume_mounts: Some(mounts),
                ..Default::default()
            }],
            volumes: Some(volumes),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
