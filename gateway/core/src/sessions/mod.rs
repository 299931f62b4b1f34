//! Sessions: the registry of the ones this gateway runs ([`SessionRegistry`]), their life
//! ([`lifecycle`]), recovery across restarts and replicas ([`recovery`]) and the sweeper that
//! ends the expired and the idle ([`sweeper`]).

mod kernel;
mod lifecycle;
mod recovery;
mod sweeper;

use crate::{
    metric,
    quota::{Caps, Over, Permit, Quota},
};
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

/// The sessions whose sandboxes this gateway runs, by id, each with its place under the
/// session caps (the ones being created hold a place too, so concurrent creates cannot
/// exceed a cap).
#[derive(Default)]
pub(crate) struct SessionRegistry {
    live: RwLock<HashMap<SessionId, Entry>>,
    places: Quota,
}

struct Entry {
    live: Arc<LiveSession>,
    _place: Permit,
}

impl SessionRegistry {
    pub async fn get(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        self.live.read().await.get(id).map(|e| e.live.clone())
    }

    pub async fn contains(&self, id: &SessionId) -> bool {
        self.live.read().await.contains_key(id)
    }

    pub async fn all(&self) -> Vec<Arc<LiveSession>> {
        self.live
            .read()
            .await
            .values()
            .map(|e| e.live.clone())
            .collect()
    }

    pub async fn len(&self) -> usize {
        self.live.read().await.len()
    }

    /// A place for a new session of `p` if no cap is reached (counted and taken in one step).
    pub fn reserve(&self, p: &Principal, caps: Caps) -> Result<Permit, Over> {
        self.places
            .acquire(&p.owner_key(), p.tenant.as_deref(), caps)
    }

    /// Sessions held (live and starting): in total, by `p`, by `p`'s tenant.
    pub fn held(&self, p: &Principal) -> (u32, u32, u32) {
        self.places.held(&p.owner_key(), p.tenant.as_deref())
    }

    /// A created session goes live in its place.
    pub async fn insert_reserved(&self, live: Arc<LiveSession>, place: Permit) {
        let id = live.session.lock().await.id.clone();
        let mut map = self.live.write().await;
        map.insert(
            id,
            Entry {
                live,
                _place: place,
            },
        );
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
    }

    /// A session that is live already (recovered or adopted): no cap refuses it, but it is
    /// counted.
    pub async fn insert(&self, live: Arc<LiveSession>) {
        let (owner, tenant) = {
            let s = live.session.lock().await;
            (s.owner.owner_key(), s.owner.tenant.clone())
        };
        let place = self.places.force(&owner, tenant.as_deref());
        self.insert_reserved(live, place).await;
    }

    pub async fn remove(&self, id: &SessionId) -> Option<Arc<LiveSession>> {
        let mut map = self.live.write().await;
        let removed = map.remove(id).map(|e| e.live);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
        removed
    }
}
