//! Sandbox pods through the Kubernetes API (kube): create a pod and its start-up token Secret
//! in the sandbox namespace, keep a watch-fed view of every pod the gateway manages (a
//! kube-runtime reflector, so readiness, liveness and pool claims read memory, not the API
//! server), claim a warm pod with an optimistic-concurrency patch, turn pod failures into clear
//! errors, and delete pods. Nothing is ever created outside the configured namespace: every
//! call goes through APIs bound to it.

use crate::pod::{
    label_value, sandbox_pod, PodTemplate, LABEL_POOL, LABEL_SESSION, LABEL_STATE, LABEL_TENANT,
    STATE_CLAIMED, STATE_WARM,
};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{ports::SandboxError, Limits};
use futures::StreamExt;
use k8s_openapi::{
    api::core::v1::{Pod, Secret},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ByteString,
};
use kube::{
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::{reflector, watcher, WatchStreamExt},
    Api, Client,
};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=airlock";

/// Why a pod did not become ready, or stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodFailure {
    ImagePull(String),
    OutOfMemory,
    Evicted(String),
    NodeLost(String),
    Failed(String),
    Deleted,
    Timeout,
}

impl PodFailure {
    /// A stable code for session states and audit events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ImagePull(_) => "image_pull",
            Self::OutOfMemory => "oom_killed",
            Self::Evicted(_) => "evicted",
            Self::NodeLost(_) => "node_lost",
            Self::Failed(_) => "pod_failed",
            Self::Deleted => "pod_deleted",
            Self::Timeout => "start_timeout",
        }
    }
}

impl std::fmt::Display for PodFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ImagePull(m) => write!(f, "the sandbox image could not be pulled: {m}"),
            Self::OutOfMemory => f.write_str("the sandbox was killed for using too much memory"),
            Self::Evicted(m) => write!(f, "the sandbox pod was evicted: {m}"),
            Self::NodeLost(m) => write!(f, "the sandbox's node was lost: {m}"),
            Self::Failed(m) => write!(f, "the sandbox pod failed: {m}"),
            Self::Deleted => f.write_str("the sandbox pod was deleted"),
            Self::Timeout => f.write_str("the sandbox pod did not become ready in time"),
        }
    }
}

/// A pod the gateway manages, as seen by the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPod {
    pub name: String,
    pub session: Option<String>,
    pub pool: Option<String>,
    pub state: Option<String>,
    pub resource_version: Option<String>,
    /// Ready (Some(ip)), starting (None) or failed.
    pub status: Result<Option<String>, PodFailure>,
}

impl ManagedPod {
    fn from_pod(p: &Pod) -> Option<Self> {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        Some(Self {
            name: p.metadata.name.clone()?,
            session: labels.get(LABEL_SESSION).cloned(),
            pool: labels.get(LABEL_POOL).cloned(),
            state: labels.get(LABEL_STATE).cloned(),
            resource_version: p.metadata.resource_version.clone(),
            status: classify(p),
        })
    }
}

pub struct PodManager {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    template: PodTemplate,
    client: Client,
    store: reflector::Store<Pod>,
    /// Woken on every watch event.
    changed: Arc<tokio::sync::Notify>,
    watch_task: tokio::task::JoinHandle<()>,
}

impl Drop for PodManager {
    fn drop(&mut self) {
        self.watch_task.abort();
    }
}

