//! Sandbox pods through the Kubernetes API (kube): create a session's token Secret and pod in
//! the sandbox namespace, wait until the agent's pod runs (turning pod failures into clear
//! errors), delete them, and list what the gateway manages (for adopting or deleting orphans).
//! Nothing is ever created outside the configured namespace: every call goes through APIs
//! bound to it.

use crate::pod::{sandbox_pod, PodTemplate, LABEL_SESSION};
use airlock_gateway_domain::{ports::SandboxError, Limits};
use k8s_openapi::{
    api::core::v1::{Pod, Secret},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    api::{DeleteParams, ListParams, PostParams},
    Api, Client,
};
use std::{collections::BTreeMap, time::Duration};

pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=airlock";

/// Why a pod did not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodFailure {
    ImagePull(String),
    OutOfMemory,
    Evicted(String),
    Failed(String),
    Deleted,
    Timeout,
}

impl std::fmt::Display for PodFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ImagePull(m) => write!(f, "the sandbox image could not be pulled: {m}"),
            Self::OutOfMemory => f.write_str("the sandbox was killed for using too much memory"),
            Self::Evicted(m) => write!(f, "the sandbox pod was evicted: {m}"),
            Self::Failed(m) => write!(f, "the sandbox pod failed: {m}"),
            Self::Deleted => f.write_str("the sandbox pod was deleted"),
            Self::Timeout => f.write_str("the sandbox pod did not become ready in time"),
        }
    }
}

/// A pod the gateway manages, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPod {
    pub name: String,
    pub session: Option<String>,
}

pub struct PodManager {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    template: PodTemplate,
}

