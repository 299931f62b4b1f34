use crate::signing::TrustedKeys;
use airlock_gateway_domain::audit::{ChainVerifier, Checkpoint, VerifyReport};
use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
};

/// What a verification checks beyond the chain links.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The input is a window of a longer log (chains need not start at seq 1).
    pub allow_partial: bool,
    /// Verify every in-chain checkpoint's signature with these keys.
    pub keys: Option<TrustedKeys>,
    /// Checkpoints kept outside the log: the log must reach each one's head, with its hash.
    pub expect: Vec<Checkpoint>,
    /// Every chain must end with a checkpoint (the log of a stopped gateway).
    pub require_sealed: bool,
}

impl VerifyOptions {
    /// A verifier set up with these options (for readers other than files, such as Kafka).
    pub fn verifier(&self) -> Result<ChainVerifier, String> {
        let mut v = ChainVerifier::new(self.allow_partial);
        if let Some(keys) = self.keys.clone() {
            v = v.with_checkpoint_check(Box::new(move |cp| keys.verify(cp)));
        }
        for cp in &self.expect {
            let keys = self.keys.as_ref().ok_or(
                "an independent checkpoint can only be trusted with a key to check it (--key)",
            )?;
            keys.verify(cp).map_err(|e| {
                format!(
                    "independent checkpoint of {} seq {}: {e}",
                    cp.chainid, cp.seq
                )
            })?;
            v.expect_head(&cp.chainid, &cp.head());
        }
        Ok(v)
    }

    pub fn finish(&self, v: ChainVerifier) -> VerifyReport {
        v.finish_with(self.require_sealed)
    }
}

/// Verifies a JSON-lines audit file from its first line.
pub fn verify_file(path: &Path) -> std::io::Result<VerifyReport> {
    verify_reader(std::fs::File::open(path)?, false)
}

pub fn verify_reader(r: impl Read, allow_partial: bool) -> std::io::Result<VerifyReport> {
    let opts = VerifyOptions {
        allow_partial,
        ..Default::default()
    };
    verify_reader_with(r, &opts)?.map_err(std::io::Error::other)
}

/// Verifies JSON lines with `opts`; the inner error is a bad option (an untrusted checkpoint).
pub fn verify_reader_with(
    r: impl Read,
    opts: &VerifyOptions,
) -> std::io::Result<Result<VerifyReport, String>> {
    let mut v = match opts.verifier() {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    for line in BufReader::new(r).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if !v.push_line(&line) {
            break;
        }
    }
    Ok(Ok(opts.finish(v)))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonlFileSink;
    use airlock_gateway_domain::{
        audit::{AuditEvent, BreakKind, ChainHead, NewEvent},
        ports::AuditSink,
    };

    #[tokio::test]
    async fn sink_appends_and_file_verifies_then_tamper_is_found() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.jsonl");
        let sink = JsonlFileSink::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut head = ChainHead::genesis();
        for i in 0..4 {
            let e = AuditEvent::seal(
                NewEvent::new("x", None, serde_json::json!({"i": i})),
                &head,
                "c",
                "s",
                format!("id{i}"),
                "t".into(),
            );
            head = e.head();
            sink.append(&[e]).await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(sink.head("c").await.ok().flatten(), Some(head.clone()));
        drop(sink);
        // Reopening recovers the head from the file.
        let again = JsonlFileSink::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.head("c").await.ok().flatten(), Some(head));
        assert!(verify_file(&path).map(|r| r.ok()).unwrap_or(false));

        let text = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, text.replacen("\"i\":2", "\"i\":3", 1))
            .unwrap_or_else(|e| panic!("{e}"));
        let r = verify_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.broken.map(|b| (b.kind, b.position)),
            Some((BreakKind::HashMismatch, 3))
        );
    }
}
