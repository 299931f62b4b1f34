//! Seals events into this gateway's chain and writes them durably: to the state DB outbox in the
//! same transaction as the state change they record, then to every sink (the JSON-lines file).
//! A sink that falls behind (crash between commit and append, disk error) is caught up from the
//! outbox before the next append, so the file never has a gap.
//!
//! Before sealing, every event is scrubbed of secrets (and of code, when only its hash is kept):
//! what is hashed is what every sink holds. When a relay publishes the outbox to Kafka, the
//! recorder also knows the backlog and refuses new work past its limit ([`AuditRecorder::admit`]).

use crate::{metric, redact::Redactor};
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    audit::{types, AuditEvent, ChainHead, Checkpoint, NewEvent},
    ports::{AuditSink, Change, CheckpointSigner, Store, StoreError},
    Clock, ErrorCode, GatewayError, IdGenerator,
};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use tokio::sync::Mutex;

/// How the recorder treats events.
pub struct AuditOptions {
    pub chain_id: String,
    pub source: String,
    /// Keep the code of executions in events (false: only its hash).
    pub store_code: bool,
    pub redactor: Arc<Redactor>,
    /// Signs `audit.checkpoint` events; None: no checkpoints.
    pub signer: Option<Arc<dyn CheckpointSigner>>,
    /// When a relay publishes the chain: refuse new work past this many unpublished events.
    pub max_backlog: Option<u64>,
    /// The time of each event.
    pub clock: Arc<dyn Clock>,
    /// The id of each event.
    pub ids: Arc<dyn IdGenerator>,
}

struct Head {
    head: ChainHead,
    /// The last event is a checkpoint (nothing new to seal).
    sealed: bool,
}

pub struct AuditRecorder {
    opts: AuditOptions,
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn AuditSink>>,
    head: Mutex<Head>,
    head_seq: AtomicU64,
    published_seq: AtomicU64,
    committed: tokio::sync::Notify,
}

impl AuditRecorder {
    /// Resumes the chain from the outbox and catches every sink up.
    pub async fn open(
        opts: AuditOptions,
        store: Arc<dyn Store>,
        sinks: Vec<Arc<dyn AuditSink>>,
    ) -> Result<Self, GatewayError> {
        let head = store
            .audit_head(&opts.chain_id)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(ChainHead::genesis);
        let sealed = match head.seq {
            0 => true,
            seq => store
                .audit_events_after(&opts.chain_id, seq - 1, 1)
                .await
                .map_err(unavailable)?
                .first()
                .is_some_and(|e| e.event_type == types::AUDIT_CHECKPOINT),
        };
        let published = if opts.max_backlog.is_some() {
            store
                .audit_relay_register(&opts.chain_id)
                .await
                .map_err(unavailable)?;
            store
                .audit_relay_chains()
                .await
                .map_err(unavailable)?
                .into_iter()
                .find(|c| c.chain_id == opts.chain_id)
                .map_or(0, |c| c.published_seq)
        } else {
            0
        };
        let rec = Self {
            head_seq: AtomicU64::new(head.seq),
            published_seq: AtomicU64::new(published),
            head: Mutex::new(Head { head, sealed }),
            committed: tokio::sync::Notify::new(),
            opts,
            store,
            sinks,
        };
        rec.catch_up().await?;
        Ok(rec)
    }

    pub fn chain_id(&self) -> &str {
        &self.opts.chain_id
    }

