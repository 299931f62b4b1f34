//! Secrets never enter an audit event: every string in an event's data is scrubbed before the
//! event is hashed and sealed, so no sink (outbox, file, Kafka) ever holds them.
//!
//! Built-in patterns cover the common forms (JWTs, bearer tokens, cloud and VCS tokens, Vault
//! tokens, private keys, `password=...`-style assignments, passwords in URLs); operators add
//! their own (`audit.redact_patterns`); exact values the gateway itself issued (database
//! credentials) are added at run time with [`Redactor::add_secret`].

use regex::Regex;
use serde_json::Value;
use std::sync::RwLock;

pub const REDACTED: &str = "[REDACTED]";

/// (pattern, replacement): `$name` groups keep the non-secret part of a match.
const BUILT_IN: &[(&str, &str)] = &[
    // PEM private keys: the base64 body between the markers (optional RFC 1421 headers; lines
    // joined by newlines or by `\n` escapes inside a string literal). Only key material
    // matches: anything else between two markers (code, say) breaks the match and stays on the
    // record.
    (
        r"(?P<b>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)(?:\\n|\s)*(?:[A-Za-z-]+: [A-Za-z0-9,-]*(?:\\n|\s)+)*[A-Za-z0-9+/=\s]*(?:(?:\\[nr])+[A-Za-z0-9+/=\s]*)*(?P<e>-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)",
        "${b}[REDACTED]${e}",
    ),
    // JSON Web Tokens (three base64url parts, header and payload JSON objects).
    (
        r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
        REDACTED,
    ),
    // HTTP bearer / basic credentials.
    (
        r"(?i)(?P<k>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{12,}",
        "${k}[REDACTED]",
    ),
    // AWS access key ids; GitHub, GitLab, Slack and Vault/OpenBao tokens; Stripe/OpenAI-style keys.
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", REDACTED),
    (r"\bglpat-[A-Za-z0-9_-]{20,}\b", REDACTED),
    (r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", REDACTED),
    (r"\b(?:hvs|hvb|hvr|s)\.[A-Za-z0-9_-]{20,}\b", REDACTED),
    (r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b", REDACTED),
    (r"\bsk-[A-Za-z0-9_-]{20,}\b", REDACTED),
    // Airlock's own personal access keys.
    (r"\balk_[0-9a-f]{32,}\b", REDACTED),
    // key = value assignments of secret-named keys (code, configs, connection strings). The
    // value is one literal-looking token: calls, indexing and attribute chains
    // (`token = load(...)`) are code, not a secret, and stay on the record.
    (
        r#"(?i)(?P<k>\b[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)s?["']?\s*(?:=|:|=>)\s*["']?)[^\s"',;(){}\[\]<>=]{3,}(?P<end>["',;)}\]\s]|$)"#,
        "${k}[REDACTED]${end}",
    ),
    // user:password@ in URLs.
    (
        r"(?i)(?P<k>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?P<at>@)",
        "${k}[REDACTED]${at}",
    ),
];

pub struct Redactor {
    patterns: Vec<(Regex, String)>,
    /// Object keys whose string values are secrets whatever they look like.
    secret_key: Regex,
    /// Exact secrets the gateway handed out (never logged, only matched).
    literals: RwLock<Vec<String>>,
}

/// Shows how many patterns and literals it holds, never the secrets.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns.len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// The built-in patterns plus `extra` (each match replaced whole).
    pub fn new(extra: &[String]) -> Result<Self, regex::Error> {
        let mut patterns = Vec::with_capacity(BUILT_IN.len() + extra.len());
        for (p, r) in BUILT_IN {
            patterns.push((Regex::new(p)?, (*r).to_owned()));
        }
        for p in extra {
            patterns.push((Regex::new(p)?, REDACTED.to_owned()));
        }
        Ok(Self {
            patterns,
            secret_key: Regex::new(
                r"(?i)^[a-z0-9_.-]*(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)s?$",
            )?,
            literals: RwLock::new(Vec::new()),
        })
    }

    /// Scrubs `secret` wherever it appears from now on (values shorter than 6 bytes are
    /// ignored: they would shred ordinary text).
    pub fn add_secret(&self, secret: &str) {
        if secret.len() < 6 {
            return;
        }
        if let Ok(mut l) = self.literals.write() {
            if !l.iter().any(|s| s == secret) {
                l.push(secret.to_owned());
            }
        }
    }

    pub fn forget_secret(&self, secret: &str) {
        if let Ok(mut l) = self.literals.write() {
            l.retain(|s| s != secret);
        }
    }

    /// Scrubs one string; returns the number of redactions.
    pub fn redact_str(&self, s: &mut String) -> usize {
        let mut n = 0;
        if let Ok(lits) = self.literals.read() {
            for lit in lits.iter() {
                if s.contains(lit.as_str()) {
                    n += s.matches(lit.as_str()).count();
                    *s = s.replace(lit.as_str(), REDACTED);
                }
            }
        }
        for (re, replacement) in &self.patterns {
            if re.is_match(s) {
                n += re.find_iter(s).count();
                *s = re.replace_all(s, replacement.as_str()).into_owned();
            }
        }
        n
    }

    /// Scrubs every string (and object key) in `v`; returns the number of redactions.
    pub fn redact_value(&self, v: &mut Value) -> usize {
        match v {
            Value::String(s) => self.redact_str(s),
            Value::Array(a) => a.iter_mut().map(|x| self.redact_value(x)).sum(),
            Value::Object(o) => {
                let mut n = 0;
                let keys: Vec<String> = o.keys().cloned().collect();
                for k in keys {
                    let mut nk = k.clone();
                    let kn = self.redact_str(&mut nk);
                    if let Some(mut val) = o.remove(&k) {
                        n += kn;
                        match &mut val {
                            Value::String(s) if self.secret_key.is_match(&k) && s != REDACTED => {
                                *s = REDACTED.to_owned();
                                n += 1;
                            }
                            other => n += self.redact_value(other),
                        }
                        o.insert(nk, val);
                    }
                }
                n
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r() -> Redactor {
        Redactor::new(&["ACME-[0-9]{6}".into()]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn scrub(s: &str) -> String {
        let mut s = s.to_owned();
        r().redact_str(&mut s);
        s
    }

    #[test]
    fn common_secret_forms_are_scrubbed() {
        let cases = [
            ("password = 'hunter2hunter2'", "hunter2hunter2"),
            ("db_password: s3cr3t-value", "s3cr3t-value"),
            ("API_KEY=\"abcd1234efgh\"", "abcd1234efgh"),
            (
                "Authorization: Bearer abcdefghijklmnop.qrstu",
                "abcdefghijklmnop",
            ),
            ("postgres://app:pa55word@db:5432/x", "pa55word"),
            ("key AKIAABCDEFGHIJKLMNOP here", "AKIAABCDEFGHIJKLMNOP"),
            (
                "tok ghp_0123456789abcdefghijABCDEFGHIJ0123",
                "ghp_0123456789",
            ),
            ("vault hvs.CAESIJ0123456789abcdefghijklmno", "hvs.CAESIJ"),
            (
                "key alk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "alk_0123",
            ),
            (
                "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQ",
                "eyJhbGci",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----",
                "MIIEv",
            ),
            ("ticket ACME-123456 opened", "ACME-123456"),
        ];
        for (input, secret) in cases {
            let out = scrub(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?}");
            assert!(out.contains(REDACTED), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn ordinary_code_is_left_alone() {
        for s in [
            "import pandas as pd\ndf = pd.read_csv('sales.csv')",
            "print(sum(range(10)))",
            "password_policy_length = len(rules)",
            "token_count = 3",
        ] {
            assert_eq!(scrub(s), s);
        }
    }

    #[test]
    fn redaction_cannot_be_used_to_hide_code() {
        let hidden = "-----BEGIN RSA PRIVATE KEY-----\nimport os; os.system('curl evil')\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            scrub(hidden),
            hidden,
            "code between PEM markers is not key material"
        );
        let commented =
            "# -----BEGIN PRIVATE KEY-----\nexfiltrate(df)\n# -----END PRIVATE KEY-----";
        assert_eq!(scrub(commented), commented);
        let call = "password = eval(bytes.fromhex('7072696e74').decode())";
        assert!(
            scrub(call).contains("eval(bytes.fromhex('7072696e74')"),
            "{}",
            scrub(call)
        );
        // Key material itself is still scrubbed, as real lines or as escapes in a literal,
        // with headers, and the markers stay so a reader sees what was there.
        for key in [
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAbCd+/==\n-----END PRIVATE KEY-----",
            "k = \"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\\n-----END EC PRIVATE KEY-----\"",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,ABCDEF\n\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        ] {
            let out = scrub(key);
            assert!(out.contains("PRIVATE KEY-----[REDACTED]-----END"), "{key:?} -> {out:?}");
            assert!(!out.contains("MII") && !out.contains("MHc"), "{out}");
        }
    }

    #[test]
    fn issued_values_and_nested_json_are_scrubbed() {
        let red = r();
        red.add_secret("Zq9-issued-credential");
        let mut v = json!({"code": "x = 'Zq9-issued-credential'", "list": ["a", {"password": "opensesame"}], "n": 3});
        assert_eq!(red.redact_value(&mut v), 2);
        let text = v.to_string();
        assert!(
            !text.contains("Zq9-issued-credential") && !text.contains("opensesame"),
            "{text}"
        );
        red.forget_secret("Zq9-issued-credential");
        let mut s = "Zq9-issued-credential".to_owned();
        assert_eq!(red.redact_str(&mut s), 0);
    }
}
