//! The underlying failure of an adapter, kept as the `source` of a port error, so that a log
//! line shows the whole chain (`sqlx` -> the store, `io` -> the sandbox) while callers match on
//! the port's own variants.

use std::{error::Error, fmt};

type Boxed = Box<dyn Error + Send + Sync + 'static>;

#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Boxed>,
}

impl Cause {
    /// An adapter's error, kept whole.
    pub fn new(e: impl Error + Send + Sync + 'static) -> Self {
        Self {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// An error already boxed (what `anyhow::Error` converts into).
    pub fn boxed(e: Boxed) -> Self {
        Self {
            message: e.to_string(),
            source: Some(e),
        }
    }

    /// An adapter's error with what was being done: `"{context}: {e}"`.
    pub fn context(context: impl fmt::Display, e: impl Error + Send + Sync + 'static) -> Self {
        Self {
            message: format!("{context}: {e}"),
            source: Some(Box::new(e)),
        }
    }

    /// A failure the adapter found itself (no underlying error).
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::msg(message)
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::msg(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_chain_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such socket");
        let c = Cause::context("connecting to the agent", io);
        assert_eq!(c.to_string(), "connecting to the agent: no such socket");
        let src = c.source().map(ToString::to_string);
        assert_eq!(src.as_deref(), Some("no such socket"));
        assert!(Cause::msg("plain").source().is_none());
    }
}
