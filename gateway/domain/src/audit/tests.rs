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
