//! Request rates on fakes: a principal past its burst is refused with the seconds to wait,
//! others are not; a tenant's bucket holds all its principals together.

mod fakes;

use airlock_gateway_domain::{ErrorCode, Principal};
use fakes::{alice, rig};

fn of(subject: &str, tenant: Option<&str>) -> Principal {
    Principal {
        subject: subject.into(),
        tenant: tenant.map(str::to_owned),
        ..alice()
    }
}

#[tokio::test]
async fn a_principal_past_its_burst_waits_and_others_go_on() {
    let r = rig().await;
    // The rig: 5 at once per principal, 60 a minute.
    let a = of("a", None);
    for _ in 0..5 {
        r.gateway.admit(&a).unwrap_or_else(|e| panic!("{e:?}"));
    }
    let e = r
        .gateway
        .admit(&a)
        .err()
        .unwrap_or_else(|| panic!("the sixth was admitted"));
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert_eq!(e.code.http_status(), 429);
    let wait = e.details["retry_after_seconds"].as_u64().unwrap_or(0);
    assert!((1..=60).contains(&wait), "{}", e.details);
    r.gateway
        .admit(&of("b", None))
        .unwrap_or_else(|e| panic!("{e:?}"));
}

#[tokio::test]
async fn a_tenants_principals_share_its_bucket() {
    let r = rig().await;
    // The rig: 8 at once per tenant; four principals of acme take two each.
    for name in ["p1", "p2", "p3", "p4"] {
        for _ in 0..2 {
            r.gateway
                .admit(&of(name, Some("acme")))
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
    }
    let e = r.gateway.admit(&of("p5", Some("acme"))).err();
    assert_eq!(e.map(|e| e.code), Some(ErrorCode::RateLimited));
    r.gateway
        .admit(&of("p5", Some("globex")))
        .unwrap_or_else(|e| panic!("another tenant: {e:?}"));
}
