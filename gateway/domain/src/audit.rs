//! Audit events: CloudEvents 1.0 envelopes, hash-chained.
//!
//! Each event carries the extension attributes `chainid`, `seq`, `prevhash` and `hash`
//! (CloudEvents attribute names allow only lower-case letters and digits, so the design's
//! `prev_hash` is spelled `prevhash`). `hash` is the SHA-256 of the canonical JSON of the event
//! without its `hash` attribute; `prevhash` of the first event of a chain is 64 zeros. A verifier
//! recomputes every hash and link, so an edited, deleted, inserted or reordered event is found.

use crate::canonical_json::to_canonical_string;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Event types of the design.
pub mod types {
    pub const SESSION_CREATED: &str = "session.created";
    pub const SESSION_DELETED: &str = "session.deleted";
    pub const SESSION_EXPIRED: &str = "session.expired";
    pub const SESSION_LOST: &str = "session.lost";
    /// A replica re-attached to a session's running sandbox (after a restart, or serving a
    /// session another replica started).
    pub const SESSION_ADOPTED: &str = "session.adopted";
    /// The session's kernel restarted at its owner's request (variables gone, files kept).
    pub const SESSION_KERNEL_RESTARTED: &str = "session.kernel_restarted";
    pub const EXECUTION_REQUESTED: &str = "execution.requested";
    pub const POLICY_DECIDED: &str = "policy.decided";
    pub const EXECUTION_COMPLETED: &str = "execution.completed";
    /// Someone asked to stop a running execution (its `execution.completed` follows).
    pub const EXECUTION_CANCEL_REQUESTED: &str = "execution.cancel_requested";
    pub const FILE_UPLOADED: &str = "file.uploaded";
    pub const FILE_DOWNLOADED: &str = "file.downloaded";
    pub const EGRESS_CONNECTION: &str = "egress.connection";
    /// A warehouse login issued for one statement (lease hashed, never the password).
    pub const CREDENTIAL_ISSUED: &str = "credential.issued";
    /// That login revoked (at once after the statement, by the sweep, or when abandoned).
    pub const CREDENTIAL_REVOKED: &str = "credential.revoked";
    /// The canonical statement run on a connector, with its analysis and row count.
    pub const SQL_STATEMENT: &str = "sql.statement";
    /// What output inspection found (detector, place, count, action; never a value).
    pub const OUTPUT_INSPECTED: &str = "output.inspected";
    /// Output policy held for review, released into its execution by the case's approval.
    pub const OUTPUT_RELEASED: &str = "output.released";
    /// A personal access key minted, revoked, or presented (every use).
    pub const ACCESS_KEY_CREATED: &str = "access_key.created";
    pub const ACCESS_KEY_REVOKED: &str = "access_key.revoked";
    pub const ACCESS_KEY_USED: &str = "access_key.used";
    pub const GATEWAY_STARTED: &str = "gateway.started";
    pub const GATEWAY_STOPPED: &str = "gateway.stopped";
    /// A signed statement of the chain head (sequence and hash) before it.
    pub const AUDIT_CHECKPOINT: &str = "audit.checkpoint";
    /// A compliance reviewer read the audit trail.
    pub const AUDIT_QUERIED: &str = "audit.queried";
    /// Held work became a review case; the case's life follows.
    pub const REVIEW_REQUESTED: &str = "review.requested";
    pub const REVIEW_COMMENTED: &str = "review.commented";
    pub const REVIEW_APPROVED: &str = "review.approved";
    pub const REVIEW_REJECTED: &str = "review.rejected";
    pub const REVIEW_WITHDRAWN: &str = "review.withdrawn";
    pub const REVIEW_EXPIRED: &str = "review.expired";
    pub const REVIEW_SUPERSEDED: &str = "review.superseded";
}

/// An event before it is placed in a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_type: &'static str,
    /// CloudEvents `subject`: the session (or execution) the event is about.
    pub subject: Option<String>,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(event_type: &'static str, subject: Option<String>, data: serde_json::Value) -> Self {
        Self {
            event_type,
            subject,
            data,
        }
    }
}

/// A sealed event as written to every sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub datacontenttype: String,
    pub chainid: String,
    pub seq: u64,
    pub prevhash: String,
    pub hash: String,
    pub data: serde_json::Value,
}

/// Where a chain stands: the last sequence number and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// The data of an `audit.checkpoint` event, and the form in which checkpoints are kept
/// outside the log: a signature by the gateway's audit key over a chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub chainid: String,
    pub seq: u64,
    pub hash: String,
    /// Always `Ed25519`.
    pub alg: String,
    /// Identifies the signing key (first 16 hex digits of the SHA-256 of the public key).
    pub kid: String,
    /// Base64url (no padding) signature over [`Checkpoint::signed_bytes`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed: the canonical JSON of `{chainid, seq, hash}`.
    pub fn signed_bytes(chainid: &str, head: &ChainHead) -> Vec<u8> {
        to_canonical_string(
            &serde_json::json!({"chainid": chainid, "seq": head.seq, "hash": head.hash}),
        )
        .into_bytes()
    }

    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

