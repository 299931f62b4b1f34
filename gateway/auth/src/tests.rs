//! Unit tests with the in-process development issuer; the end-to-end tests use the real
//! npm `oidc-provider` for discovery, JWKS and RS256.

use super::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::time::Duration;

fn setup() -> (tempfile::TempDir, DevIssuer, Authenticator) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dev = DevIssuer::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let auth = Authenticator::new(vec![dev.settings("airlock")]).unwrap_or_else(|e| panic!("{e}"));
    (dir, dev, auth)
}

async fn code_of(auth: &Authenticator, token: &str) -> &'static str {
    match auth.authenticate(Some(&format!("Bearer {token}"))).await {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    }
}

#[tokio::test]
async fn valid_token_maps_claims() {
    let (_d, dev, auth) = setup();
    let t = dev
        .mint(
            "airlock",
            "alice",
            &["analysts".into()],
            Some("acme"),
            Some("a@x"),
            Duration::from_secs(60),
        )
        .unwrap_or_default();
    let p = auth
        .authenticate(Some(&format!("Bearer {t}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (p.subject.as_str(), p.groups.as_slice(), p.tenant.as_deref()),
        ("alice", &["analysts".to_string()][..], Some("acme"))
    );
}

#[tokio::test]
async fn each_bad_token_has_its_own_code() {
    let (_d, dev, auth) = setup();
    assert_eq!(
        auth.authenticate(None).await.err().map(|e| e.code.as_str()),
        Some("missing_token")
    );
    let good = dev
        .mint("airlock", "alice", &[], None, None, Duration::from_secs(60))
        .unwrap_or_default();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
            .unwrap_or_default();

    let wrong_aud = dev
        .mint(
            "someone-else",
            "alice",
            &[],
            None,
            None,
            Duration::from_secs(60),
        )
        .unwrap_or_default();
    assert_eq!(code_of(&auth, &wrong_aud).await, "invalid_audience");

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(code_of(&auth, &none).await, "unsupported_algorithm");

    let hs = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(code_of(&auth, &hs).await, "unsupported_algorithm");

    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = "mallory".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );
    assert_eq!(code_of(&auth, &tampered).await, "invalid_signature");

    let mut other_iss = claims.clone();
    other_iss["iss"] = "https://evil.example".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(other_iss.to_string()),
        parts[2]
    );
    assert_eq!(code_of(&auth, &forged).await, "invalid_issuer");

    let unknown_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"nope"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(code_of(&auth, &unknown_kid).await, "unknown_key");

    assert_eq!(code_of(&auth, "not-a-jwt").await, "malformed_token");
}

#[tokio::test]
async fn expired_token_is_refused() {
    let (dir, dev, _) = setup();
    let mut settings = dev.settings("airlock");
    settings.leeway_seconds = 0;
    let auth = Authenticator::new(vec![settings]).unwrap_or_else(|e| panic!("{e}"));
    // Mint with a TTL in the past by hand.
    let t = dev
        .mint("airlock", "alice", &[], None, None, Duration::from_secs(0))
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(code_of(&auth, &t).await, "token_expired");
    drop(dir);
}
