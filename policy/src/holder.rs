//! Bundle distribution: where the active bundle comes from (embedded, a directory, a
//! `.tar.gz`, or a bundle server polled with ETag), signature checks, and the hot swap.
//! A bad new bundle never replaces the last good one; with no good bundle at all every
//! decision fails, which the gateway turns into a denial (fail closed).

use crate::{
    archive::read_tar_gz,
    bundle::{read_dir_raw, Bundle, LoadError},
    engine::RegoPolicy,
    signing::{Verified, Verifier},
};
use airlock_gateway_domain::{
    decision::Decision,
    policy_input::PolicyInput,
    ports::{PolicyEngine, PolicyError},
};
use serde::Serialize;
use std::{
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

/// Largest bundle downloaded from a server.
const MAX_DOWNLOAD: usize = 64 << 20;

#[derive(Clone, Debug)]
pub enum BundleSource {
    Embedded,
    Dir(PathBuf),
    Archive(PathBuf),
    /// A bundle server URL serving a `.tar.gz` (OPA's bundle service API).
    Url(String),
}

impl BundleSource {
    fn describe(&self) -> String {
        match self {
            Self::Embedded => "embedded".into(),
            Self::Dir(p) => format!("dir:{}", p.display()),
            Self::Archive(p) => format!("file:{}", p.display()),
            Self::Url(u) => u.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HolderStatus {
    pub source: String,
    pub revision: Option<String>,
    pub signed: bool,
    /// Unix seconds of the last successful activation.
    pub activated_at: Option<i64>,
    pub last_error: Option<String>,
    pub etag: Option<String>,
}

pub struct PolicyHolder {
    source: BundleSource,
    verifier: Verifier,
    time_limit: Duration,
    current: RwLock<Option<Arc<RegoPolicy>>>,
    status: Mutex<HolderStatus>,
    http: reqwest::Client,
    /// The newest revision ever activated from this source (anti-rollback), and where it is
    /// kept across restarts.
    floor: Mutex<Option<String>>,
    floor_file: Mutex<Option<PathBuf>>,
}

impl PolicyHolder {
    pub fn new(source: BundleSource, verifier: Verifier, time_limit: Duration) -> Arc<Self> {
        let status = HolderStatus {
            source: source.describe(),
            ..Default::default()
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            source,
            verifier,
            time_limit,
            current: RwLock::new(None),
            status: Mutex::new(status),
            http,
            floor: Mutex::new(None),
            floor_file: Mutex::new(None),
        })
    }

    /// Keeps the newest activated revision in `path` (per source), so a replayed older bundle
    /// is refused after a restart too. Reads the floor kept there.
    pub fn persist_revision_floor(&self, path: PathBuf) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some((source, revision)) = text.split_once('\n') {
                if source == self.source.describe() && !revision.trim().is_empty() {
                    *self.floor.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(revision.trim().to_owned());
                }
            }
        }
        *self.floor_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
    }

    /// Refuses a revision older than the newest one activated from this source.
    fn check_rollback(&self, offered: &str) -> Result<(), LoadError> {
        let floor = self.floor.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match floor {
            Some(active) if crate::revision::compare(offered, &active).is_lt() => {
                Err(LoadError::Rollback {
                    offered: offered.to_owned(),
                    active,
                })
            }
            _ => Ok(()),
        }
    }

    fn raise_floor(&self, revision: &str) {
        let mut floor = self.floor.lock().unwrap_or_else(|e| e.into_inner());
        if floor
            .as_deref()
            .is_some_and(|f| crate::revision::compare(revision, f).is_le())
        {
            return;
        }
        *floor = Some(revision.to_owned());
        if let Some(path) = self
            .floor_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            let text = format!("{}\n{revision}\n", self.source.describe());
            if let Err(e) = std::fs::write(path, text) {
                tracing::error!(error = %e, path = %path.display(), "keeping the policy revision floor failed");
            }
        }
    }

    pub fn status(&self) -> HolderStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn active(&self) -> Option<Arc<RegoPolicy>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Loads the source once. Ok(true) when a new bundle became active, Ok(false) when the
    /// server said 304. On error the previous bundle (if any) stays active.
    pub async fn refresh(&self) -> Result<bool, LoadError> {
        let result = self.load().await;
        let mut st = self
            .status
            .lock()
            .map_err(|_| LoadError::Fetch("status lock poisoned".into()))?;
        match &result {
            Ok(Some((policy, signed, etag))) => {
                self.raise_floor(policy.revision_str());
                st.revision = Some(policy.revision_str().to_owned());
                st.signed = *signed;
                st.activated_at = Some(time_now());
                st.last_error = None;
                st.etag = etag.clone();
                if let Ok(mut cur) = self.current.write() {
                    *cur = Some(policy.clone());
                }
                metrics::counter!("airlock_policy_bundle_activations_total").increment(1);
                tracing::info!(revision = %policy.revision_str(), signed, source = %st.source, "policy bundle activated");
            }
            Ok(None) => st.last_error = None,
            Err(e) => {
                st.last_error = Some(e.to_string());
                metrics::counter!("airlock_policy_bundle_load_failures_total").increment(1);
                tracing::error!(error = %e, source = %st.source, kept = ?st.revision, "policy bundle refused; the last good bundle stays active");
            }
        }
        metrics::gauge!("airlock_policy_bundle_active").set(if self.active().is_some() {
            1.0
        } else {
            0.0
        });
        result.map(|r| r.is_some())
    }

    #[allow(clippy::type_complexity)]
    async fn load(&self) -> Result<Option<(Arc<RegoPolicy>, bool, Option<String>)>, LoadError> {
        let (files, etag) = match &self.source {
            BundleSource::Embedded => {
                let b = Bundle::embedded()?;
                return Ok(Some((
                    Arc::new(RegoPolicy::with_time_limit(&b, self.time_limit)?),
                    false,
                    None,
                )));
            }
            BundleSource::Dir(d) => (read_dir_raw(d)?, None),
            BundleSource::Archive(p) => {
                let bytes = std::fs::read(p).map_err(|source| LoadError::Io {
                    path: p.clone(),
                    source,
                })?;
                (read_tar_gz(&bytes)?, None)
            }
            BundleSource::Url(url) => {
                let prev = self.status().etag;
                let mut req = self.http.get(url);
                if let Some(e) = &prev {
                    req = req.header("If-None-Match", e);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| LoadError::Fetch(format!("{url}: {e}")))?;
                if resp.status() == reqwest::StatusCode::NOT_MODIFIED && self.active().is_some() {
                    return Ok(None);
                }
                if !resp.status().is_success() {
                    return Err(LoadError::Fetch(format!("{url}: HTTP {}", resp.status())));
                }
                let etag = resp
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| LoadError::Fetch(format!("{url}: {e}")))?;
                if bytes.len() > MAX_DOWNLOAD {
                    return Err(LoadError::Fetch(format!(
                        "{url}: larger than {MAX_DOWNLOAD} bytes"
                    )));
                }
                (read_tar_gz(&bytes)?, etag)
            }
        };
        let signed = self.verifier.verify(&files)? == Verified::Signed;
        let bundle = Bundle::from_raw(files)?;
        self.check_rollback(&bundle.revision)?;
        Ok(Some((
            Arc::new(RegoPolicy::with_time_limit(&bundle, self.time_limit)?),
            signed,
            etag,
        )))
    }

    /// Refreshes every `interval` (for URL sources) until the holder is dropped.
    pub fn spawn_poller(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(h) = weak.upgrade() else { break };
                let _ = h.refresh().await;
            }
        })
    }
}

/// When a bundle became active, for `/v1/status` only (never part of a decision or record).
#[allow(clippy::disallowed_methods)]
fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl PolicyEngine for PolicyHolder {
    fn revision(&self) -> String {
        self.active()
            .map_or_else(|| "none".into(), |p| p.revision_str().to_owned())
    }

    fn decide(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        match self.active() {
            Some(p) => p.decide(input),
            None => Err(PolicyError::NoBundle),
        }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.status()).unwrap_or_default()
    }

    fn ready(&self) -> bool {
        self.active().is_some()
    }

    fn mask_decision_log(&self, event: &mut serde_json::Value) {
        if let Some(p) = self.active() {
            p.mask(event);
        }
    }
}
