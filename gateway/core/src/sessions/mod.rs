//! Sessions: the registry of the ones this gateway runs ([`SessionRegistry`]), their life
//! ([`lifecycle`]), recovery across restarts and replicas ([`recovery`]) and the sweeper that
//! ends the expired and the idle ([`sweeper`]).

mod lifecycle;
mod recovery;
mod sweeper;

use crate::metric;
use airlock_gateway_domain::{ports::Sandbox, Principal, Session, SessionId};
use std::{collections::HashMap, sync::Arc};
use tokio::sync::{Mutex, RwLock};

/// A session with a running sandbox, held in memory by the gateway that runs it.
pub(crate) struct LiveSession {
    pub session: Mutex<Session>,
    pub sandbox: Arc<dyn Sandbox>,
    /// One execution or file operation that changes the workspace at a time (an execution's
    /// job holds it until it ends).
    pub turn: Arc<Mutex<()>>,
    /// Executions asked for so far (a policy input).
    pub executions: std::sync::atomic::AtomicU64,
    /// The runtime modules this session's principal may not load, per policy revision.
    pub denied_imports: Mutex<Option<crate::imports::DeniedImports>>,
    /// The egress the running execution holds (`host:port`), empty between executions.
    pub running_egress: std::sync::Mutex<Vec<String>>,
    /// The session's data labels, readable without the session's lock (output inspection
    /// asks policy with them while an execution streams).
    pub labels: SessionLabels,
}

impl LiveSession {
    pub fn new(session: Session, sandbox: Arc<dyn Sandbox>) -> Arc<Self> {
        let labels = SessionLabels::new(session.labels.clone());
        Arc::new(Self {
            labels,
            session: Mutex::new(session),
            sandbox,
            turn: Arc::new(Mutex::new(())),
            executions: 0.into(),
            denied_imports: Mutex::new(None),
            running_egress: std::sync::Mutex::new(vec![]),
        })
    }
}

impl LiveSession {
    /// Marks the session (`s`, its locked record) with `labels`, here and in [`Self::labels`].
    pub fn add_labels(&self, s: &mut Session, labels: impl IntoIterator<Item = String>) {
        for l in labels {
            if !s.labels.contains(&l) {
                s.labels.push(l);
            }
        }
        s.labels.sort();
        self.labels.set(s.labels.clone());
    }
}

/// A session's data labels as of now, shared with the guards of its running outputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionLabels(Arc<std::sync::Mutex<Vec<String>>>);

impl SessionLabels {
    pub fn new(labels: Vec<String>) -> Self {
        Self(Arc::new(std::sync::Mutex::new(labels)))
    }

    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, labels: Vec<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = labels;
    }
}

/// The sessions whose sandboxes this gateway runs, by id.
#[derive(Default)]
pub(crate) struct SessionRegistry {
    live: RwLock<HashMap<SessionId, Arc<LiveSession>>>,
}

impl SessionRegistry {
    pub async fn get(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        self.live.read().await.get(id).cloned()
    }

    pub async fn contains(&self, id: &SessionId) -> bool {
        self.live.read().await.contains_key(id)
    }

    pub async fn all(&self) -> Vec<Arc<LiveSession>> {
        self.live.read().await.values().cloned().collect()
    }

    pub async fn len(&self) -> usize {
        self.live.read().await.len()
    }

    /// How many of the live sessions `p` owns.
    pub async fn count_owned_by(&self, p: &Principal) -> u32 {
        let all = self.all().await;
        let mut mine = 0;
        for s in all {
            if s.session.lock().await.owner.owner_key() == p.owner_key() {
                mine += 1;
            }
        }
        mine
    }

    pub async fn insert(&self, live: Arc<LiveSession>) {
        let id = live.session.lock().await.id.clone();
        let mut map = self.live.write().await;
        map.insert(id, live);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
    }

    pub async fn remove(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        let mut map = self.live.write().await;
        let removed = map.remove(id);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
        removed
    }
}
