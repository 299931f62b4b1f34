//! `[sessions]` (their life and caps) and `[executions]` (caps on running executions). A cap
//! of zero is off; a principal's policy profile may set lower caps (`max_sessions`,
//! `max_running_executions`).

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    pub ttl_seconds: u64,
    pub idle_timeout_seconds: u64,
    /// Live sessions of one principal, of one tenant (all its principals; 0: no cap), and of
    /// the gateway.
    pub max_per_principal: u32,
    pub max_per_tenant: u32,
    pub max_total: u32,
    pub sweep_interval_seconds: u64,
    /// How long a finished execution's events stay for followers to replay and resume
    /// (`Last-Event-ID`); after that a follower gets the result event alone.
    pub stream_retention_seconds: u64,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            ttl_seconds: 8 * 3600,
            idle_timeout_seconds: 3600,
            max_per_principal: 10,
            max_per_tenant: 0,
            max_total: 150,
            sweep_interval_seconds: 15,
            stream_retention_seconds: 600,
        }
    }
}

impl Sessions {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (k, v) in [
            ("ttl_seconds", self.ttl_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
            ("sweep_interval_seconds", self.sweep_interval_seconds),
        ] {
            if v == 0 {
                return Err(invalid(&format!("sessions.{k}"), "must be greater than 0"));
            }
        }
        if self.max_per_principal == 0 || self.max_total == 0 {
            return Err(invalid(
                "sessions.max_total",
                "session limits must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Executions running at once (each session runs one at a time, so a principal runs at most
/// `sessions.max_per_principal`; these cap them across sessions). Past a cap a request is
/// `429 too_many_executions` with `Retry-After`. Zero: no cap of its own.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Executions {
    pub max_running_per_principal: u32,
    pub max_running_per_tenant: u32,
    pub max_running_total: u32,
}
