use super::*;
use serde_json::json;

fn chain(n: u64) -> Vec<String> {
    let mut head = ChainHead::genesis();
    (0..n)
        .map(|i| {
            let e = AuditEvent::seal(
                NewEvent::new(
                    types::EXECUTION_REQUESTED,
                    Some("ses_x".into()),
                    json!({"i": i}),
                ),
                &head,
                "gw-1",
                "airlock://test",
                format!("id-{i}"),
                "2026-01-01T00:00:00Z".into(),
            );
            head = e.head();
            serde_json::to_string(&e).unwrap_or_default()
        })
        .collect()
}

fn verify(lines: &[String]) -> VerifyReport {
    let mut v = ChainVerifier::new(false);
    for l in lines {
        v.push_line(l);
    }
    v.finish()
}

#[test]
fn intact_chain_verifies() {
    let r = verify(&chain(5));
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.chains.get("gw-1"), Some(&5));
}

#[test]
fn edit_is_detected() {
    let mut lines = chain(5);
    lines[2] = lines[2].replace(r#""i":2"#, r#""i":7"#);
    let r = verify(&lines);
    assert_eq!(
        r.broken.map(|b| (b.kind, b.position)),
        Some((BreakKind::HashMismatch, 3))
    );
}

#[test]
fn deletion_is_detected() {
    let mut lines = chain(5);
    lines.remove(1);
    assert_eq!(verify(&lines).broken.map(|b| b.kind), Some(BreakKind::Gap));
}

#[test]
fn reorder_is_detected() {
    let mut lines = chain(5);
    lines.swap(1, 2);
    assert_eq!(verify(&lines).broken.map(|b| b.kind), Some(BreakKind::Gap));
    let mut lines = chain(5);
    lines.swap(3, 4);
    let b = verify(&lines).broken;
    assert!(matches!(
        b.map(|b| b.kind),
        Some(BreakKind::Gap | BreakKind::Reorder)
    ));
}

#[test]
fn rehashed_edit_breaks_the_next_link() {
    // An attacker who edits an event and recomputes its hash still breaks the following link.
    let mut lines = chain(3);
    let mut e: AuditEvent = serde_json::from_str(&lines[1]).unwrap_or_else(|_| unreachable!());
    e.data = json!({"i": 99});
    e.hash = e.compute_hash();
    lines[1] = serde_json::to_string(&e).unwrap_or_default();
    assert_eq!(
        verify(&lines).broken.map(|b| b.kind),
        Some(BreakKind::PrevHashMismatch)
    );
}

#[test]
fn exact_duplicates_are_dropped_not_failed() {
    let mut lines = chain(3);
    lines.insert(2, lines[1].clone());
    let r = verify(&lines);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.duplicates_dropped, 1);
}

#[test]
fn garbage_line_is_unreadable() {
    let mut lines = chain(2);
    lines.push("not json".into());
    assert_eq!(
        verify(&lines).broken.map(|b| b.kind),
        Some(BreakKind::Unreadable)
    );
}

/// A chain whose event `at` (1-based seq) is a checkpoint of the head before it; `sign` makes
/// the signature.
fn chain_with_checkpoint(n: u64, at: u64, sign: impl Fn(&[u8]) -> String) -> Vec<String> {
    let mut head = ChainHead::genesis();
    (1..=n)
        .map(|seq| {
            let new = if seq == at {
                let cp = Checkpoint {
                    chainid: "gw-1".into(),
                    seq: head.seq,
                    hash: head.hash.clone(),
                    alg: "Ed25519".into(),
                    kid: "k1".into(),
                    signature: sign(&Checkpoint::signed_bytes("gw-1", &head)),
                };
                NewEvent::new(types::AUDIT_CHECKPOINT, None, json!(cp))
            } else {
                NewEvent::new(types::EXECUTION_REQUESTED, None, json!({"seq": seq}))
            };
            let e = AuditEvent::seal(new, &head, "gw-1", "s", format!("id-{seq}"), "t".into());
            head = e.head();
            serde_json::to_string(&e).unwrap_or_default()
        })
        .collect()
}

fn fake_sign(m: &[u8]) -> String {
    format!("sig-{}", m.len())
}

fn fake_check() -> CheckpointCheck {
    Box::new(|cp: &Checkpoint| {
        let want = fake_sign(&Checkpoint::signed_bytes(&cp.chainid, &cp.head()));
        if cp.signature == want {
            Ok(())
        } else {
            Err("bad signature".into())
        }
    })
}

#[test]
fn checkpoints_are_checked_with_the_given_verifier() {
    let lines = chain_with_checkpoint(5, 3, fake_sign);
    let mut v = ChainVerifier::new(false).with_checkpoint_check(fake_check());
    lines.iter().for_each(|l| {
        v.push_line(l);
    });
    let r = v.finish();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.checkpoints_verified, 1);

    // Without a key the checkpoint's linkage is still checked, its signature is not.
    let r = verify(&lines);
    assert_eq!((r.checkpoints_verified, r.checkpoints_unverified), (0, 1));

    let forged = chain_with_checkpoint(5, 3, |_| "forged".into());
    let mut v = ChainVerifier::new(false).with_checkpoint_check(fake_check());
    forged.iter().for_each(|l| {
        v.push_line(l);
    });
    let b = v
        .finish()
        .broken
        .unwrap_or_else(|| panic!("forged checkpoint accepted"));
    assert_eq!((b.kind, b.seq), (BreakKind::CheckpointInvalid, Some(3)));
}

#[test]
fn a_truncated_tail_is_found_by_sealing_and_by_an_independent_checkpoint() {
    let sealed = chain_with_checkpoint(6, 6, fake_sign);
    let finish = |lines: &[String], expect: Option<(u64, String)>, require_sealed: bool| {
        let mut v = ChainVerifier::new(false);
        if let Some((seq, hash)) = expect {
            v.expect_head("gw-1", &ChainHead { seq, hash });
        }
        lines.iter().for_each(|l| {
            v.push_line(l);
        });
        v.finish_with(require_sealed)
    };
    assert!(finish(&sealed, None, true).ok());
    // The last event cut: the chain no longer ends with a checkpoint.
    let b = finish(&sealed[..5], None, true)
        .broken
        .unwrap_or_else(|| panic!("not found"));
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, Some(5)));
    // Against a head known from elsewhere.
    let head: AuditEvent = serde_json::from_str(&sealed[5]).unwrap_or_else(|e| panic!("{e}"));
    let known = Some((head.seq, head.hash.clone()));
    assert!(finish(&sealed, known.clone(), false).ok());
    let r = finish(&sealed[..4], known, false);
    assert_eq!(r.broken.map(|b| b.kind), Some(BreakKind::Truncated));
    // The same seq with another hash: rewritten.
    let r = finish(&sealed, Some((6, "0".repeat(64))), false);
    assert_eq!(r.broken.map(|b| b.kind), Some(BreakKind::Truncated));
}
