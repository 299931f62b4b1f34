//! Sessions: the registry of the ones this gateway runs ([`SessionRegistry`]), their life
//! ([`lifecycle`]), recovery across restarts and replicas ([`recovery`]) and the sweeper that
//! ends the expired and the idle ([`sweeper`]).

mod lifecycle;
mod recovery;
mod sweeper;

use crate::metric;
use airlock_gateway_domain::{ports::Sandbox, Session, SessionId};
use std::{collections::HashMap, sync::Arc};
use tokio::sync::{Mutex, RwLock};

/// A session with a running sandbox, held in memory by the gateway that runs it.
pub(crate) struct LiveSession {
    pub session: Mutex<Session>,
    /// Whose session it is (`Principal::owner_key`; never changes).
    pub owner_key: String,
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
            owner_key: session.owner.owner_key(),
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

/// The sessions whose sandboxes this gateway runs, by id, and the ones being created.
#[derive(Default)]
pub(crate) struct SessionRegistry {
    live: RwLock<HashMap<SessionId, Arc<LiveSession>>>,
    /// Sessions being created (their sandboxes starting), per owner: counted against the
    /// limits with the live ones, so concurrent creates cannot exceed them.
    pending: Arc<std::sync::Mutex<Pending>>,
}

#[derive(Debug, Default)]
struct Pending {
    total: u32,
    by_owner: HashMap<String, u32>,
}

impl Pending {
    fn release(&mut self, owner: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_owner.get_mut(owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_owner.remove(owner);
            }
        }
    }
}

/// A place for one session while it is created; given back when dropped unless the session
/// went live in it ([`SessionRegistry::insert_reserved`]).
pub(crate) struct Slot {
    pending: Arc<std::sync::Mutex<Pending>>,
    owner: String,
    held: bool,
}

impl Slot {
    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            lock_pending(&self.pending).release(&self.owner);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

fn lock_pending(p: &std::sync::Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why no slot: the gateway is full, or the owner has this many sessions (live and starting).
pub(crate) enum Full {
    Gateway,
    Owner(u32),
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

    /// A slot for a new session of `owner` if the live and starting sessions leave room:
    /// counted and taken in one step, so two creates cannot both take the last place.
    pub async fn reserve(&self, owner: &str, max_total: u32, max_owner: u32) -> Result<Slot, Full> {
        let map = self.live.read().await;
        let mut pending = lock_pending(&self.pending);
        let total = map.len() as u32 + pending.total;
        if total >= max_total {
            return Err(Full::Gateway);
        }
        let live_mine = map.values().filter(|l| l.owner_key == owner).count() as u32;
        let mine = live_mine + pending.by_owner.get(owner).copied().unwrap_or(0);
        if mine >= max_owner {
            return Err(Full::Owner(mine));
        }
        pending.total += 1;
        *pending.by_owner.entry(owner.to_owned()).or_default() += 1;
        Ok(Slot {
            pending: self.pending.clone(),
            owner: owner.to_owned(),
            held: true,
        })
    }

    /// A created session goes live in its slot (one step: it is never counted twice or not
    /// at all).
    pub async fn insert_reserved(&self, live: Arc<LiveSession>, mut slot: Slot) {
        let id = live.session.lock().await.id.clone();
        let mut map = self.live.write().await;
        map.insert(id, live);
        slot.release();
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
    }

    /// A session that is live already (recovered or adopted): no limit applies.
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
