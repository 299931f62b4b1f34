//! The development issuer: an Ed25519 key in the state directory that `airlock token mint`
//! signs with and `airlock serve` trusts, only when explicitly enabled and only while the gateway
//! listens on loopback (config validation enforces both). Never for production.

use crate::{
    claims::ClaimMapping,
    jwks::{IssuerSettings, KeySource},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{jwk::JwkSet, Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub const DEV_ISSUER: &str = "urn:airlock:dev-issuer";

pub struct DevIssuer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    kid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the development issuer key at {0} is corrupt")]
    BadKey(PathBuf),
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl DevIssuer {
    /// Loads the key from `dir/dev-issuer.pk8`, creating it (mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, DevIssuerError> {
        let path = dir.join("dev-issuer.pk8");
        let io = |source| DevIssuerError::Io {
            path: path.clone(),
            source,
        };
        let pkcs8 = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|_| DevIssuerError::BadKey(path.clone()))?;
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                f.write_all(doc.as_ref()).map_err(io)?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| DevIssuerError::BadKey(path.clone()))?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = format!("dev-{}", &URL_SAFE_NO_PAD.encode(&public)[..12]);
        Ok(Self { pkcs8, public, kid })
    }

    pub fn jwks(&self) -> JwkSet {
        let v = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(&self.public)}]});
        serde_json::from_value(v).unwrap_or(JwkSet { keys: vec![] })
    }

    pub fn settings(&self, audience: &str) -> IssuerSettings {
        IssuerSettings {
            issuer: DEV_ISSUER.into(),
            audiences: vec![audience.into()],
            algorithms: vec![Algorithm::EdDSA],
            leeway_seconds: 5,
            claims: ClaimMapping::default(),
            keys: KeySource::Static(self.jwks()),
            cache_ttl: Duration::from_secs(u64::MAX / 4),
            min_refetch: Duration::from_secs(60),
        }
    }

    /// Mints an access token for `subject`.
    pub fn mint(
        &self,
        audience: &str,
        subject: &str,
        groups: &[String],
        tenant: Option<&str>,
        email: Option<&str>,
        ttl: Duration,
    ) -> Result<String, DevIssuerError> {
        // A token's times are checked against the real clock by whoever validates it, and its
        // jti must be unique across processes: neither may come from a test's clock or ids.
        #[allow(clippy::disallowed_methods)]
        let (now, jti) = (
            time::OffsetDateTime::now_utc().unix_timestamp(),
            uuid::Uuid::new_v4(),
        );
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(3600);
        let claims = serde_json::json!({
            "iss": DEV_ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + ttl,
            "groups": groups, "tenant": tenant, "email": email, "jti": jti.to_string(),
        });
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_der(&self.pkcs8),
        )?)
    }
}