impl AuditEvent {
    /// Seals `new` as the successor of `head`.
    pub fn seal(
        new: NewEvent,
        head: &ChainHead,
        chain_id: &str,
        source: &str,
        id: String,
        time: String,
    ) -> Self {
        let mut event = AuditEvent {
            specversion: "1.0".into(),
            id,
            source: source.into(),
            event_type: new.event_type.into(),
            time,
            subject: new.subject,
            datacontenttype: "application/json".into(),
            chainid: chain_id.into(),
            seq: head.seq + 1,
            prevhash: head.hash.clone(),
            hash: String::new(),
            data: new.data,
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 (hex) of the canonical JSON of this event without its `hash`.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            obj.remove("hash");
        }
        hex::encode(Sha256::digest(to_canonical_string(&value).as_bytes()))
    }

    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The first problem a verifier found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// 1-based position in the input (line number for a file).
    pub position: u64,
    pub chainid: String,
    pub seq: Option<u64>,
    pub kind: BreakKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// Not a JSON event.
    Unreadable,
    /// The event's content does not match its hash (edited).
    HashMismatch,
    /// A sequence number is missing (deleted event or truncated middle).
    Gap,
    /// A sequence number went backwards or repeated with different content (reordered).
    Reorder,
    /// `prevhash` does not match the previous event's hash.
    PrevHashMismatch,
    /// An `audit.checkpoint` event that does not seal the head before it, or whose signature
    /// does not verify with a trusted key.
    CheckpointInvalid,
    /// The chain ends before a head that an independent checkpoint vouches for, or (when a
    /// sealed end is required) does not end with a checkpoint.
    Truncated,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events_read: u64,
    pub duplicates_dropped: u64,
    /// Events verified per chain.
    pub chains: BTreeMap<String, u64>,
    /// In-chain checkpoints whose signature verified with a trusted key.
    pub checkpoints_verified: u64,
    /// In-chain checkpoints that sealed the right head but were not checked for a signature
    /// (no trusted key given).
    pub checkpoints_unverified: u64,
    /// Independent checkpoints (held outside the log) that the log matched.
    pub external_checkpoints_matched: u64,
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies events in the order they were read. Each chain must start at seq 1 unless
/// `allow_partial` (a window of a longer log), then run without gaps. An event identical (same id
/// and hash) to one already seen is an at-least-once duplicate and is dropped.
/// Checks the signature of an in-chain checkpoint (the verifier itself holds no crypto).
pub type CheckpointCheck = Box<dyn Fn(&Checkpoint) -> Result<(), String> + Send>;

#[derive(Default)]
pub struct ChainVerifier {
    heads: BTreeMap<String, ChainHead>,
    seen_ids: std::collections::HashMap<String, String>,
    report: VerifyReport,
    allow_partial: bool,
    checkpoint_check: Option<CheckpointCheck>,
    /// Whether each chain's last event so far is a checkpoint.
    sealed: BTreeMap<String, bool>,
    /// Heads vouched for by independent checkpoints: (chain, seq) -> hash.
    expected: BTreeMap<(String, u64), String>,
}

impl ChainVerifier {
    pub fn new(allow_partial: bool) -> Self {
        Self {
            allow_partial,
            ..Default::default()
        }
    }

    /// Verifies the signature of every in-chain checkpoint with `check`.
    pub fn with_checkpoint_check(mut self, check: CheckpointCheck) -> Self {
        self.checkpoint_check = Some(check);
        self
    }

    /// The log must hold `head` of `chain` (from a checkpoint kept outside the log, whose
    /// signature the caller verified): a shorter chain was truncated, another hash rewritten.
    pub fn expect_head(&mut self, chain: &str, head: &ChainHead) {
        self.expected
            .insert((chain.to_owned(), head.seq), head.hash.clone());
    }

    /// Feeds one raw line; returns false once a break was found (further input is ignored).
    pub fn push_line(&mut self, line: &str) -> bool {
        if self.report.broken.is_some() {
            return false;
        }
        self.report.events_read += 1;
        let position = self.report.events_read;
        match serde_json::from_str::<AuditEvent>(line) {
            Ok(event) => self.push(position, &event),
            Err(e) => self.fail(
                position,
                String::new(),
                None,
                BreakKind::Unreadable,
                e.to_string(),
            ),
        }
    }

    /// Feeds one parsed event; returns false once a break was found.
    pub fn push_event(&mut self, event: &AuditEvent) -> bool {
        if self.report.broken.is_some() {
            return false;
        }
        self.report.events_read += 1;
        let position = self.report.events_read;
        self.push(position, event)
    }

