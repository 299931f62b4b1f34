//! Host uids for sandboxes (when the gateway runs as root): each live sandbox holds a uid no
//! other live sandbox has, so a process that escaped one sandbox is not the owner of another's
//! files or sockets. A uid returns to the pool when its sandbox is destroyed.

use rand::Rng;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

pub struct UidPool {
    base: u32,
    count: u32,
    used: Mutex<HashSet<u32>>,
}

/// A uid held by one sandbox until dropped.
pub struct HeldUid {
    pub uid: u32,
    pool: Arc<UidPool>,
}

impl Drop for HeldUid {
    fn drop(&mut self) {
        self.pool
            .used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.uid);
    }
}

impl UidPool {
    pub fn new(base: u32, count: u32) -> Arc<Self> {
        Arc::new(Self {
            base,
            count: count.max(1),
            used: Mutex::new(HashSet::new()),
        })
    }

    /// A free uid, picked at random among the free ones; None when every uid is in use.
    pub fn take(self: &Arc<Self>) -> Option<HeldUid> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= self.count as usize {
            return None;
        }
        #[allow(clippy::disallowed_methods)] // a starting point only: never recorded
        let mut rng = rand::thread_rng();
        let uid = loop {
            let u = self.base + rng.gen_range(0..self.count);
            if !used.contains(&u) {
                break u;
            }
        };
        used.insert(uid);
        Some(HeldUid {
            uid,
            pool: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sandboxes_never_share_a_uid_and_uids_come_back() {
        let pool = UidPool::new(200_000, 3);
        let held: Vec<HeldUid> = (0..3).filter_map(|_| pool.take()).collect();
        let uids: HashSet<u32> = held.iter().map(|h| h.uid).collect();
        assert_eq!(uids.len(), 3);
        assert!(uids.iter().all(|u| (200_000..200_003).contains(u)));
        assert!(pool.take().is_none(), "a fourth sandbox would share a uid");
        drop(held);
        assert!(pool.take().is_some());
    }
}
