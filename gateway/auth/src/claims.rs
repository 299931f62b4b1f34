use airlock_gateway_domain::{ErrorCode, GatewayError, Principal};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        })
    }
}
