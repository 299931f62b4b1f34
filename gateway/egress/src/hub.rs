//! The egress port for sandboxes without a socket of their own (pods): one TCP listener per
//! gateway replica. Each execution that may need egress opens a ticket here; the agent in the
//! pod relays the execution's connections to this port, each opening with the ticket's key
//! (`AIRLOCK-EGRESS <key>\r\n`), and the proxy then applies that execution's grant exactly as
//! for a local sandbox. A connection with an unknown or expired key is refused; the key dies
//! with the execution, whose epoch records and cuts its connections.

use crate::{epoch::Epoch, proxy::ProxyConfig};
use rand::RngCore;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub use airlock_sandbox_protocol::EGRESS_PREAMBLE_PREFIX as PREAMBLE_PREFIX;
const PREAMBLE_MAX: usize = 128;
const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(5);

struct Ticket {
    session_id: String,
    epoch: Arc<Epoch>,
}

pub struct EgressHub {
    tickets: Mutex<HashMap<String, Arc<Ticket>>>,
    resolver: ProxyConfig,
    /// `host:port` pods dial to reach this replica's listener.
    advertise: String,
}

/// One execution's egress: registered while it lives, gone when dropped.
pub struct EgressTicket {
    key: String,
    hub: Weak<EgressHub>,
}

impl EgressTicket {
    /// The key the execution's connections present.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `host:port` of the replica's egress listener.
    pub fn addr(&self) -> String {
        self.hub
            .upgrade()
            .map(|h| h.advertise.clone())
            .unwrap_or_default()
    }
}

impl Drop for EgressTicket {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            if let Ok(mut t) = hub.tickets.lock() {
                t.remove(&self.key);
            }
        }
    }
}

impl EgressHub {
    /// Binds `listen` and serves it until the hub is dropped. `advertise` is what pods dial
    /// (this replica's address as the pod network sees it); None: the bound address.
    pub async fn bind(
        listen: &str,
        advertise: Option<String>,
        resolver: ProxyConfig,
    ) -> std::io::Result<Arc<Self>> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let bound = listener.local_addr()?;
        let hub = Arc::new(Self {
            tickets: Mutex::new(HashMap::new()),
            resolver,
            advertise: advertise.unwrap_or_else(|| bound.to_string()),
        });
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let Some(hub) = weak.upgrade() else { break };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move { hub.serve_one(stream, peer).await });
            }
        });
        Ok(hub)
    }

    pub fn advertise(&self) -> &str {
        &self.advertise
    }

    /// Opens a ticket for one execution of `session_id` whose connections belong to `epoch`
    /// (its grant decides them; it records them, and closing it cuts them).
    pub fn open(self: &Arc<Self>, session_id: &str, epoch: Arc<Epoch>) -> EgressTicket {
        let mut raw = [0u8; 32];
        #[allow(clippy::disallowed_methods)] // a secret: the OS's random numbers, never a test's
        rand::thread_rng().fill_bytes(&mut raw);
        let key: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let ticket = Arc::new(Ticket {
            session_id: session_id.to_owned(),
            epoch,
        });
        if let Ok(mut t) = self.tickets.lock() {
            t.insert(key.clone(), ticket);
        }
        EgressTicket {
            key,
            hub: Arc::downgrade(self),
        }
    }

    async fn serve_one(&self, stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::with_capacity(PREAMBLE_MAX);
        let read = tokio::time::timeout(PREAMBLE_TIMEOUT, async {
            let mut limited = (&mut reader).take(PREAMBLE_MAX as u64);
            limited.read_until(b'\n', &mut line).await
        })
        .await;
        let key = match read {
            Ok(Ok(_)) => std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.trim_end().strip_prefix(PREAMBLE_PREFIX))
                .map(str::to_owned),
            _ => None,
        };
        let ticket = key.and_then(|k| self.tickets.lock().ok()?.get(&k).cloned());
        let Some(ticket) = ticket.filter(|t| !t.epoch.is_closed()) else {
            tracing::warn!(%peer, "egress connection without a valid execution key refused");
            let body = "airlock egress proxy: no execution holds this key\n";
            let resp = format!("HTTP/1.1 403 Forbidden\r\nX-Airlock-Egress: unknown_key\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = reader.get_mut().write_all(resp.as_bytes()).await;
            return;
        };
        let mut resolver = self.resolver.clone();
        resolver.session_id = Some(ticket.session_id.clone());
        ticket.epoch.serve(reader, resolver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_gateway_domain::egress::{EgressGrant, EgressLog};

    async fn hub() -> Arc<EgressHub> {
        EgressHub::bind("127.0.0.1:0", None, ProxyConfig::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn ask(addr: &str, preamble: &str, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(format!("{preamble}{request}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn a_connection_needs_a_live_key_and_is_held_to_its_grant() {
        let hub = hub().await;
        let addr = hub.advertise().to_owned();
        let req = "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n";
        // No key, a made-up key: refused before any proxying.
        assert!(ask(&addr, "", req).await.contains("unknown_key"));
        assert!(ask(&addr, "AIRLOCK-EGRESS 00ff\r\n", req)
            .await
            .contains("unknown_key"));
        // A live key whose grant does not name the host: the proxy refuses and records it.
        let grant = EgressGrant {
            hosts: vec!["pypi.org:443".into()],
            http_methods: vec!["GET".into()],
            packages: vec![],
            package_hashes: Default::default(),
            decision_id: "dec_1".into(),
        };
        let log = Arc::new(EgressLog::default());
        let epoch = Epoch::new(Some(grant), log.clone());
        let ticket = hub.open("ses_1", epoch.clone());
        let preamble = format!("{PREAMBLE_PREFIX}{}\r\n", ticket.key());
        let answer = ask(&addr, &preamble, req).await;
        assert!(answer.contains("403"), "{answer}");
        epoch.close().await;
        let recs = log.take();
        assert_eq!(recs.len(), 1);
        assert_eq!(
            (recs[0].host.as_str(), recs[0].admitted),
            ("example.org", false)
        );
        assert_eq!(recs[0].decision_id.as_deref(), Some("dec_1"));
        // A closed epoch admits nothing more, and the key dies with the ticket.
        assert!(ask(&addr, &preamble, req).await.contains("unknown_key"));
        drop(ticket);
        assert!(ask(&addr, &preamble, req).await.contains("unknown_key"));
    }
}
