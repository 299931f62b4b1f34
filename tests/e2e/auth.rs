//! Every bad token gets 401 with its own code; tokens come from the real OIDC provider.

use crate::harness::{self, Gateway};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::Value;

fn status_and_code(gw: &Gateway, auth: Option<&str>) -> (u16, String) {
    let mut rb = harness::client().post(format!("{}/v1/sessions", gw.url));
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

fn parts(t: &str) -> (Value, Value, String) {
    let p: Vec<&str> = t.split('.').collect();
    let dec = |s: &str| {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(s).unwrap_or_default())
            .unwrap_or(Value::Null)
    };
    (dec(p[0]), dec(p[1]), p[2].to_owned())
}

fn join(h: &Value, c: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(c.to_string())
    )
}

fn flip(sig: &str) -> String {
    let mut b = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    b[10] ^= 0x01;
    URL_SAFE_NO_PAD.encode(b)
}

fn hs256(h: &Value, c: &Value, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let signing = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap_or_else(|e| panic!("{e}"));
    mac.update(signing.as_bytes());
    format!(
        "{signing}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn each_bad_token_is_refused_with_its_own_code() {
    let gw = Gateway::start();
    let oidc = harness::oidc();
    let good = harness::token("alice-tool");
    assert_eq!(
        status_and_code(&gw, Some(&format!("Bearer {good}"))).0,
        201,
        "a good token works"
    );

    let (h, c, sig) = parts(&good);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing_token"),
        ("not bearer", Some(format!("Basic {good}")), "missing_token"),
        ("garbage", Some("Bearer abc.def".into()), "malformed_token"),
        (
            "expired",
            Some(format!("Bearer {}", {
                let t = harness::token_from(&oidc.issuer, "alice-tool", "urn:airlock:short");
                std::thread::sleep(std::time::Duration::from_millis(2100));
                t
            })),
            "token_expired",
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                harness::token_from(&oidc.issuer, "alice-tool", "urn:other")
            )),
            "invalid_audience",
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                harness::token_from(&oidc.rogue, "alice-tool", "urn:airlock")
            )),
            "invalid_issuer",
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}",
                join(&serde_json::json!({"alg": "none", "typ": "JWT"}), &c, "")
            )),
            "unsupported_algorithm",
        ),
        (
            "tampered claims",
            Some(format!(
                "Bearer {}",
                join(
                    &h,
                    &{
                        let mut c2 = c.clone();
                        c2["groups"] = serde_json::json!(["admins"]);
                        c2
                    },
                    &sig
                )
            )),
            "invalid_signature",
        ),
        (
            "tampered signature",
            Some(format!("Bearer {}", join(&h, &c, &flip(&sig)))),
            "invalid_signature",
        ),
        (
            "unknown kid",
            Some(format!(
                "Bearer {}",
                join(
                    &{
                        let mut h2 = h.clone();
                        h2["kid"] = "rotated-away".into();
                        h2
                    },
                    &c,
                    &sig
                )
            )),
            "unknown_key",
        ),
    ];
    // HS256 signed with the issuer's public key (the classic algorithm-confusion attack).
    let jwks: Value = harness::client()
        .get(format!("{}/jwks", oidc.issuer))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null);
    let public = jwks["keys"][0].to_string();
    let confused = hs256(
        &serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": h["kid"]}),
        &c,
        public.as_bytes(),
    );
    let mut all = cases;
    all.push((
        "HS256 with public key",
        Some(format!("Bearer {confused}")),
        "unsupported_algorithm",
    ));

    for (name, auth, want) in all {
        let (status, code) = status_and_code(&gw, auth.as_deref());
        assert_eq!((status, code.as_str()), (401, want), "case {name}");
    }
    // Unauthenticated operational endpoints only.
    for p in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let r = harness::client()
            .get(format!("{}{p}", gw.url))
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status().as_u16(), 200, "{p}");
    }
    let r = harness::client()
        .get(format!("{}/v1/executions/exe_0", gw.url))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 401);
}
