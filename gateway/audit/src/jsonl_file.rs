//! An append-only JSON-lines file: one sealed event per line, fsynced before `append` returns.

use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead},
    ports::{AuditSink, SinkError},
};
use async_trait::async_trait;
use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

pub struct JsonlFileSink {
    path: PathBuf,
    state: Mutex<(File, HashMap<String, ChainHead>)>,
}

impl JsonlFileSink {
    /// Opens (creating) the file and reads the head of every chain already in it.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut heads = HashMap::new();
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                if let Ok(e) = serde_json::from_str::<AuditEvent>(&line?) {
                    heads.insert(e.chainid.clone(), e.head());
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        set_private(path);
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new((file, heads)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[async_trait]
impl AuditSink for JsonlFileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn head(&self, chain_id: &str) -> Result<Option<ChainHead>, SinkError> {
        let guard = self
            .state
            .lock()
            .map_err(|_| SinkError(Cause::msg("poisoned")))?;
        Ok(guard.1.get(chain_id).cloned())
    }

    async fn append(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let mut buf = Vec::with_capacity(events.len() * 512);
        for e in events {
            serde_json::to_writer(&mut buf, e).map_err(|e| SinkError(Cause::new(e)))?;
            buf.push(b'\n');
        }
        let mut guard = self
            .state
            .lock()
            .map_err(|_| SinkError(Cause::msg("poisoned")))?;
        let (file, heads) = &mut *guard;
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| SinkError(Cause::context(self.path.display(), e)))?;
        for e in events {
            heads.insert(e.chainid.clone(), e.head());
        }
        Ok(())
    }
}
