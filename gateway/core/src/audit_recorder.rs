//! Seals events into this gateway's chain and writes them durably: to the state DB outbox in the
//! same transaction as the state change they record, then to every sink (the JSON-lines file).
//! A sink that falls behind (crash between commit and append, disk error) is caught up from the
//! outbox before the next append, so the file never has a gap.

use crate::metric;
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    ports::{AuditSink, Change, Store},
    ErrorCode, GatewayError,
};
use std::sync::Arc;
use tokio::sync::Mutex;

pub struct AuditRecorder {
    chain_id: String,
    source: String,
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn AuditSink>>,
    head: Mutex<ChainHead>,
}

impl AuditRecorder {
    /// Resumes the chain from the outbox and catches every sink up.
    pub async fn open(
        chain_id: String,
        source: String,
        store: Arc<dyn Store>,
        sinks: Vec<Arc<dyn AuditSink>>,
    ) -> Result<Self, GatewayError> {
        let head = store
            .audit_head(&chain_id)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(ChainHead::genesis);
        let rec = Self {
            chain_id,
            source,
            store,
            sinks,
            head: Mutex::new(head),
        };
        rec.catch_up().await?;
        Ok(rec)
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    async fn catch_up(&self) -> Result<(), GatewayError> {
        for sink in &self.sinks {
            let mut at = sink
                .head(&self.chain_id)
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .map_or(0, |h| h.seq);
            loop {
                let batch = self
                    .store
                    .audit_events_after(&self.chain_id, at, 500)
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

    /// Applies `changes` and records `events` atomically. Nothing that the events describe may
    /// be enforced unless this returns Ok.
    pub async fn record(
        &self,
        changes: Vec<Change>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, GatewayError> {
        let mut head = self.head.lock().await;
        let mut sealed = Vec::with_capacity(events.len());
        let mut cur = head.clone();
        for e in events {
            let time = airlock_gateway_domain::now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let ev = AuditEvent::seal(
                e,
                &cur,
                &self.chain_id,
                &self.source,
                uuid::Uuid::now_v7().to_string(),
                time,
            );
            cur = ev.head();
            sealed.push(ev);
        }
        self.store
            .commit(changes, &sealed)
            .await
            .map_err(unavailable)?;
        *head = cur;
        metrics::counter!(metric::AUDIT_EVENTS).increment(sealed.len() as u64);
        for sink in &self.sinks {
            let behind = sink
                .head(&self.chain_id)
                .await
                .ok()
                .flatten()
                .map_or(0, |h| h.seq);
            let first = sealed.first().map_or(0, |e| e.seq);
            let result = if behind + 1 == first {
                sink.append(&sealed).await
            } else {
                Err(airlock_gateway_domain::ports::SinkError("behind".into()))
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
}

fn unavailable(e: impl std::fmt::Display) -> GatewayError {
    tracing::error!(error = %e, "audit trail unavailable");
    GatewayError::new(
        ErrorCode::AuditUnavailable,
        "the audit trail cannot be written; nothing runs unaudited",
    )
}
