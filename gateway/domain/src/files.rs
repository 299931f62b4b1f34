use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A path inside a session workspace, validated: relative, normalised, no `..`, no control
/// characters, bounded length. Constructing one is the only way to name a workspace file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspacePath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is longer than {0} bytes")]
    TooLong(usize),
    #[error("absolute paths are not allowed")]
    Absolute,
    #[error("'..' and '.' components are not allowed")]
    Traversal,
    #[error("control characters (including NUL) are not allowed")]
    ControlCharacter,
    #[error("backslashes are not allowed")]
    Backslash,
    #[error("path components may not be empty")]
    EmptyComponent,
}

impl WorkspacePath {
    pub const MAX_LEN: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(PathError::TooLong(Self::MAX_LEN));
        }
        if s.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        if s.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if s.contains('\\') {
            return Err(PathError::Backslash);
        }
        for part in s.split('/') {
            match part {
                "" => return Err(PathError::EmptyComponent),
                "." | ".." => return Err(PathError::Traversal),
                _ => {}
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspacePath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<WorkspacePath> for String {
    fn from(p: WorkspacePath) -> String {
        p.0
    }
}

impl std::fmt::Display for WorkspacePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file in a session workspace as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    pub media_type: String,
}

/// The media type reported for a workspace file, from its extension.
pub fn media_type_for(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html",
        Some("txt" | "log" | "md") => "text/plain",
        Some("parquet") => "application/vnd.apache.parquet",
        Some("pdf") => "application/pdf",
        Some("py") => "text/x-python",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "sales.csv",
            "data/2024/q1.parquet",
            "a b.txt",
            "ünïcode.csv",
            "..hidden",
        ] {
            assert!(WorkspacePath::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_escapes_and_control_characters() {
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("../x", PathError::Traversal),
            ("a/../../x", PathError::Traversal),
            ("./x", PathError::Traversal),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
            ("a\\..\\b", PathError::Backslash),
            ("a//b", PathError::EmptyComponent),
            ("a/", PathError::EmptyComponent),
        ];
        for (input, want) in cases {
            assert_eq!(WorkspacePath::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(
            WorkspacePath::parse(&"a".repeat(2000)),
            Err(PathError::TooLong(WorkspacePath::MAX_LEN))
        );
    }
}
