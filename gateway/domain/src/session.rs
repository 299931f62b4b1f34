use crate::{ids::SessionId, limits::Limits, principal::Principal};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Sandbox running, accepting executions.
    Active,
    /// Deleted by its owner; sandbox destroyed, workspace wiped.
    Deleted,
    /// TTL or idle timeout passed; sandbox destroyed, workspace wiped.
    Expired,
    /// The sandbox was lost (gateway restart, sandbox crash); its state is gone.
    Lost,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleted => "deleted",
            Self::Expired => "expired",
            Self::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "deleted" => Self::Deleted,
            "expired" => Self::Expired,
            "lost" => Self::Lost,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub owner: Principal,
    pub status: SessionStatus,
    /// Why the session is no longer active, for a caller that asks.
    pub status_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_active_at: OffsetDateTime,
    pub limits: Limits,
    /// Data labels the session has accumulated (file classifications, later connectors).
    pub labels: Vec<String>,
    /// Which gateway instance runs its sandbox.
    pub instance_id: String,
}
