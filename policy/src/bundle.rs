use std::path::{Path, PathBuf};

/// The files of a policy bundle, read into memory.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub revision: String,
    pub roots: Vec<String>,
    /// (path relative to the bundle root, Rego source)
    pub modules: Vec<(String, String)>,
    pub data: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Rego { path: String, message: String },
    #[error("the bundle has no .rego files")]
    Empty,
    #[error("the bundle does not define data.airlock.decision.decision")]
    NoEntryPoint,
    #[error("{path}: calls {builtin}, which this engine cannot honour")]
    UnsupportedBuiltin { path: String, builtin: String },
    #[error("bundle archive: {0}")]
    Archive(String),
    #[error("bundle signature: {0}")]
    Signature(String),
    #[error("fetching the bundle: {0}")]
    Fetch(String),
    #[error("bundle revision {offered:?} is older than {active:?}, already active: refused (anti-rollback; publish a new revision to roll back)")]
    Rollback { offered: String, active: String },
}

macro_rules! embedded {
    ($($p:literal),* $(,)?) => { &[$(($p, include_str!(concat!("../bundle/", $p)))),*] };
}

/// The default bundle shipped in the binary.
const EMBEDDED: &[(&str, &str)] = embedded![
    ".manifest",
    "data.json",
    "airlock/common/common.rego",
    "airlock/common/common_test.rego",
    "airlock/connectors/connectors.rego",
    "airlock/connectors/connectors_test.rego",
    "airlock/decision/decision.rego",
    "airlock/decision/decision_test.rego",
    "airlock/egress/egress.rego",
    "airlock/egress/egress_test.rego",
    "airlock/execution/execution.rego",
    "airlock/execution/execution_test.rego",
    "airlock/files/files.rego",
    "airlock/hints/hints.rego",
    "airlock/hints/hints_test.rego",
    "airlock/imports/imports.rego",
    "airlock/imports/imports_test.rego",
    "airlock/outputs/outputs.rego",
    "airlock/outputs/outputs_test.rego",
    "airlock/install/install.rego",
    "airlock/install/install_test.rego",
    "airlock/files/files_test.rego",
    "airlock/review/review.rego",
    "airlock/review/review_test.rego",
    "airlock/scopes/scopes.rego",
    "airlock/scopes/scopes_test.rego",
    "airlock/sessions/sessions.rego",
    "airlock/sessions/sessions_test.rego",
];

/// Builtins that regorus answers with undefined or that reach outside the process.
const UNSUPPORTED_BUILTINS: &[&str] = &[
    "http.send",
    "net.lookup_ip_addr",
    "opa.runtime",
    "rego.parse_module",
];

impl Bundle {
    pub fn embedded() -> Result<Self, LoadError> {
        Self::from_files(
            EMBEDDED
                .iter()
                .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
                .collect(),
        )
    }

    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::from_raw(read_dir_raw(dir)?)
    }

    /// Parses raw bundle files (from a directory or an archive, after signature checks).
    pub fn from_raw(files: Vec<(String, Vec<u8>)>) -> Result<Self, LoadError> {
        let mut text = Vec::with_capacity(files.len());
        for (path, bytes) in files {
            let keep =
                path.ends_with(".rego") || path.ends_with("data.json") || path == ".manifest";
            if !keep {
                continue;
            }
            let t = String::from_utf8(bytes).map_err(|_| LoadError::Rego {
                path: path.clone(),
                message: "not UTF-8".into(),
            })?;
            text.push((path, t));
        }
        text.sort();
        Self::from_files(text)
    }

    fn from_files(files: Vec<(String, String)>) -> Result<Self, LoadError> {
        let mut b = Bundle {
            revision: String::new(),
            roots: vec![],
            modules: vec![],
            data: serde_json::json!({}),
        };
        for (path, text) in files {
            if path == ".manifest" {
                let m: serde_json::Value =
                    serde_json::from_str(&text).map_err(|source| LoadError::Json {
                        path: path.clone(),
                        source,
                    })?;
                b.revision = m
                    .get("revision")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default()
                    .to_owned();
                b.roots = m
                    .get("roots")
                    .and_then(|r| r.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
            } else if path.ends_with("data.json") {
                let d: serde_json::Value =
                    serde_json::from_str(&text).map_err(|source| LoadError::Json {
                        path: path.clone(),
                        source,
                    })?;
                merge_at(&mut b.data, &path, d);
            } else {
                for builtin in UNSUPPORTED_BUILTINS {
                    if text.contains(&format!("{builtin}(")) {
                        return Err(LoadError::UnsupportedBuiltin {
                            path,
                            builtin: (*builtin).to_owned(),
                        });
                    }
                }
                b.modules.push((path, text));
            }
        }
        if b.modules.is_empty() {
            return Err(LoadError::Empty);
        }
        if b.revision.is_empty() {
            b.revision = "unversioned".into();
        }
        Ok(b)
    }

    /// A regorus engine with this bundle's data and its policies (and tests, if asked).
    pub(crate) fn engine(&self, with_tests: bool) -> Result<regorus::Engine, LoadError> {
        let mut engine = regorus::Engine::new();
        for (path, text) in self
            .modules
            .iter()
            .filter(|(p, _)| with_tests || !p.ends_with("_test.rego"))
        {
            engine
                .add_policy(path.clone(), text.clone())
                .map_err(|e| LoadError::Rego {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
        let data_err = |e: anyhow::Error| LoadError::Rego {
            path: "data.json".into(),
            message: e.to_string(),
        };
        let data = regorus::Value::from_json_str(&self.data.to_string()).map_err(data_err)?;
        engine.add_data(data).map_err(data_err)?;
        Ok(engine)
    }

    /// The policy modules without the tests.
    pub fn policies(&self) -> impl Iterator<Item = &(String, String)> {
        self.modules
            .iter()
            .filter(|(p, _)| !p.ends_with("_test.rego"))
    }
}

/// Every file below `dir` (relative path, bytes), sorted by path.
pub fn read_dir_raw(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| LoadError::Io {
            path: d.clone(),
            source,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).map_err(|source| LoadError::Io {
                path: p.clone(),
                source,
            })?;
            files.push((rel, bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// A `data.json` in a sub-folder is mounted at that folder's path, as OPA does.
fn merge_at(root: &mut serde_json::Value, path: &str, data: serde_json::Value) {
    let mut target = root;
    let dirs: Vec<&str> = path.split('/').collect();
    for d in &dirs[..dirs.len() - 1] {
        if !target.get(*d).is_some_and(serde_json::Value::is_object) {
            target[*d] = serde_json::json!({});
        }
        target = &mut target[*d];
    }
    if let (Some(t), serde_json::Value::Object(src)) = (target.as_object_mut(), data) {
        t.extend(src);
    }
}
