//! `[jupyter]`: the Jupyter kernel gateway API (what Jupyter Server's `--gateway-url`, and chat
//! tools' and agent frameworks' Jupyter executors speak), and `[access_keys]`: the personal
//! access keys those tools hold as their one static credential.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jupyter {
    /// Serve the kernel gateway API under `base_path`.
    pub enabled: bool,
    /// Where the API is mounted: clients use `http://{host}{base_path}` as the gateway URL
    /// (its `/api/kernels` below it).
    pub base_path: String,
    /// Accept a credential in the websocket URL's `?token=` (a Jupyter convention for clients
    /// that cannot set headers on a websocket). Off by default: URLs end up in logs and
    /// browser histories; Airlock never logs it, but proxies in front may.
    pub allow_query_token: bool,
    /// The largest websocket message accepted (bytes); a cell larger than `limits.code_bytes`
    /// is refused by the pipeline anyway.
    pub max_message_bytes: usize,
}

impl Default for Jupyter {
    fn default() -> Self {
        Self {
            enabled: true,
            base_path: "/jupyter".into(),
            allow_query_token: false,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Jupyter {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.base_path;
        let segments_ok = p.split('/').skip(1).all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        if !p.starts_with('/') || p.ends_with('/') || !segments_ok {
            return Err(invalid(
                "jupyter.base_path",
                "a path like /jupyter: starts with /, no trailing /, letters, digits, - _ . only",
            ));
        }
        if p == "/v1"
            || p.starts_with("/v1/")
            || p == "/mcp"
            || p == "/console"
            || p.starts_with("/console/")
        {
            return Err(invalid(
                "jupyter.base_path",
                "clashes with the REST API, /mcp or /console",
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(invalid("jupyter.max_message_bytes", "at least 1024"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessKeys {
    /// Let signed-in users mint keys (`POST /v1/access-keys`) and tools present them.
    pub enabled: bool,
    /// The longest life of a key, in days (and the default).
    pub max_days: u32,
    /// Unrevoked, unexpired keys one principal may hold.
    pub max_per_principal: u32,
}

impl Default for AccessKeys {
    fn default() -> Self {
        Self {
            enabled: true,
            max_days: 90,
            max_per_principal: 20,
        }
    }
}

impl AccessKeys {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_days == 0 || self.max_days > 3_650 {
            return Err(invalid("access_keys.max_days", "from 1 to 3650"));
        }
        if self.max_per_principal == 0 {
            return Err(invalid("access_keys.max_per_principal", "at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_path(p: &str) -> Jupyter {
        Jupyter {
            base_path: p.into(),
            ..Jupyter::default()
        }
    }

    #[test]
    fn a_base_path_is_one_clean_path_that_clashes_with_nothing() {
        for good in ["/jupyter", "/kg/v2", "/a-b_c.d"] {
            assert!(with_path(good).validate().is_ok(), "{good}");
        }
        for bad in [
            "jupyter",
            "/jupyter/",
            "/",
            "/a//b",
            "/a/../b",
            "/v1",
            "/v1/x",
            "/mcp",
            "/a b",
        ] {
            let e = with_path(bad).validate().err().map(|e| e.to_string());
            assert!(
                e.as_deref()
                    .is_some_and(|m| m.contains("jupyter.base_path")),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn key_lifetimes_and_counts_are_bounded() {
        let keys = |max_days, max_per_principal| AccessKeys {
            enabled: true,
            max_days,
            max_per_principal,
        };
        assert!(keys(90, 20).validate().is_ok());
        assert!(keys(0, 20).validate().is_err());
        assert!(keys(4000, 20).validate().is_err());
        assert!(keys(90, 0).validate().is_err());
    }
}
