//! Warm sandboxes of one limits class: started ahead (bubblewrap, cgroup, agent and kernel up),
//! refilled one at a time in the background, each handed out once and never after use (a
//! session that ends destroys its sandbox; nothing goes back).
//!
//! Fair between tenants: while the pool is at half its size or less, a tenant that already
//! took half the pool's sandboxes (of those not yet replaced) starts cold, so one tenant's
//! burst cannot leave the others only cold starts.

use crate::{sandbox::LocalSandbox, start::Starter};
use airlock_gateway_domain::Limits;
use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::Duration,
};
use tokio::sync::{watch, Notify};

/// One limits class and how many of its sandboxes to keep ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolClass {
    pub name: String,
    pub size: usize,
    pub limits: Limits,
}

pub(crate) struct WarmPool {
    class: PoolClass,
    ready: Mutex<VecDeque<Arc<LocalSandbox>>>,
    /// Tenants of the sandboxes taken and not yet replaced, oldest first.
    taken: Mutex<VecDeque<String>>,
    wake: Notify,
    /// Set at shutdown: nothing more starts, and what was starting is destroyed.
    closed: AtomicBool,
}

static WARM_NAMES: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WarmPool {
    /// The pool, filling once `go` turns true (after the leftovers of an earlier process
    /// are reaped, so the reaper never sees these as leftovers).
    pub fn start(starter: Arc<Starter>, class: PoolClass, go: watch::Receiver<bool>) -> Arc<Self> {
        let pool = Arc::new(Self {
            class,
            ready: Mutex::default(),
            taken: Mutex::default(),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(refill(Arc::downgrade(&pool), starter, go));
        pool
    }

    pub fn limits(&self) -> &Limits {
        &self.class.limits
    }

    /// A ready sandbox for a session of `tenant`, if there is one this tenant may take.
    pub fn claim(&self, tenant: Option<&str>) -> Option<Arc<LocalSandbox>> {
        let tenant = tenant.unwrap_or_default();
        let mut ready = lock(&self.ready);
        let mut taken = lock(&self.taken);
        let theirs = taken.iter().filter(|t| *t == tenant).count();
        if !may_take(self.class.size, ready.len(), theirs) {
            return None;
        }
        while let Some(sb) = ready.pop_front() {
            if sb.alive_now() {
                taken.push_back(tenant.to_owned());
                self.gauge(ready.len());
                self.wake.notify_one();
                return Some(sb);
            }
            // Died idle (killed from outside): never handed out.
            tokio::spawn(async move { sb.destroy().await });
            self.wake.notify_one();
        }
        None
    }

    fn gauge(&self, ready: usize) {
        metrics::gauge!("airlock_sandboxes_warm", "pool" => self.class.name.clone())
            .set(ready as f64);
    }

    /// How many are ready, and the memory each uses now (bytes, where cgroups count it).
    pub fn idle(&self) -> (usize, Vec<u64>) {
        let ready = lock(&self.ready);
        let mem = ready.iter().filter_map(|s| s.memory_bytes()).collect();
        (ready.len(), mem)
    }

    /// Destroys the ready ones and starts no more (at shutdown).
    pub async fn drain(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<_> = lock(&self.ready).drain(..).collect();
        for sb in all {
            let _ = sb.destroy().await;
        }
    }
}

/// Keeps the pool full while it exists: one start at a time (a start is CPU-heavy), backing
/// off while starts fail.
async fn refill(pool: Weak<WarmPool>, starter: Arc<Starter>, mut go: watch::Receiver<bool>) {
    if go.wait_for(|g| *g).await.is_err() {
        return;
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        let Some(p) = pool.upgrade() else { return };
        if p.closed.load(Ordering::SeqCst) {
            return;
        }
        if lock(&p.ready).len() >= p.class.size {
            // Wakes on a claim (a permit waits if it came first); the timeout lets a dropped
            // pool end this task.
            let _ = tokio::time::timeout(Duration::from_secs(5), p.wake.notified()).await;
            continue;
        }
        let n = WARM_NAMES.fetch_add(1, Ordering::Relaxed);
        let name = format!("warm-{}-{n}", p.class.name);
        let limits = p.class.limits.clone();
        drop(p);
        match starter.start(&name, &limits).await {
            Ok(sb) => {
                backoff = Duration::from_millis(500);
                let Some(p) = pool.upgrade().filter(|p| !p.closed.load(Ordering::SeqCst)) else {
                    let _ = sb.destroy().await;
                    return;
                };
                let mut ready = lock(&p.ready);
                ready.push_back(Arc::new(sb));
                p.gauge(ready.len());
                drop(ready);
                lock(&p.taken).pop_front();
            }
            Err(e) => {
                tracing::warn!(error = %e, pool = %name, "a warm sandbox did not start; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Whether a tenant holding `theirs` of the sandboxes taken and not yet replaced may take one
/// of `ready` from a pool of `size`: always while more than half the pool is ready, else only
/// below its share (half the pool, at least one).
fn may_take(size: usize, ready: usize, theirs: usize) -> bool {
    ready * 2 > size || theirs < size.div_ceil(2).max(1)
}

#[cfg(test)]
mod tests {
    use super::may_take;

    #[test]
    fn a_tenant_past_its_share_of_a_scarce_pool_starts_cold() {
        // A pool of 4: with 3 ready anyone takes one.
        assert!(may_take(4, 3, 10));
        // With 2 ready (half) a tenant that took 2 not yet replaced waits; others take.
        assert!(!may_take(4, 2, 2));
        assert!(may_take(4, 2, 1));
        assert!(may_take(4, 2, 0));
        // A full pool of 1: anyone.
        assert!(may_take(1, 1, 0));
        // A pool of 2 with one ready: the tenant that took the other one starts cold.
        assert!(!may_take(2, 1, 1));
        assert!(may_take(2, 1, 0));
    }
}