    fn push(&mut self, position: u64, event: &AuditEvent) -> bool {
        if let Some(hash) = self.seen_ids.get(&event.id) {
            if *hash == event.hash && event.compute_hash() == event.hash {
                self.report.duplicates_dropped += 1;
                return true;
            }
        }
        let chain = event.chainid.clone();
        if event.compute_hash() != event.hash {
            let msg = format!(
                "event {} (seq {}) does not match its hash: edited",
                event.id, event.seq
            );
            return self.fail(
                position,
                chain,
                Some(event.seq),
                BreakKind::HashMismatch,
                msg,
            );
        }
        let expected = match self.heads.get(&chain) {
            Some(head) => head.clone(),
            None if self.allow_partial => ChainHead {
                seq: event.seq - 1,
                hash: event.prevhash.clone(),
            },
            None => ChainHead::genesis(),
        };
        if event.seq <= expected.seq {
            let msg = format!(
                "seq {} after seq {}: reordered or replayed",
                event.seq, expected.seq
            );
            return self.fail(position, chain, Some(event.seq), BreakKind::Reorder, msg);
        }
        if event.seq != expected.seq + 1 {
            let msg = format!(
                "seq {} follows seq {}: {} event(s) missing",
                event.seq,
                expected.seq,
                event.seq - expected.seq - 1
            );
            return self.fail(position, chain, Some(event.seq), BreakKind::Gap, msg);
        }
        if event.prevhash != expected.hash {
            let msg = format!(
                "seq {} does not link to the previous event's hash",
                event.seq
            );
            return self.fail(
                position,
                chain,
                Some(event.seq),
                BreakKind::PrevHashMismatch,
                msg,
            );
        }
        if let Some(hash) = self.expected.remove(&(chain.clone(), event.seq)) {
            if hash != event.hash {
                let msg = format!(
                    "seq {} differs from the head an independent checkpoint vouches for: rewritten",
                    event.seq
                );
                return self.fail(position, chain, Some(event.seq), BreakKind::Truncated, msg);
            }
            self.report.external_checkpoints_matched += 1;
        }
        let is_checkpoint = event.event_type == types::AUDIT_CHECKPOINT;
        if is_checkpoint {
            if let Err(msg) = self.check_checkpoint(event) {
                return self.fail(
                    position,
                    chain,
                    Some(event.seq),
                    BreakKind::CheckpointInvalid,
                    msg,
                );
            }
        }
        self.sealed.insert(chain.clone(), is_checkpoint);
        self.heads.insert(chain.clone(), event.head());
        self.seen_ids.insert(event.id.clone(), event.hash.clone());
        *self.report.chains.entry(chain).or_default() += 1;
        true
    }

    fn check_checkpoint(&mut self, event: &AuditEvent) -> Result<(), String> {
        let cp: Checkpoint = serde_json::from_value(event.data.clone())
            .map_err(|e| format!("checkpoint at seq {} is malformed: {e}", event.seq))?;
        if cp.chainid != event.chainid || cp.seq + 1 != event.seq || cp.hash != event.prevhash {
            return Err(format!(
                "checkpoint at seq {} does not seal the head before it",
                event.seq
            ));
        }
        match &self.checkpoint_check {
            Some(check) => {
                check(&cp).map_err(|e| format!("checkpoint at seq {}: {e}", event.seq))?;
                self.report.checkpoints_verified += 1;
            }
            None => self.report.checkpoints_unverified += 1,
        }
        Ok(())
    }

    fn fail(
        &mut self,
        position: u64,
        chainid: String,
        seq: Option<u64>,
        kind: BreakKind,
        message: String,
    ) -> bool {
        self.report.broken = Some(BrokenLink {
            position,
            chainid,
            seq,
            kind,
            message,
        });
        false
    }

    pub fn finish(self) -> VerifyReport {
        self.finish_with(false)
    }

    /// Ends verification: every expected head must have been seen, and with `require_sealed`
    /// every chain must end with a checkpoint (a cleanly stopped gateway seals its chain).
    pub fn finish_with(mut self, require_sealed: bool) -> VerifyReport {
        if self.report.broken.is_some() {
            return self.report;
        }
        let position = self.report.events_read;
        if let Some(((chain, seq), _)) = self.expected.iter().next() {
            let (chain, seq) = (chain.clone(), *seq);
            let end = self.heads.get(&chain).map_or(0, |h| h.seq);
            let msg = format!(
                "chain {chain} ends at seq {end}, but an independent checkpoint vouches for seq {seq}: tail truncated"
            );
            self.fail(position, chain, Some(end), BreakKind::Truncated, msg);
            return self.report;
        }
        if require_sealed {
            if let Some((chain, _)) = self.sealed.iter().find(|(_, sealed)| !**sealed) {
                let chain = chain.clone();
                let end = self.heads.get(&chain).map_or(0, |h| h.seq);
                let msg = format!(
                    "chain {chain} ends at seq {end} without a checkpoint: tail truncated, or the gateway is still running or did not stop cleanly"
                );
                self.fail(position, chain, Some(end), BreakKind::Truncated, msg);
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests;