fn api_err(e: kube::Error) -> SandboxError {
    SandboxError::Start(format!("Kubernetes API: {e}"))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl PodManager {
    /// Connects to `api_url` (plain URL, e.g. a proxy or a test server), or else to the
    /// in-cluster service account or the kubeconfig.
    pub async fn connect(api_url: Option<&str>, template: PodTemplate) -> Result<Self, String> {
        let client = match api_url {
            Some(u) => {
                let uri: http::Uri = u.parse().map_err(|e| format!("{u}: {e}"))?;
                Client::try_from(kube::Config::new(uri)).map_err(|e| e.to_string())?
            }
            None => Client::try_default().await.map_err(|e| e.to_string())?,
        };
        Ok(Self::new(client, template))
    }

    pub fn new(client: Client, template: PodTemplate) -> Self {
        Self {
            pods: Api::namespaced(client.clone(), &template.namespace),
            secrets: Api::namespaced(client, &template.namespace),
            template,
        }
    }

    pub fn secret_name(pod: &str) -> String {
        format!("{pod}-token")
    }

    /// Creates the session's token Secret, then its pod; returns the pod name.
    pub async fn create(
        &self,
        pod_name: &str,
        session: &str,
        tenant: Option<&str>,
        limits: &Limits,
        token: &str,
    ) -> Result<(), SandboxError> {
        let secret_name = Self::secret_name(pod_name);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name.clone()),
                namespace: Some(self.template.namespace.clone()),
                labels: Some(BTreeMap::from([
                    ("app.kubernetes.io/managed-by".into(), "airlock".into()),
                    (LABEL_SESSION.into(), session.into()),
                ])),
                ..Default::default()
            },
            string_data: Some(BTreeMap::from([("token".into(), token.into())])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        self.secrets
            .create(&PostParams::default(), &secret)
            .await
            .map_err(api_err)?;
        let pod = sandbox_pod(
            &self.template,
            limits,
            pod_name,
            Some(session),
            tenant,
            Some(&secret_name),
        );
        if let Err(e) = self.pods.create(&PostParams::default(), &pod).await {
            let _ = self
                .secrets
                .delete(&secret_name, &DeleteParams::default())
                .await;
            return Err(api_err(e));
        }
        Ok(())
    }

    /// Waits until the pod runs with its container ready; returns its IP.
    pub async fn wait_ready(&self, name: &str, timeout: Duration) -> Result<String, PodFailure> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.pods.get(name).await {
                Ok(pod) => match classify(&pod) {
                    Ok(Some(ip)) => return Ok(ip),
                    Ok(None) => {}
                    Err(f) => return Err(f),
                },
                Err(e) if is_not_found(&e) => return Err(PodFailure::Deleted),
                Err(e) => tracing::warn!(error = %e, pod = name, "reading the sandbox pod failed"),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PodFailure::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the pod still runs (for the sweeper's liveness check).
    pub async fn is_running(&self, name: &str) -> bool {
        match self.pods.get(name).await {
            Ok(p) => matches!(classify(&p), Ok(Some(_))),
            // An API hiccup is not a dead sandbox.
            Err(e) => !is_not_found(&e),
        }
    }

    /// Deletes the pod and its Secret; gone already is fine.
    pub async fn delete(&self, name: &str) -> Result<(), SandboxError> {
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        for r in [
            self.pods.delete(name, &dp).await.map(|_| ()),
            self.secrets
                .delete(&Self::secret_name(name), &dp)
                .await
                .map(|_| ()),
        ] {
            match r {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(SandboxError::Gone(format!("Kubernetes API: {e}"))),
            }
        }
        Ok(())
    }

    /// Every pod the gateway manages in the namespace.
    pub async fn list(&self) -> Result<Vec<ManagedPod>, SandboxError> {
        let list = self
            .pods
            .list(&ListParams::default().labels(MANAGED_SELECTOR))
            .await
            .map_err(api_err)?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|p| {
                let name = p.metadata.name?;
                let session = p
                    .metadata
                    .labels
                    .and_then(|l| l.get(LABEL_SESSION).cloned());
                Some(ManagedPod { name, session })
            })
            .collect())
    }

    /// Deletes managed pods whose session is not in `live` (after a gateway restart); returns
    /// the names deleted.
    pub async fn delete_orphans(
        &self,
        live: &std::collections::HashSet<String>,
    ) -> Result<Vec<String>, SandboxError> {
        let mut deleted = vec![];
        for p in self.list().await? {
            let known = p.session.as_ref().is_some_and(|s| live.contains(s));
            if !known {
                self.delete(&p.name).await?;
                deleted.push(p.name);
            }
        }
        Ok(deleted)
    }
}

/// Ready (Some(ip)), not yet (None), or a failure that will not go away by waiting.
pub fn classify(pod: &Pod) -> Result<Option<String>, PodFailure> {
    let Some(status) = &pod.status else {
        return Ok(None);
    };
    let reason = status.reason.clone().unwrap_or_default();
    match status.phase.as_deref() {
        Some("Failed") if reason == "Evicted" => {
            return Err(PodFailure::Evicted(
                status.message.clone().unwrap_or_default(),
            ))
        }
        Some("Failed") | Some("Succeeded") => {
            let oom = status.container_statuses.iter().flatten().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
            });
            if oom {
                return Err(PodFailure::OutOfMemory);
            }
            return Err(PodFailure::Failed(if reason.is_empty() {
                "the container exited".into()
            } else {
                reason
            }));
        }
        _ => {}
    }
    for c in status.container_statuses.iter().flatten() {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            if matches!(
                w.reason.as_deref(),
                Some("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName")
            ) {
                return Err(PodFailure::ImagePull(
                    w.message
                        .clone()
                        .unwrap_or_else(|| w.reason.clone().unwrap_or_default()),
                ));
            }
        }
        if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            if t.reason.as_deref() == Some("OOMKilled") {
                return Err(PodFailure::OutOfMemory);
            }
        }
    }
    let ready = status.phase.as_deref() == Some("Running")
        && status.container_statuses.iter().flatten().all(|c| c.ready)
        && status
            .container_statuses
            .as_ref()
            .is_some_and(|c| !c.is_empty());
    Ok(if ready { status.pod_ip.clone() } else { None })
}
