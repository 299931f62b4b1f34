//! Personal access keys and kernel operations on fakes: a key acts as its owner as minted,
//! is stored only as a digest, expires, is refused from the request after its revocation,
//! cannot manage keys, and every use is audited; a session's running execution can be
//! interrupted and its kernel restarted by its owner only.

mod fakes;

use airlock_gateway_domain::{access_keys::secret_digest, ErrorCode, ExecutionStatus, Principal};
use fakes::{alice, bob, python, rig, until_status, Step};
use std::time::Duration;

fn alice_in(groups: &[&str]) -> Principal {
    Principal {
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        tenant: Some("acme".into()),
        ..alice()
    }
}

#[tokio::test]
async fn a_key_acts_as_its_owner_as_minted_and_only_its_digest_is_stored() {
    let r = rig().await;
    let owner = alice_in(&["analysts"]);
    let minted = r
        .gateway
        .mint_access_key(&owner, "notebook", Some(Duration::from_secs(3600)))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(minted.secret.starts_with("alk_"));
    let stored = r
        .store
        .access_keys
        .lock()
        .map(|k| k.clone())
        .unwrap_or_default();
    let key = stored
        .get(&minted.key.id)
        .unwrap_or_else(|| panic!("not stored"));
    assert_eq!(key.secret_sha256, secret_digest(&minted.secret));
    assert!(!serde_json::to_string(key)
        .unwrap_or_default()
        .contains(&minted.secret));

    let p = r
        .gateway
        .authenticate_key(&minted.secret, "jupyter")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(p.owner_key(), owner.owner_key());
    assert_eq!(p.groups, vec!["analysts".to_owned()]);
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    let via = p.via.clone().unwrap_or_else(|| panic!("no via"));
    assert_eq!(
        (via.protocol.as_str(), via.key.as_deref()),
        ("jupyter", Some(minted.key.id.as_str()))
    );
    let outbox = r.store.outbox.lock().map(|o| o.clone()).unwrap_or_default();
    let types: Vec<&str> = outbox.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        types.contains(&"access_key.created") && types.contains(&"access_key.used"),
        "{types:?}"
    );

    // A key cannot manage keys.
    for e in [
        r.gateway.mint_access_key(&p, "successor", None).await.err(),
        r.gateway.access_keys(&p).await.err(),
        r.gateway.revoke_access_key(&p, &minted.key.id).await.err(),
    ] {
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::AccessKeyNotAllowed));
    }
}

#[tokio::test]
async fn a_key_is_refused_once_revoked_or_expired_and_unknown_secrets_never_pass() {
    let r = rig().await;
    let revoked = r
        .gateway
        .mint_access_key(&alice(), "a", None)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let expiring = r
        .gateway
        .mint_access_key(&alice(), "b", Some(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let held = r
        .gateway
        .authenticate_key(&revoked.secret, "jupyter")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(r.gateway.recheck_access_key(&held).await.is_ok());
    // Another principal cannot revoke it.
    let by_bob = r.gateway.revoke_access_key(&bob(), &revoked.key.id).await;
    assert_eq!(
        by_bob.err().map(|e| e.code),
        Some(ErrorCode::AccessKeyNotFound)
    );
    r.gateway
        .revoke_access_key(&alice(), &revoked.key.id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // A connection authenticated before the revocation is refused at its next recheck.
    let recheck = r.gateway.recheck_access_key(&held).await;
    assert_eq!(
        recheck.err().map(|e| e.code),
        Some(ErrorCode::InvalidAccessKey)
    );
    let refused = r.gateway.authenticate_key(&revoked.secret, "rest").await;
    assert_eq!(
        refused.err().map(|e| e.code),
        Some(ErrorCode::InvalidAccessKey)
    );

    assert!(r
        .gateway
        .authenticate_key(&expiring.secret, "rest")
        .await
        .is_ok());
    r.clock.advance(Duration::from_secs(61));
    let expired = r.gateway.authenticate_key(&expiring.secret, "rest").await;
    assert_eq!(
        expired.err().map(|e| e.code),
        Some(ErrorCode::InvalidAccessKey)
    );

    let forged = format!("{}x", expiring.secret);
    let unknown = r.gateway.authenticate_key(&forged, "rest").await;
    assert_eq!(
        unknown.err().map(|e| e.code),
        Some(ErrorCode::InvalidAccessKey)
    );
    // Past the longest lifetime: refused.
    let too_long = r
        .gateway
        .mint_access_key(&alice(), "c", Some(Duration::from_secs(91 * 86_400)))
        .await;
    assert_eq!(
        too_long.err().map(|e| e.code),
        Some(ErrorCode::InvalidRequest)
    );
}

#[tokio::test]
async fn a_kernel_is_interrupted_and_restarted_by_its_owner_only() {
    let r = rig().await;
    let s = r.session_of(&alice()).await;
    r.backend
        .script("wait", vec![Step::Print("started\n"), Step::Block]);
    let sub = r
        .gateway
        .submit(&alice(), &s, python("wait"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let job = sub.job.clone().unwrap_or_else(|| panic!("no job"));
    until_status(&job, ExecutionStatus::Running).await;
    assert_eq!(
        r.gateway.running_in(&alice(), &s).await.ok().flatten(),
        Some(sub.execution.id.clone())
    );

    // Bob sees no session; his interrupt and restart find nothing.
    let bob_interrupt = r.gateway.interrupt_session(&bob(), &s).await;
    assert_eq!(
        bob_interrupt.err().map(|e| e.code),
        Some(ErrorCode::SessionNotFound)
    );
    let bob_restart = r.gateway.restart_kernel(&bob(), &s).await;
    assert_eq!(
        bob_restart.err().map(|e| e.code),
        Some(ErrorCode::SessionNotFound)
    );
    assert_eq!(job.log.status(), ExecutionStatus::Running);

    let interrupted = r
        .gateway
        .interrupt_session(&alice(), &s)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(interrupted, Some(sub.execution.id.clone()));
    let done = sub.finished().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(done.status, ExecutionStatus::Cancelled);
    assert_eq!(
        r.gateway.running_in(&alice(), &s).await.ok().flatten(),
        None
    );

    r.gateway
        .restart_kernel(&alice(), &s)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let outbox = r.store.outbox.lock().map(|o| o.clone()).unwrap_or_default();
    assert!(outbox
        .iter()
        .any(|e| e.event_type == "session.kernel_restarted"));
    // The session serves on after the restart.
    let after = r
        .gateway
        .execute(&alice(), &s, python("print(1)"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(after.execution.status, ExecutionStatus::Succeeded);
}