    /// The wall-clock time, from the recorder's clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.opts.clock.now()
    }

    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.opts.redactor
    }

    /// Unpublished events of this gateway's chain (0 without a relay).
    pub fn backlog(&self) -> u64 {
        if self.opts.max_backlog.is_none() {
            return 0;
        }
        self.head_seq
            .load(Ordering::SeqCst)
            .saturating_sub(self.published_seq.load(Ordering::SeqCst))
    }

    /// Wakes the relay after each commit.
    pub fn committed(&self) -> &tokio::sync::Notify {
        &self.committed
    }

    pub fn published_seq(&self) -> u64 {
        self.published_seq.load(Ordering::SeqCst)
    }

    pub fn max_backlog(&self) -> Option<u64> {
        self.opts.max_backlog
    }

    /// The relay reports how far the chain is published (never goes backwards).
    pub fn set_published(&self, seq: u64) {
        self.published_seq.fetch_max(seq, Ordering::SeqCst);
        metrics::gauge!(metric::AUDIT_BACKLOG).set(self.backlog() as f64);
    }

    /// Refuses new work while the relay is too far behind: nothing runs that could not be
    /// audited in the external log within the configured bound.
    pub fn admit(&self) -> Result<(), GatewayError> {
        let Some(limit) = self.opts.max_backlog else {
            return Ok(());
        };
        let backlog = self.backlog();
        if backlog >= limit {
            metrics::counter!(metric::AUDIT_BACKPRESSURE_REFUSALS).increment(1);
            return Err(GatewayError::new(
                ErrorCode::AuditUnavailable,
                format!("{backlog} audit events are waiting for the audit log (limit {limit}); new work is refused until it catches up"),
            ));
        }
        Ok(())
    }

    async fn catch_up(&self) -> Result<(), GatewayError> {
        let chain = &self.opts.chain_id;
        for sink in &self.sinks {
            let mut at = sink
                .head(chain)
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .map_or(0, |h| h.seq);
            loop {
                let batch = self
                    .store
                    .audit_events_after(chain, at, 500)
                    .await
                    .map_err(unavailable)?;
                let Some(last) = batch.last() else { break };
                at = last.seq;
                sink.append(&batch)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                tracing::warn!(
                    sink = sink.name(),
                    upto = at,
                    "audit sink caught up from the outbox"
                );
            }
        }
        Ok(())
    }

    /// Scrubs secrets (and code, when only its hash is kept) from an event's data.
    fn scrub(&self, data: &mut serde_json::Value) {
        if !self.opts.store_code {
            if let Some(o) = data.as_object_mut() {
                o.remove("code");
            }
        }
        let n = self.opts.redactor.redact_value(data);
        if n > 0 {
            metrics::counter!(metric::AUDIT_REDACTIONS).increment(n as u64);
            // The event says that it was redacted (how often; never what).
            if let Some(o) = data.as_object_mut() {
                o.insert("redactions".into(), serde_json::Value::from(n));
            }
        }
    }

    /// Applies `changes` and records `events` atomically. Nothing that the events describe may
    /// be enforced unless this returns Ok.
    pub async fn record(
        &self,
        changes: Vec<Change>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, GatewayError> {
        let events = events
            .into_iter()
            .map(|mut e| {
                self.scrub(&mut e.data);
                e
            })
            .collect();
        let head = self.head.lock().await;
        self.seal_and_commit(head, changes, events).await
    }

    async fn seal_and_commit(
        &self,
        mut head: tokio::sync::MutexGuard<'_, Head>,
        changes: Vec<Change>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, GatewayError> {
        let mut changes = changes;
        let mut sealed = Vec::with_capacity(events.len());
        let mut cur = head.head.clone();
        for e in events {
            let time = self
                .opts
                .clock
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let ev = AuditEvent::seal(
                e,
                &cur,
                &self.opts.chain_id,
                &self.opts.source,
                self.opts.ids.event_id(),
                time,
            );
            cur = ev.head();
            sealed.push(ev);
        }
        // An execution written with an empty audit id is recorded by the last of these events.
        if let Some(last) = sealed.last() {
            for c in &mut changes {
                if let Change::PutExecution(e) = c {
                    if e.audit_id.is_empty() {
                        e.audit_id.clone_from(&last.id);
                    }
                }
            }
        }
        self.store
            .commit(changes, &sealed)
            .await
            .map_err(|e| match e {
                // A versioned write lost to another: nothing was applied, the chain is as it was.
                StoreError::Conflict(m) => GatewayError::new(ErrorCode::Conflict, m),
                e => unavailable(e),
            })?;
        head.head = cur;
        head.sealed = sealed
            .last()
            .map_or(head.sealed, |e| e.event_type == types::AUDIT_CHECKPOINT);
        self.head_seq.store(head.head.seq, Ordering::SeqCst);
        self.committed.notify_one();
        metrics::counter!(metric::AUDIT_EVENTS).increment(sealed.len() as u64);
        for sink in &self.sinks {
            let behind = sink
                .head(&self.opts.chain_id)
                .await
                .ok()
                .flatten()
                .map_or(0, |h| h.seq);
            let first = sealed.first().map_or(0, |e| e.seq);
            let result = if behind + 1 == first {
                sink.append(&sealed).await
            } else {
                Err(airlock_gateway_domain::ports::SinkError(Cause::msg(
                    "behind",
                )))
            };
            if let Err(e) = result {
                metrics::counter!(metric::AUDIT_SINK_FAILURES).increment(1);
                tracing::error!(sink = sink.name(), error = %e, "audit sink append failed; catching up from the outbox");
                drop(head);
                let _ = self.catch_up().await;
                return Ok(sealed);
            }
        }
        Ok(sealed)
    }

    fn sign(&self, head: &ChainHead) -> Option<Checkpoint> {
        let signer = self.opts.signer.as_ref()?;
        let signature = signer.sign(&Checkpoint::signed_bytes(&self.opts.chain_id, head));
        Some(Checkpoint {
            chainid: self.opts.chain_id.clone(),
            seq: head.seq,
            hash: head.hash.clone(),
            alg: "Ed25519".into(),
            kid: signer.kid().to_owned(),
            signature,
        })
    }

    /// Seals the current head with a signed `audit.checkpoint` event, unless nothing was
    /// recorded since the last one. Truncating the tail of the log is then detectable against
    /// any checkpoint kept elsewhere, and a cleanly stopped chain ends with one.
    pub async fn checkpoint(&self) -> Result<Option<AuditEvent>, GatewayError> {
        let head = self.head.lock().await;
        if head.sealed {
            return Ok(None);
        }
        let Some(cp) = self.sign(&head.head) else {
            return Ok(None);
        };
        let data = serde_json::to_value(&cp).unwrap_or_default();
        let event = NewEvent::new(types::AUDIT_CHECKPOINT, None, data);
        let sealed = self.seal_and_commit(head, vec![], vec![event]).await?;
        metrics::counter!(metric::AUDIT_CHECKPOINTS).increment(1);
        Ok(sealed.into_iter().next())
    }

    /// A signed statement of the current head, not recorded: for auditors to keep outside the
    /// log and check it against later (`airlock audit verify --checkpoint`).
    pub async fn signed_head(&self) -> Option<Checkpoint> {
        let head = self.head.lock().await;
        self.sign(&head.head)
    }

    /// Records a checkpoint every `interval` until the task is aborted.
    pub fn spawn_checkpoints(
        self: &Arc<Self>,
        interval: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let rec = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(rec) = rec.upgrade() else { break };
                if let Err(e) = rec.checkpoint().await {
                    tracing::error!(error = %e.message, "audit checkpoint failed");
                }
            }
        })
    }
}

fn unavailable(e: impl std::fmt::Display) -> GatewayError {
    tracing::error!(error = %e, "audit trail unavailable");
    GatewayError::new(
        ErrorCode::AuditUnavailable,
        "the audit trail cannot be written; nothing runs unaudited",
    )
}
