use super::*;

fn scanner() -> Scanner {
    Scanner::new(&[NamedDetector {
        name: "employee_id".into(),
        pattern: r"\bEMP-[0-9]{6}\b".into(),
    }])
    .unwrap_or_else(|e| panic!("{e}"))
}

fn found(text: &str) -> Vec<(String, String)> {
    scanner()
        .scan(text)
        .into_iter()
        .map(|f| (f.detector, text[f.range].to_owned()))
        .collect()
}

fn pair(d: &str, v: &str) -> (String, String) {
    (d.to_owned(), v.to_owned())
}

#[test]
fn each_detector_finds_its_kind_in_running_text() {
    let text = "Mail ann.lee+x@example.co.uk or call +44 20 7946 0958 / (212) 555-0147; \
                card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, \
                badge EMP-004211.";
    assert_eq!(
        found(text),
        vec![
            pair(EMAIL, "ann.lee+x@example.co.uk"),
            pair(PHONE, "+44 20 7946 0958"),
            pair(PHONE, "(212) 555-0147"),
            pair(PAYMENT_CARD, "4111 1111 1111 1111"),
            pair(IBAN, "GB82 WEST 1234 5698 7654 32"),
            pair(US_SSN, "123-45-6789"),
            pair("employee_id", "EMP-004211"),
        ]
    );
}

#[test]
fn look_alikes_that_fail_their_check_are_not_findings() {
    let text = "order 4111111111111112, account DE89370400440532013001, ssn-ish 666-12-3456, \
                date 2026-12-02, ip 192.168.100.200, version 1.2.3, total 1234567.89, \
                uuid 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b, hash 3f786850e387550fdab836ed7e6dc881de23001b";
    assert_eq!(found(text), vec![]);
}

#[test]
fn masking_replaces_or_keeps_the_last_digits_and_counts_never_hold_values() {
    let text = "card 4111-1111-1111-1111 mail bob@example.com";
    let s = scanner();
    let findings = s.scan(text);
    let masked = mask(text, &findings, |d| match d {
        PAYMENT_CARD => Some(Masking::KeepLast(4)),
        EMAIL => Some(Masking::Replace),
        _ => None,
    });
    assert_eq!(masked, "card ****-****-****-1111 mail [email]");
    let c = counts(&findings);
    assert_eq!(c.get(PAYMENT_CARD), Some(&1));
    assert_eq!(c.get(EMAIL), Some(&1));
    let left_alone = mask(text, &findings, |_| None);
    assert_eq!(left_alone, text);
}

#[test]
fn non_ascii_text_is_scanned_and_offsets_stay_on_char_boundaries() {
    let text = "Grüße an jürgen.müller@example.de — Karte 5500 0000 0000 0004 ✓";
    let f = scanner().scan(text);
    assert!(f.iter().any(|x| x.detector == PAYMENT_CARD));
    for x in &f {
        assert!(text.is_char_boundary(x.range.start) && text.is_char_boundary(x.range.end));
    }
    let masked = mask(text, &f, |_| Some(Masking::Replace));
    assert!(
        masked.contains("[payment_card]") && masked.ends_with('✓'),
        "{masked}"
    );
    assert!(
        !masked.contains("jürgen") && masked.contains("an [email] —"),
        "{masked}"
    );
}

#[test]
fn svg_and_unknown_media_are_text_and_pictures_are_not() {
    for text in [
        "text/html",
        "application/json",
        "image/svg+xml",
        "text/markdown",
        "application/x-custom",
    ] {
        assert!(crate::is_text_media(text), "{text}");
    }
    for binary in ["image/png", "image/jpeg", "application/pdf"] {
        assert!(!crate::is_text_media(binary), "{binary}");
    }
}
