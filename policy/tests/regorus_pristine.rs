//! The vendored policy engine (`third_party/regorus`) is the checksummed crates.io release of
//! regorus 0.14.1 plus exactly the committed, reviewable patch `third_party/regorus/airlock.patch`:
//! the release archive is found in cargo's cache and checked against the checksum Cargo.lock
//! pins, and the diff between it and the vendored copy must be that patch, byte for byte. A file
//! changed without the patch saying so, or a file added, fails here.
//!
//! Regenerate the patch after changing the vendored copy (then review it):
//! `AIRLOCK_UPDATE_GENERATED=1 cargo test -p airlock-policy --test regorus_pristine`.
//! `deploy/check-regorus.sh` runs regorus's own test suite and lints on the patched copy.

use sha2::Digest;
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
};

const VERSION: &str = "0.14.1";
/// Ours, not the release's.
const OWN_FILES: &[&str] = &["PATCHES.md", "airlock.patch"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The checksum Cargo.lock pins for the released regorus.
fn locked_checksum() -> String {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap_or_default();
    let block = lock
        .split("[[package]]")
        .find(|b| {
            b.contains("name = \"regorus\"\n") && b.contains(&format!("version = \"{VERSION}\""))
        })
        .unwrap_or_else(|| panic!("Cargo.lock pins no regorus {VERSION}"));
    block
        .lines()
        .find_map(|l| l.strip_prefix("checksum = \""))
        .map(|c| c.trim_end_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no checksum for regorus {VERSION}"))
}

/// The release archive from cargo's cache (downloaded for the `regorus-upstream` dev-dependency).
fn release_crate() -> Vec<u8> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let cache = home.join("registry/cache");
    let file = format!("regorus-{VERSION}.crate");
    let found = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .flatten()
        .map(|d| d.path().join(&file))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{file} is not in {}; build the tests first",
                cache.display()
            )
        });
    std::fs::read(found).unwrap_or_else(|e| panic!("{e}"))
}

fn unpack(bytes: &[u8], into: &Path) {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive.unpack(into).unwrap_or_else(|e| panic!("{e}"));
}

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn diff(release: &Path, vendored: &Path, rel: &str) -> String {
    let out = Command::new("diff")
        .args([
            "-u",
            "--label",
            &format!("a/{rel}"),
            "--label",
            &format!("b/{rel}"),
        ])
        .arg(release.join(rel))
        .arg(vendored.join(rel))
        .output()
        .unwrap_or_else(|e| panic!("diff: {e}"));
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "diff failed on {rel}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_vendored_engine_is_the_release_plus_the_committed_patch() {
    let archive = release_crate();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&archive)),
        locked_checksum(),
        "the cached regorus {VERSION} archive does not match Cargo.lock's checksum"
    );
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    unpack(&archive, tmp.path());
    let release = tmp.path().join(format!("regorus-{VERSION}"));
    let vendored = repo().join("third_party/regorus");
    let mut patch = String::new();
    for rel in files(&vendored) {
        if OWN_FILES.contains(&rel.as_str()) {
            continue;
        }
        assert!(
            release.join(&rel).exists(),
            "third_party/regorus/{rel} is not in the release"
        );
        patch.push_str(&diff(&release, &vendored, &rel));
    }
    let committed_path = vendored.join("airlock.patch");
    if std::env::var_os("AIRLOCK_UPDATE_GENERATED").is_some() {
        std::fs::write(&committed_path, &patch).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let mut committed = String::new();
    let _ = std::fs::File::open(&committed_path).and_then(|mut f| f.read_to_string(&mut committed));
    assert!(
        committed == patch,
        "third_party/regorus differs from regorus {VERSION} by more or less than airlock.patch: review the change, then regenerate (see this file's header)"
    );
    // Every patched file is also named in PATCHES.md.
    let notes = std::fs::read_to_string(vendored.join("PATCHES.md")).unwrap_or_default();
    for line in patch.lines().filter_map(|l| l.strip_prefix("+++ b/")) {
        let name = line.rsplit('/').next().unwrap_or(line);
        assert!(
            notes.contains(name) || name == "Cargo.toml",
            "{line} is patched but PATCHES.md does not say so"
        );
    }
}
