use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
}

impl Principal {
    /// The stable owner key of resources: issuer and subject together, so two issuers can
    /// never collide on a subject.
    pub fn owner_key(&self) -> String {
        format!("{}\u{1f}{}", self.issuer, self.subject)
    }
}
