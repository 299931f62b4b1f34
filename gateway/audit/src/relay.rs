//! The relay from the state DB outbox to an external log (Kafka), at least once and in chain
//! order.
//!
//! Every registered chain is relayed by one replica at a time, under a lease in the relay
//! table; a replica that stops renewing (crashed, or stuck on a broker that is down) loses the
//! chain to another after the lease ends. Each pass reads the events after the chain's
//! published sequence number, publishes them in order, and marks them published only after
//! the log acknowledged all of them. After a crash the next relay starts again from the first
//! unacknowledged event, so the log may hold an event twice, but never out of order: every
//! relay sends an ascending run that starts right after what the log already holds, and readers
//! drop an event whose id and hash they have seen (`airlock audit verify` does).

use crate::{metric, AuditRecorder};
use airlock_gateway_domain::ports::{AuditPublisher, Store};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone, Debug)]
pub struct RelaySettings {
    /// This replica's name in the lease table.
    pub holder: String,
    pub batch_size: u32,
    pub lease: Duration,
    /// How often chains of other replicas are looked at when nothing is recorded here.
    pub poll: Duration,
}

#[derive(Default)]
struct Status {
    last_error: Option<String>,
    published_total: u64,
    /// Chains this replica holds and when its lease on each ends (Unix ms).
    held: HashMap<String, i64>,
}

pub struct AuditRelay {
    store: Arc<dyn Store>,
    publisher: Arc<dyn AuditPublisher>,
    recorder: Arc<AuditRecorder>,
    settings: RelaySettings,
    status: Mutex<Status>,
}

impl AuditRelay {
    pub fn new(
        store: Arc<dyn Store>,
        publisher: Arc<dyn AuditPublisher>,
        recorder: Arc<AuditRecorder>,
        settings: RelaySettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            publisher,
            recorder,
            settings,
            status: Mutex::new(Status::default()),
        })
    }

    fn now_ms(&self) -> i64 {
        airlock_gateway_domain::unix_ms(self.recorder.now())
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            s.last_error = e;
        }
    }

    /// Takes or renews the lease on `chain` when due; returns the published seq when held.
    async fn claim(
        &self,
        chain: &airlock_gateway_domain::ports::RelayChain,
    ) -> Result<Option<u64>, String> {
        let now = self.now_ms();
        let held_until = self
            .status
            .lock()
            .ok()
            .and_then(|s| s.held.get(&chain.chain_id).copied());
        let mine = chain.holder.as_deref() == Some(self.settings.holder.as_str());
        if mine && held_until.is_some_and(|u| u - now > self.lease_ms() / 2) {
            return Ok(Some(chain.published_seq));
        }
        if !mine && chain.holder.is_some() && chain.lease_until_ms >= now {
            return Ok(None);
        }
        let until = now.saturating_add(self.lease_ms());
        let claimed = self
            .store
            .audit_relay_claim(&chain.chain_id, &self.settings.holder, now, until)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut s) = self.status.lock() {
            match claimed {
                Some(_) => {
                    if !mine {
                        tracing::info!(chain = %chain.chain_id, "audit relay took over a chain");
                    }
                    s.held.insert(chain.chain_id.clone(), until);
                }
                None => {
                    s.held.remove(&chain.chain_id);
                }
            }
        }
        Ok(claimed)
    }

    /// One pass over every chain; returns how many events were published.
    pub async fn run_once(&self) -> Result<u64, String> {
        let chains = self
            .store
            .audit_relay_chains()
            .await
            .map_err(|e| e.to_string())?;
        let own = self.recorder.chain_id().to_owned();
        let mut total = 0;
        for chain in chains {
            let Some(mut published) = self.claim(&chain).await? else {
                if chain.chain_id == own {
                    self.recorder.set_published(chain.published_seq);
                }
                continue;
            };
            if chain.chain_id == own {
                self.recorder.set_published(published);
            }
            loop {
                let batch = self
                    .store
                    .audit_events_after(&chain.chain_id, published, self.settings.batch_size)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = batch.last().map(|e| e.seq) else {
                    break;
                };
                if let Err(e) = self.publisher.publish(&batch).await {
                    metrics::counter!(metric::AUDIT_PUBLISH_FAILURES).increment(1);
                    return Err(e.to_string());
                }
                self.store
                    .audit_mark_published(&chain.chain_id, last, self.now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
                published = last;
                if chain.chain_id == own {
                    self.recorder.set_published(last);
                }
                let n = batch.len() as u64;
                total += n;
                metrics::counter!(metric::AUDIT_PUBLISHED).increment(n);
                if let Ok(mut s) = self.status.lock() {
                    s.published_total += n;
                }
                if n < u64::from(self.settings.batch_size) {
                    break;
                }
            }
        }
        self.set_error(None);
        Ok(total)
    }

    /// Relays until aborted: at once after each recorded event, otherwise every `poll`;
    /// after an error it backs off (up to 5 s) and starts again from the first unacknowledged
    /// event.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let relay = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match relay.run_once().await {
                    Ok(n) => {
                        backoff = Duration::from_millis(100);
                        if n == 0 {
                            let _ = tokio::time::timeout(
                                relay.settings.poll,
                                relay.recorder.committed().notified(),
                            )
                            .await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, publisher = relay.publisher.name(), "audit relay failed; retrying from the first unacknowledged event");
                        relay.set_error(Some(e));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
    }

    /// Backlog, lag and the last error, for `/readyz`.
    pub async fn status(&self) -> serde_json::Value {
        let backlog = self.recorder.backlog();
        let lag = self.lag_seconds().await;
        metrics::gauge!(metric::AUDIT_RELAY_LAG).set(lag);
        metrics::gauge!(metric::AUDIT_BACKLOG).set(backlog as f64);
        let (err, total, held) = self
            .status
            .lock()
            .map(|s| {
                let mut held: Vec<String> = s.held.keys().cloned().collect();
                held.sort();
                (s.last_error.clone(), s.published_total, held)
            })
            .unwrap_or_default();
        serde_json::json!({
            "publisher": self.publisher.name(),
            "backlog": backlog,
            "max_backlog": self.recorder.max_backlog(),
            "lag_seconds": lag,
            "published_total": total,
            "chains_held": held,
            "last_error": err,
        })
    }

    /// Age of the oldest event of this gateway's chain the log has not acknowledged.
    async fn lag_seconds(&self) -> f64 {
        let backlog = self.recorder.backlog();
        if backlog == 0 {
            return 0.0;
        }
        let published = self.recorder.published_seq();
        let oldest = self
            .store
            .audit_events_after(self.recorder.chain_id(), published, 1)
            .await
            .ok()
            .and_then(|v| v.into_iter().next());
        oldest
            .and_then(|e| {
                time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .map_or(0.0, |t| (self.recorder.now() - t).as_seconds_f64().max(0.0))
    }
}
