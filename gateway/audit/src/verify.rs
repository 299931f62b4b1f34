use airlock_gateway_domain::audit::{ChainVerifier, VerifyReport};
use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
};

/// Verifies a JSON-lines audit file from its first line.
pub fn verify_file(path: &Path) -> std::io::Result<VerifyReport> {
    verify_reader(std::fs::File::open(path)?, false)
}

pub fn verify_reader(r: impl Read, allow_partial: bool) -> std::io::Result<VerifyReport> {
    let mut v = ChainVerifier::new(allow_partial);
    for line in BufReader::new(r).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if !v.push_line(&line) {
            break;
        }
    }
    Ok(v.finish())
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
