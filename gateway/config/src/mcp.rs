//! `[mcp]`: the Model Context Protocol endpoint at `/mcp` for chat tools and agents.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mcp {
    /// Serve `/mcp` (and its OAuth protected-resource metadata).
    pub enabled: bool,
    /// The URL clients reach `/mcp` at, as the protected-resource metadata names it
    /// (`https://airlock.example.com/mcp`); default: `http://{server.listen}/mcp`.
    pub resource: Option<String>,
    /// `Host` header values accepted besides loopback (DNS rebinding protection): the host
    /// name of `resource` is added on its own.
    pub allowed_hosts: Vec<String>,
}

impl Default for Mcp {
    fn default() -> Self {
        Self {
            enabled: true,
            resource: None,
            allowed_hosts: vec![],
        }
    }
}

impl Mcp {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(r) = &self.resource {
            airlock_gateway_domain::urls::https_or_loopback(r)
                .map_err(|e| invalid("mcp.resource", e))?;
        }
        Ok(())
    }

    /// The resource URL for a gateway listening on `listen`.
    pub fn resource_for(&self, listen: &str) -> String {
        self.resource
            .clone()
            .unwrap_or_else(|| format!("http://{listen}/mcp"))
    }

    /// The accepted `Host` values besides loopback: the configured ones and `resource`'s host.
    pub fn hosts_for(&self, listen: &str) -> Vec<String> {
        let mut hosts = self.allowed_hosts.clone();
        let resource = self.resource_for(listen);
        if let Some(rest) = resource.split_once("://").map(|(_, r)| r) {
            let authority = rest.split('/').next().unwrap_or_default();
            hosts.push(authority.to_owned());
            if let Some((host, _port)) = authority.rsplit_once(':') {
                hosts.push(host.to_owned());
            }
        }
        hosts
    }
}
