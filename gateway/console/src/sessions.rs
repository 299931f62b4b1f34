//! Console sign-ins, in memory: the random cookie value maps to the signed-in person's access
//! token (checked again on every request, so its expiry ends the console session too) and the
//! CSRF token of their forms. Sign-ins under way map their OAuth `state` to the PKCE verifier.
//! Per replica: put the console behind session affinity (docs/console.md).

use airlock_gateway_domain::clock::{IdGenerator, SystemIds};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long a sign-in may take at the issuer.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Sign-ins under way kept at once (a flood of /login requests cannot grow memory beyond).
const MAX_PENDING: usize = 10_000;

#[derive(Clone)]
pub struct Signed {
    pub token: String,
    pub csrf: String,
    expires: Instant,
}

pub struct Pending {
    pub verifier: String,
    pub redirect_uri: String,
    pub next: String,
    started: Instant,
}

pub struct SessionTable {
    max: usize,
    signed: Mutex<HashMap<String, Signed>>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An unguessable token from the OS's random numbers.
pub fn random() -> String {
    SystemIds.secret()
}

impl SessionTable {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            signed: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// A new signed-in session: its cookie value and CSRF token. The oldest-expiring session
    /// makes room when the table is full.
    pub fn open(&self, token: String, ttl: Duration) -> (String, String) {
        let id = random();
        let csrf = random();
        let now = Instant::now();
        let mut map = lock(&self.signed);
        map.retain(|_, s| s.expires > now);
        if map.len() >= self.max {
            if let Some(k) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        map.insert(
            id.clone(),
            Signed {
                token,
                csrf: csrf.clone(),
                expires: now + ttl,
            },
        );
        (id, csrf)
    }

    pub fn get(&self, id: &str) -> Option<Signed> {
        let mut map = lock(&self.signed);
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        lock(&self.signed).remove(id);
    }

    pub fn begin(&self, state: String, verifier: String, redirect_uri: String, next: String) {
        let now = Instant::now();
        let mut map = lock(&self.pending);
        map.retain(|_, p| now.duration_since(p.started) < LOGIN_TTL);
        if map.len() >= MAX_PENDING {
            if let Some(k) = map
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        map.insert(
            state,
            Pending {
                verifier,
                redirect_uri,
                next,
                started: now,
            },
        );
    }

    /// The sign-in `state` began, once.
    pub fn finish(&self, state: &str) -> Option<Pending> {
        let p = lock(&self.pending).remove(state)?;
        (p.started.elapsed() < LOGIN_TTL).then_some(p)
    }
}

/// Equal without an early exit, so a wrong CSRF token's timing says nothing of the right one
/// (hand-written: two lines, where a crate would add a dependency for one comparison).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_close_and_make_room() {
        let t = SessionTable::new(2);
        let (a, csrf) = t.open("tok-a".into(), Duration::from_secs(60));
        assert_eq!(
            t.get(&a).map(|s| (s.token, s.csrf)),
            Some(("tok-a".into(), csrf))
        );
        let (b, _) = t.open("tok-b".into(), Duration::from_secs(120));
        let (c, _) = t.open("tok-c".into(), Duration::from_secs(180));
        assert!(t.get(&a).is_none(), "the oldest-expiring session made room");
        assert!(t.get(&b).is_some() && t.get(&c).is_some());
        t.close(&b);
        assert!(t.get(&b).is_none());
        let (d, _) = t.open("tok-d".into(), Duration::ZERO);
        assert!(t.get(&d).is_none(), "expired");
        assert!(t.get("forged").is_none());
    }

    #[test]
    fn a_sign_in_state_finishes_once() {
        let t = SessionTable::new(2);
        t.begin(
            "s1".into(),
            "v".into(),
            "http://x/cb".into(),
            "/console".into(),
        );
        assert_eq!(t.finish("s1").map(|p| p.verifier), Some("v".into()));
        assert!(t.finish("s1").is_none());
        assert!(t.finish("other").is_none());
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