fn api_err(e: kube::Error) -> SandboxError {
    SandboxError::Start(Cause::context("Kubernetes API", e))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
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

    /// Starts watching the managed pods of the namespace.
    pub fn new(client: Client, template: PodTemplate) -> Self {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &template.namespace);
        let (store, writer) = reflector::store();
        let changed = Arc::new(tokio::sync::Notify::new());
        let stream = reflector(
            writer,
            watcher(
                pods.clone(),
                watcher::Config::default().labels(MANAGED_SELECTOR),
            ),
        )
        .default_backoff();
        let notify = changed.clone();
        let watch_task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                if let Err(e) = ev {
                    tracing::warn!(error = %e, "watching sandbox pods");
                }
                notify.notify_waiters();
            }
        });
        Self {
            secrets: Api::namespaced(client.clone(), &template.namespace),
            pods,
            template,
            client,
            store,
            changed,
            watch_task,
        }
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    pub fn template(&self) -> &PodTemplate {
        &self.template
    }

    /// Waits until the watch has listed the namespace once.
    pub async fn synced(&self, timeout: Duration) -> Result<(), SandboxError> {
        tokio::time::timeout(timeout, self.store.wait_until_ready())
            .await
            .map_err(|_| SandboxError::Start(Cause::msg("the pod watch did not sync in time")))?
            .map_err(|_| SandboxError::Start(Cause::msg("the pod watch stopped")))
    }

    pub fn secret_name(pod: &str) -> String {
        format!("{pod}-token")
    }

    /// The Secret holding a claimed pod's session token (never mounted into the pod; other
    /// replicas read it to serve the session).
    pub fn session_secret_name(pod: &str) -> String {
        format!("{pod}-session")
    }

    /// Creates a pod with its start-up token Secret. `session`: a pod made for one session
    /// (created claimed); None: a warm-pool pod with no session, tenant or identity.
    pub async fn create(
        &self,
        pod_name: &str,
        session: Option<&str>,
        tenant: Option<&str>,
        limits: &Limits,
        token: &str,
    ) -> Result<(), SandboxError> {
        let pool = self.template.name.clone();
        self.create_in_pool(&pool, pod_name, session, tenant, limits, token)
            .await
    }

    /// `create`, labelled as a pod of warm pool `pool`.
    pub async fn create_in_pool(
        &self,
        pool: &str,
        pod_name: &str,
        session: Option<&str>,
        tenant: Option<&str>,
        limits: &Limits,
        token: &str,
    ) -> Result<(), SandboxError> {
        let secret_name = Self::secret_name(pod_name);
        self.put_secret(&secret_name, session, token).await?;
        let template = PodTemplate {
            name: pool.to_owned(),
            ..self.template.clone()
        };
        let pod = sandbox_pod(
            &template,
            limits,
            pod_name,
            session,
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

    async fn put_secret(
        &self,
        name: &str,
        session: Option<&str>,
        token: &str,
    ) -> Result<(), SandboxError> {
        let mut labels =
            BTreeMap::from([("app.kubernetes.io/managed-by".into(), "airlock".into())]);
        if let Some(s) = session {
            labels.insert(LABEL_SESSION.into(), label_value(s));
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(self.template.namespace.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            string_data: Some(BTreeMap::from([("token".into(), token.into())])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        self.secrets
            .create(&PostParams::default(), &secret)
            .await
            .map(|_| ())
            .map_err(api_err)
    }

    /// Records a claimed pod's session token where other replicas find it.
    pub async fn store_session_token(
        &self,
        pod: &str,
        session: &str,
        token: &str,
    ) -> Result<(), SandboxError> {
        self.put_secret(&Self::session_secret_name(pod), Some(session), token)
            .await
    }

    /// The token in Secret `name`.
    pub async fn token(&self, name: &str) -> Result<Option<String>, SandboxError> {
        let s = match self.secrets.get(name).await {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(api_err(e)),
        };
        if let Some(ByteString(b)) = s.data.as_ref().and_then(|d| d.get("token")) {
            return Ok(String::from_utf8(b.clone()).ok());
        }
        // What a server that keeps `stringData` as written answers.
        Ok(s.string_data.and_then(|d| d.get("token").cloned()))
    }

    /// Marks a warm pod claimed by `session`, if nobody else claimed it first (the patch
    /// carries the resource version the watch saw; a stale one is a 409 and another pod is
    /// tried).
    pub async fn try_claim(
        &self,
        pod: &ManagedPod,
        session: &str,
        tenant: Option<&str>,
    ) -> Result<bool, SandboxError> {
        let mut labels = serde_json::json!({
            LABEL_STATE: STATE_CLAIMED,
            LABEL_SESSION: label_value(session),
        });
        if let Some(t) = tenant {
            labels[LABEL_TENANT] = serde_json::json!(label_value(t));
        }
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": pod.resource_version, "labels": labels}
        });
        match self
            .pods
            .patch(&pod.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(false),
            Err(e) => Err(api_err(e)),
        }
    }

    /// Every managed pod, as the watch sees it.
    pub fn pods(&self) -> Vec<ManagedPod> {
        self.store
            .state()
            .iter()
            .filter_map(|p| ManagedPod::from_pod(p))
            .collect()
    }

    pub fn pod(&self, name: &str) -> Option<ManagedPod> {
        self.store
            .get(&reflector::ObjectRef::new(name).within(&self.template.namespace))
            .and_then(|p| ManagedPod::from_pod(&p))
    }

    /// Warm pods of this template's own pool.
    pub fn warm(&self) -> Vec<ManagedPod> {
        self.warm_in(&self.template.name)
    }

    /// Ready warm pods of pool `pool`.
    pub fn warm_in(&self, pool: &str) -> Vec<ManagedPod> {
        let pool = label_value(pool);
        self.pods()
            .into_iter()
            .filter(|p| p.pool.as_deref() == Some(&pool) && p.state.as_deref() == Some(STATE_WARM))
            .collect()
    }

    /// The pod of `session`, if the watch sees one.
    pub fn pod_of_session(&self, session: &str) -> Option<ManagedPod> {
        let want = label_value(session);
        self.pods()
            .into_iter()
            .find(|p| p.session.as_deref() == Some(&want))
    }

    /// Waits until the pod runs with its container ready; returns its IP.
    pub async fn wait_ready(&self, name: &str, timeout: Duration) -> Result<String, PodFailure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = false;
        loop {
            let notified = self.changed.notified();
            match self.pod(name) {
                Some(p) => {
                    seen = true;
                    match p.status {
                        Ok(Some(ip)) => return Ok(ip),
                        Ok(None) => {}
                        Err(f) => return Err(f),
                    }
                }
                // Created but not yet seen by the watch, or gone after it was seen.
                None if seen => return Err(PodFailure::Deleted),
                None => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(PodFailure::Timeout);
            }
        }
    }

    /// Why the pod stopped, if it did (None: it runs, or is starting).
    pub fn failure(&self, name: &str) -> Option<PodFailure> {
        match self.pod(name) {
            Some(p) => p.status.err(),
            None => Some(PodFailure::Deleted),
        }
    }

    /// Deletes the pod and its Secrets; gone already is fine.
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
            self.secrets
                .delete(&Self::session_secret_name(name), &dp)
                .await
                .map(|_| ()),
        ] {
            match r {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(SandboxError::Gone(Cause::context("Kubernetes API", e))),
            }
        }
        Ok(())
    }

    /// Deletes claimed pods whose session is not in `keep` (after a restart, or a session
    /// that ended elsewhere); warm pods stay. Returns the names deleted.
    pub async fn delete_orphans(
        &self,
        keep: &std::collections::HashSet<String>,
    ) -> Result<Vec<String>, SandboxError> {
        let keep: std::collections::HashSet<String> = keep.iter().map(|s| label_value(s)).collect();
        let mut deleted = vec![];
        for p in self.pods() {
            if p.state.as_deref() == Some(STATE_WARM) {
                continue;
            }
            let known = p.session.as_ref().is_some_and(|s| keep.contains(s));
            if !known {
                self.delete(&p.name).await?;
                deleted.push(p.name);
            }
        }
        Ok(deleted)
    }

    /// Deletes warm pods that failed before anyone claimed them; returns how many.
    pub async fn delete_failed_warm(&self, pool: &str) -> usize {
        let mut n = 0;
        for p in self.warm_in(pool) {
            if p.status.is_err() && self.delete(&p.name).await.is_ok() {
                n += 1;
            }
        }
        n
    }

    /// A watch wake-up (for loops that react to pod changes).
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }
}

/// Ready (Some(ip)), not yet (None), or a failure that will not go away by waiting.
pub fn classify(pod: &Pod) -> Result<Option<String>, PodFailure> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Err(PodFailure::Deleted);
    }
    let Some(status) = &pod.status else {
        return Ok(None);
    };
    let reason = status.reason.clone().unwrap_or_default();
    let message = status.message.clone().unwrap_or_default();
    match status.phase.as_deref() {
        Some("Failed") if reason == "Evicted" => return Err(PodFailure::Evicted(message)),
        Some("Unknown") => return Err(PodFailure::NodeLost(message)),
        _ if reason == "NodeLost" => return Err(PodFailure::NodeLost(message)),
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
