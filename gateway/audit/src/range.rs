//! Whether the chain holds across the events an auditor is looking at: every chain of the
//! shown events is read whole from the first shown to the last (events the auditor may not see
//! included: a tenant auditor learns only the answer), verified link by link, and each shown
//! event must be the one the chain holds at its place.

use crate::query::AuditReader;
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainVerifier},
    ErrorCode, GatewayError, Principal,
};
use std::collections::BTreeMap;

/// The most chain events one check reads; a wider range is left to `airlock audit verify`.
pub const MAX_RANGE_EVENTS: u64 = 20_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeCheck {
    /// Every link from the first shown event to the last holds; `events` were read.
    Verified {
        events: u64,
        chains: usize,
    },
    /// A link is broken or a shown event is not the chain's: what and where.
    Broken(String),
    /// More than [`MAX_RANGE_EVENTS`] events lie between the first and last shown.
    TooWide {
        events: u64,
    },
    Empty,
}

impl AuditReader {
    pub async fn verify_range(
        &self,
        p: &Principal,
        shown: &[AuditEvent],
    ) -> Result<RangeCheck, GatewayError> {
        self.scope(p)?;
        let mut spans: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for e in shown {
            let span = spans.entry(&e.chainid).or_insert((e.seq, e.seq));
            span.0 = span.0.min(e.seq);
            span.1 = span.1.max(e.seq);
        }
        if spans.is_empty() {
            return Ok(RangeCheck::Empty);
        }
        let width: u64 = spans.values().map(|(lo, hi)| hi - lo + 1).sum();
        if width > MAX_RANGE_EVENTS {
            return Ok(RangeCheck::TooWide { events: width });
        }
        let mut held: BTreeMap<(String, u64), String> = BTreeMap::new();
        let mut verifier = ChainVerifier::new(true);
        for (chain, (lo, hi)) in &spans {
            let limit = u32::try_from(hi - lo + 1).unwrap_or(u32::MAX);
            let events = self
                .store
                .audit_events_after(chain, lo.saturating_sub(1), limit)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "state store error");
                    GatewayError::new(ErrorCode::Internal, "the state store failed")
                })?;
            for e in &events {
                verifier.push_event(e);
                held.insert((e.chainid.clone(), e.seq), e.hash.clone());
            }
        }
        let report = verifier.finish();
        if let Some(b) = report.broken {
            return Ok(RangeCheck::Broken(b.message));
        }
        for e in shown {
            let at = held.get(&(e.chainid.clone(), e.seq));
            if at != Some(&e.hash) || e.compute_hash() != e.hash {
                return Ok(RangeCheck::Broken(format!(
                    "event {} is not the one chain {} holds at seq {}",
                    e.id, e.chainid, e.seq
                )));
            }
        }
        Ok(RangeCheck::Verified {
            events: report.events_read,
            chains: spans.len(),
        })
    }
}
