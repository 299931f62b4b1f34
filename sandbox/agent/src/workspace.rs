//! The session workspace as the agent sees it: listing with hashes, snapshots for artifact
//! detection, safe reads and writes, the quota.

use airlock_sandbox_protocol::FileEntry;
use sha2::{Digest, Sha256};
use std::{
    collections::BTreeMap,
    io::Read,
    path::{Component, Path, PathBuf},
    time::SystemTime,
};

/// Walks at most this many entries (a runaway `touch` loop must not stall the agent).
const MAX_ENTRIES: usize = 20_000;

pub type Snapshot = BTreeMap<String, (u64, SystemTime)>;

pub struct Workspace {
    pub root: PathBuf,
    pub quota_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("invalid path")]
    BadPath,
    #[error("not found")]
    NotFound,
    #[error("file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("workspace quota of {0} bytes exceeded")]
    Quota(u64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Workspace {
    /// Resolves a relative path; refuses anything that is not plain components. The gateway
    /// validates too; this is the second check.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, WsError> {
        let p = Path::new(rel);
        if rel.is_empty()
            || rel.chars().any(char::is_control)
            || !p.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(WsError::BadPath);
        }
        Ok(self.root.join(p))
    }

    /// Every regular file (symlinks are not followed), with size and mtime.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot::new();
        let mut stack = vec![self.root.clone()];
        let mut seen = 0usize;
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in rd.flatten() {
                seen += 1;
                if seen > MAX_ENTRIES {
                    return out;
                }
                let Ok(meta) = entry.path().symlink_metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if meta.is_file() {
                    if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        out.insert(rel.to_string_lossy().into_owned(), (meta.len(), mtime));
                    }
                }
            }
        }
        out
    }

    pub fn usage(&self) -> u64 {
        self.snapshot().values().map(|(s, _)| s).sum()
    }

    pub fn entry(&self, rel: &str, size: u64) -> FileEntry {
        FileEntry {
            path: rel.to_owned(),
            size,
            sha256: self.hash(rel).unwrap_or_default(),
        }
    }

    fn hash(&self, rel: &str) -> Result<String, WsError> {
        let mut f = std::fs::File::open(self.resolve(rel)?)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    }

    pub fn list(&self) -> Vec<FileEntry> {
        self.snapshot()
            .into_iter()
            .map(|(p, (s, _))| self.entry(&p, s))
            .collect()
    }

    /// Files new or changed since `before`.
    pub fn changed_since(&self, before: &Snapshot) -> Vec<FileEntry> {
        self.snapshot()
            .into_iter()
            .filter(|(p, meta)| before.get(p) != Some(meta))
            .map(|(p, (s, _))| self.entry(&p, s))
            .collect()
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> Result<FileEntry, WsError> {
        let path = self.resolve(rel)?;
        let existing = path
            .symlink_metadata()
            .map(|m| if m.is_file() { m.len() } else { 0 })
            .unwrap_or(0);
        if self.usage() - existing.min(self.usage()) + data.len() as u64 > self.quota_bytes {
            return Err(WsError::Quota(self.quota_bytes));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if path
            .symlink_metadata()
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
        {
            std::fs::remove_file(&path)?;
        }
        let tmp = path.with_file_name(format!(".airlock-upload-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, &path)?;
        Ok(self.entry(rel, data.len() as u64))
    }

    /// Reads a regular file reached without symlinks.
    pub fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, WsError> {
        let path = self.resolve(rel)?;
        let mut cur = self.root.clone();
        for comp in Path::new(rel).components() {
            cur.push(comp);
            match cur.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => return Err(WsError::NotFound),
                Ok(_) => {}
                Err(_) => return Err(WsError::NotFound),
            }
        }
        let meta = path.symlink_metadata().map_err(|_| WsError::NotFound)?;
        if !meta.is_file() {
            return Err(WsError::NotFound);
        }
        if meta.len() > max {
            return Err(WsError::TooLarge(max));
        }
        Ok(std::fs::read(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = Workspace {
            root: d.path().to_path_buf(),
            quota_bytes: 100,
        };
        (d, w)
    }

    #[test]
    fn write_list_read_and_quota() {
        let (_d, w) = ws();
        let e = w
            .write("a/b.txt", b"hello")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.size, 5);
        assert_eq!(
            e.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(w.read("a/b.txt", 10).ok(), Some(b"hello".to_vec()));
        assert!(matches!(w.read("a/b.txt", 2), Err(WsError::TooLarge(2))));
        assert!(matches!(
            w.write("big", &[0u8; 200]),
            Err(WsError::Quota(100))
        ));
        assert!(matches!(w.resolve("../x"), Err(WsError::BadPath)));
        assert!(matches!(w.resolve("/etc/passwd"), Err(WsError::BadPath)));
        assert_eq!(w.list().len(), 1);
    }

    #[test]
    fn symlinks_are_not_followed_on_read() {
        let (_d, w) = ws();
        let target = w.root.join("link");
        std::os::unix::fs::symlink("/etc/hostname", &target).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(w.read("link", 1000), Err(WsError::NotFound)));
        assert!(w.list().is_empty());
    }

    #[test]
    fn changed_since_reports_new_and_modified() {
        let (_d, w) = ws();
        let _ = w.write("a", b"1");
        let before = w.snapshot();
        let _ = w.write("b", b"2");
        let changed: Vec<String> = w
            .changed_since(&before)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(changed, vec!["b".to_string()]);
    }
}
