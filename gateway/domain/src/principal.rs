use crate::error::{ErrorCode, GatewayError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The authenticated caller, mapped from verified token claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Principal {
    pub issuer: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The channel the call came through when it is not the REST API (an MCP client and its
    /// session): audited, and visible to policy. Never part of the owner key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Channel>,
}

/// How the call came, when not the REST API with an OIDC token: `mcp` with the client's name
/// and version, as it introduced itself, and the MCP session; `jupyter` (the kernel gateway
/// API) with the kernel; and the personal access key the caller presented, on any protocol
/// (`rest` when that is all that differs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Channel {
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The id of the personal access key that authenticated the call (never its secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Channel {
    pub fn new(protocol: &str) -> Self {
        Self {
            protocol: protocol.to_owned(),
            client: None,
            session: None,
            key: None,
        }
    }
}

impl Principal {
    /// The stable owner key of resources: issuer and subject together, so two issuers can
    /// never collide on a subject.
    pub fn owner_key(&self) -> String {
        format!("{}\u{1f}{}", self.issuer, self.subject)
    }
}

/// Which claims carry the principal's attributes. Dotted names reach into nested objects
/// (`realm_access.roles` for Keycloak).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub subject: String,
    pub email: String,
    pub groups: String,
    pub tenant: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            groups: "groups".into(),
            tenant: "tenant".into(),
        }
    }
}

fn lookup<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

impl ClaimMapping {
    pub fn principal(&self, issuer: &str, claims: &Value) -> Result<Principal, GatewayError> {
        let subject = lookup(claims, &self.subject)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                GatewayError::new(
                    ErrorCode::InvalidClaims,
                    format!("the subject claim {:?} is missing", self.subject),
                )
            })?;
        let groups = match lookup(claims, &self.groups) {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                return Err(GatewayError::new(
                    ErrorCode::InvalidClaims,
                    format!("the groups claim {:?} is not a list", self.groups),
                ))
            }
        };
        let text = |path: &str| {
            lookup(claims, path)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Principal {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            email: text(&self.email),
            groups,
            tenant: text(&self.tenant),
            via: None,
        })
    }
}
