//! The gateway's audit key: an Ed25519 key that signs chain heads (`audit.checkpoint` events and
//! the checkpoints auditors keep), and the trusted public keys a verifier checks them with.
//! Public keys travel as JWKs (`{"kty":"OKP","crv":"Ed25519","x":...}`), the form OIDC users know.

use airlock_gateway_domain::{audit::Checkpoint, ports::CheckpointSigner};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: not an Ed25519 PKCS#8 key")]
    BadKey(String),
    #[error("{0}: not a JWK or JWK set of Ed25519 keys: {1}")]
    BadJwk(String, String),
}

pub struct AuditSigningKey {
    pair: Ed25519KeyPair,
    kid: String,
}

fn kid_of(public: &[u8]) -> String {
    airlock_gateway_domain::digest::sha256_hex(public)[..16].to_owned()
}

impl AuditSigningKey {
    /// Reads the PKCS#8 key at `path`, creating it (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        let pkcs8 = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|_| KeyError::BadKey(name.clone()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| KeyError::Io(name.clone(), e))?;
                }
                write_private(path, doc.as_ref()).map_err(|e| KeyError::Io(name.clone(), e))?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(KeyError::Io(name, e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::BadKey(name))?;
        let kid = kid_of(pair.public_key().as_ref());
        Ok(Self { pair, kid })
    }

    /// The public key as a JWK set (what `airlock audit key` prints and verifiers take).
    pub fn public_jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref()),
        }]})
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl CheckpointSigner for AuditSigningKey {
    fn kid(&self) -> &str {
        &self.kid
    }

    fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.sign(message).as_ref())
    }
}

/// Public keys a verifier trusts, by kid.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<(String, Vec<u8>)>,
}

impl TrustedKeys {
    /// Reads a JWK or a JWK set (`{"keys": [...]}`) of Ed25519 public keys.
    pub fn from_jwk_file(path: &Path) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io(name.clone(), e))?;
        Self::from_jwk_str(&text).map_err(|e| KeyError::BadJwk(name, e))
    }

    pub fn from_jwk_str(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let list = match v.get("keys") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => vec![v],
        };
        let mut keys = Vec::new();
        for k in list {
            if k.get("kty").and_then(|x| x.as_str()) != Some("OKP")
                || k.get("crv").and_then(|x| x.as_str()) != Some("Ed25519")
            {
                return Err("only OKP/Ed25519 keys are accepted".into());
            }
            let x = k
                .get("x")
                .and_then(|x| x.as_str())
                .ok_or("a key has no x")?;
            let public = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|e| format!("x is not base64url: {e}"))?;
            if public.len() != 32 {
                return Err("x is not a 32-byte Ed25519 public key".into());
            }
            // The kid is derived from the key, never taken from the file: a key cannot
            // impersonate another key's id.
            keys.push((kid_of(&public), public));
        }
        if keys.is_empty() {
            return Err("no keys".into());
        }
        Ok(Self { keys })
    }

    pub fn extend(&mut self, other: TrustedKeys) {
        self.keys.extend(other.keys);
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the checkpoint's signature with the trusted key its kid names.
    pub fn verify(&self, cp: &Checkpoint) -> Result<(), String> {
        if cp.alg != "Ed25519" {
            return Err(format!("algorithm {:?} is not Ed25519", cp.alg));
        }
        let (_, public) = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == cp.kid)
            .ok_or_else(|| format!("signed by key {} which is not trusted", cp.kid))?;
        let sig = URL_SAFE_NO_PAD
            .decode(&cp.signature)
            .map_err(|_| "the signature is not base64url".to_owned())?;
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&Checkpoint::signed_bytes(&cp.chainid, &cp.head()), &sig)
            .map_err(|_| "the signature does not verify".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_gateway_domain::audit::ChainHead;

    #[test]
    fn checkpoints_sign_and_verify_and_foreign_or_altered_ones_fail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k");
        let key = AuditSigningKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        // Reloading gives the same key.
        let again = AuditSigningKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.kid(), key.kid());

        let head = ChainHead {
            seq: 7,
            hash: "ab".repeat(32),
        };
        let cp = Checkpoint {
            chainid: "gw".into(),
            seq: head.seq,
            hash: head.hash.clone(),
            alg: "Ed25519".into(),
            kid: key.kid().into(),
            signature: key.sign(&Checkpoint::signed_bytes("gw", &head)),
        };
        let trusted = TrustedKeys::from_jwk_str(&key.public_jwks().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trusted.verify(&cp), Ok(()));
        let mut moved = cp.clone();
        moved.seq = 6;
        assert!(trusted.verify(&moved).is_err());

        let other = AuditSigningKey::load_or_create(&dir.path().join("other"))
            .unwrap_or_else(|e| panic!("{e}"));
        let foreign = TrustedKeys::from_jwk_str(&other.public_jwks().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(foreign.verify(&cp).is_err());
        // A key file cannot claim another key's id.
        let mut jwk = other.public_jwks();
        jwk["keys"][0]["kid"] = serde_json::Value::from(key.kid());
        let lying = TrustedKeys::from_jwk_str(&jwk.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(lying.verify(&cp).is_err());
        assert!(TrustedKeys::from_jwk_str(r#"{"kty":"RSA","n":"x","e":"AQAB"}"#).is_err());
    }
}
