//! OPA bundle signatures: `.signatures.json` holds one JWT whose claims list every file of
//! the bundle with its SHA-256. JSON files (`data.json`, `.manifest`) are hashed in canonical
//! form (sorted keys, no whitespace), other files over their bytes, as OPA does.

use crate::bundle::LoadError;
use airlock_gateway_domain::canonical_json::to_canonical_string;
use airlock_gateway_domain::digest::sha256_hex;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::BTreeMap;

pub const SIGNATURES_FILE: &str = ".signatures.json";

/// A key bundles may be signed with.
#[derive(Clone)]
pub struct VerificationKey {
    pub key_id: String,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl VerificationKey {
    /// `algorithm` is RS256/RS384/RS512/PS256/ES256/ES384/EdDSA with a PEM public key, or
    /// HS256/HS384/HS512 with a shared secret (OPA supports both).
    pub fn new(key_id: &str, algorithm: &str, key: &str) -> Result<Self, LoadError> {
        let sig = |m: String| LoadError::Signature(m);
        let algorithm: Algorithm = algorithm
            .parse()
            .map_err(|_| sig(format!("unknown algorithm {algorithm:?}")))?;
        let pem = key.as_bytes();
        let key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => DecodingKey::from_secret(pem),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                DecodingKey::from_rsa_pem(pem).map_err(|e| sig(format!("key {key_id}: {e}")))?
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                DecodingKey::from_ec_pem(pem).map_err(|e| sig(format!("key {key_id}: {e}")))?
            }
            Algorithm::EdDSA => {
                DecodingKey::from_ed_pem(pem).map_err(|e| sig(format!("key {key_id}: {e}")))?
            }
        };
        Ok(Self {
            key_id: key_id.to_owned(),
            algorithm,
            key,
        })
    }
}

#[derive(Clone, Default)]
pub struct Verifier {
    /// Refuse bundles without a valid signature. Configuring any key requires signatures too:
    /// a bundle whose signature was stripped is never taken for an unsigned one.
    pub required: bool,
    pub keys: Vec<VerificationKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    Signed,
    Unsigned,
}

#[derive(serde::Deserialize)]
struct SignaturesFile {
    signatures: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Claims {
    files: Vec<FileHash>,
    #[serde(default)]
    keyid: Option<String>,
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct FileHash {
    pub name: String,
    pub hash: String,
    #[serde(default = "sha256_name")]
    pub algorithm: String,
}

fn sha256_name() -> String {
    "SHA-256".into()
}

/// The hash OPA signs for one file.
pub fn file_hash(name: &str, bytes: &[u8]) -> String {
    if name.ends_with(".json") || name == ".manifest" {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return sha256_hex(to_canonical_string(&v).as_bytes());
        }
    }
    sha256_hex(bytes)
}

impl Verifier {
    pub fn verify(&self, files: &[(String, Vec<u8>)]) -> Result<Verified, LoadError> {
        let sig = |m: String| LoadError::Signature(m);
        let Some((_, sigs)) = files.iter().find(|(n, _)| n == SIGNATURES_FILE) else {
            return if self.required || !self.keys.is_empty() {
                Err(sig(
                    "the bundle is not signed and signing is required".into()
                ))
            } else {
                Ok(Verified::Unsigned)
            };
        };
        let parsed: SignaturesFile =
            serde_json::from_slice(sigs).map_err(|e| sig(format!("{SIGNATURES_FILE}: {e}")))?;
        let [token] = parsed.signatures.as_slice() else {
            return Err(sig(format!(
                "{SIGNATURES_FILE} must hold exactly one signature"
            )));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| sig(format!("signature header: {e}")))?;
        // The signature must name its key: a signing block without a key id is refused, never
        // tried against whichever key happens to be configured.
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| sig("the signature names no key id (kid)".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id == kid)
            .ok_or_else(|| sig(format!("no configured key {kid:?}")))?;
        if header.alg != key.algorithm {
            return Err(sig(format!(
                "signed with {:?}, key {} is {:?}",
                header.alg, key.key_id, key.algorithm
            )));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| sig(format!("does not verify with key {}: {e}", key.key_id)))?
            .claims;
        match &claims.keyid {
            Some(kid) if kid == &key.key_id => {}
            Some(kid) => {
                return Err(sig(format!("claims name key {kid}, header {}", key.key_id)));
            }
            None => return Err(sig("the signed claims name no key id (keyid)".into())),
        }
        let mut signed: BTreeMap<&str, &FileHash> = BTreeMap::new();
        for f in &claims.files {
            if f.algorithm != "SHA-256" {
                return Err(sig(format!(
                    "{}: unsupported hash algorithm {}",
                    f.name, f.algorithm
                )));
            }
            signed.insert(f.name.trim_start_matches('/'), f);
        }
        for (name, bytes) in files.iter().filter(|(n, _)| n != SIGNATURES_FILE) {
            let f = signed
                .remove(name.as_str())
                .ok_or_else(|| sig(format!("{name} is not covered by the signature")))?;
            if f.hash != file_hash(name, bytes) {
                return Err(sig(format!("{name} does not match its signed hash")));
            }
        }
        if let Some(missing) = signed.keys().next() {
            return Err(sig(format!(
                "{missing} is signed but missing from the bundle"
            )));
        }
        Ok(Verified::Signed)
    }
}

/// Builds `.signatures.json` for `files` (tests, and `airlock policy sign` later).
pub fn sign(
    files: &[(String, Vec<u8>)],
    key_id: &str,
    algorithm: Algorithm,
    key: &jsonwebtoken::EncodingKey,
) -> Result<Vec<u8>, jsonwebtoken::errors::Error> {
    let hashes: Vec<FileHash> = files
        .iter()
        .filter(|(n, _)| n != SIGNATURES_FILE)
        .map(|(n, b)| FileHash {
            name: n.clone(),
            hash: file_hash(n, b),
            algorithm: sha256_name(),
        })
        .collect();
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some(key_id.to_owned());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"files": hashes, "keyid": key_id, "scope": "write"}),
        key,
    )?;
    Ok(serde_json::to_vec(&serde_json::json!({"signatures": [token]})).unwrap_or_default())
}
