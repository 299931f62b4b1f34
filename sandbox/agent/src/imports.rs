//! The agent's side of import governance (the hook itself is `airlock/_imports.py`, loaded by
//! the runtime's sitecustomize in every Python of the sandbox): the runtime's inventory of
//! importable third-party modules, the per-execution list of refused ones, and the log of what
//! the code loaded or tried to load.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const DIR: &str = "/tmp/.airlock";
const DENIED: &str = "/tmp/.airlock/denied-imports";
const LOG: &str = "/tmp/.airlock/imports.log";
/// Most of the log read back (a flood of imports is cut, not a memory problem).
const MAX_LOG: u64 = 1 << 20;

/// Whether `name` could be a Python top-level module name.
fn module_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name.len() <= 128
}

/// The site-packages directories of the runtime whose interpreter is `python`
/// (`<runtime>/bin/python3` -> `<runtime>/lib/python3.*/site-packages`).
fn site_packages(python: &Path) -> Vec<PathBuf> {
    let Some(runtime) = python.parent().and_then(Path::parent) else {
        return vec![];
    };
    let mut out = vec![];
    for lib in ["lib", "lib64"] {
        let Ok(rd) = std::fs::read_dir(runtime.join(lib)) else {
            continue;
        };
        for e in rd.flatten() {
            let site = e.path().join("site-packages");
            if e.file_name().to_string_lossy().starts_with("python") && site.is_dir() {
                out.push(site);
            }
        }
    }
    out
}

/// Top-level importable names in one directory: packages, modules and extension modules.
fn top_level_names(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return names;
    };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if file.ends_with(".dist-info") || file.ends_with(".egg-info") || file == "__pycache__" {
            continue;
        }
        let stem = if e.path().is_dir() {
            file.clone()
        } else if file.ends_with(".py") || file.ends_with(".so") || file.ends_with(".pyc") {
            file.split('.').next().unwrap_or_default().to_owned()
        } else {
            continue;
        };
        if module_name(&stem) {
            names.insert(stem);
        }
    }
    names
}

/// The runtime's importable third-party top-level modules (Airlock's own helpers excluded).
pub fn inventory(python: &Path) -> Vec<String> {
    let mut all = BTreeSet::new();
    for site in site_packages(python) {
        all.extend(top_level_names(&site));
    }
    for own in ["airlock", "sitecustomize"] {
        all.remove(own);
    }
    all.into_iter().collect()
}

/// Before an execution: the modules refused to it, and an empty log.
pub fn prepare(denied: &[String]) {
    let _ = std::fs::create_dir_all(DIR);
    let wanted: String = denied
        .iter()
        .filter(|m| module_name(m))
        .map(|m| format!("{m}\n"))
        .collect();
    // Rewritten only on change: the hook re-reads it when its mtime moves.
    if std::fs::read_to_string(DENIED).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::write(DENIED, wanted);
    }
    let _ = std::fs::write(LOG, "");
}

/// After an execution: every module the code was refused, and every installed module it loaded
/// (`python` the runtime, `extra` another directory of installed packages), deduplicated. A
/// name that is installed nowhere was only an attempt that failed by itself (optional imports
/// of extension modules look like the code's own): it computed nothing and is left out.
pub fn collect(python: &Path, extra: &Path) -> Vec<String> {
    use std::io::Read;
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(LOG) {
        let _ = f.take(MAX_LOG).read_to_string(&mut text);
    }
    let _ = std::fs::write(LOG, "");
    let mut installed: Option<BTreeSet<String>> = None;
    let mut out = BTreeSet::new();
    for (kind, module) in text.lines().filter_map(|l| l.split_once(' ')) {
        let module = module.trim();
        if !module_name(module) {
            continue;
        }
        let keep = kind == "blocked"
            || installed
                .get_or_insert_with(|| {
                    let mut all: BTreeSet<String> = inventory(python).into_iter().collect();
                    all.extend(top_level_names(extra));
                    all
                })
                .contains(module);
        if keep {
            out.insert(module.to_owned());
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_lists_importable_top_level_names_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let site = dir.path().join("lib/python3.11/site-packages");
        for d in [
            "numpy",
            "requests",
            "numpy-2.2.6.dist-info",
            "__pycache__",
            "airlock",
        ] {
            std::fs::create_dir_all(site.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        for f in [
            "six.py",
            "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
            "x.pth",
            "bad-name.py",
        ] {
            std::fs::write(site.join(f), "").unwrap_or_else(|e| panic!("{e}"));
        }
        let python = dir.path().join("bin/python3");
        assert_eq!(
            inventory(&python),
            ["_cffi_backend", "numpy", "requests", "six"]
        );
        assert!(
            module_name("numpy") && !module_name("a b") && !module_name("1x") && !module_name("")
        );
    }
}
