//! An append-only JSON-lines file: one sealed event per line, written before `append` returns.
//!
//! The durable record is the state DB's outbox (committed with fsync before anything is
//! enforced); this file is a copy of it for tools and auditors. [`FileSync::EveryAppend`]
//! fsyncs each append on the request path; [`FileSync::Background`] (the default) writes each
//! append at once, so every reader sees it, and leaves the fsync to a thread of its own that
//! syncs whatever was written since its last pass. After a machine crash the file may lack its
//! last lines, or end in a torn one: opening cuts a torn tail, and the recorder catches the
//! file up from the outbox, so the file never has a gap either way.

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
    sync::{Arc, Condvar, Mutex},
};

/// When appended lines reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSync {
    /// Each append is fsynced before it returns.
    EveryAppend,
    /// Appends are written at once and fsynced by a background thread moments later.
    Background,
}

pub struct JsonlFileSink {
    path: PathBuf,
    state: Mutex<(File, HashMap<String, ChainHead>)>,
    syncer: Option<Syncer>,
}

impl JsonlFileSink {
    /// Opens (creating) the file with [`FileSync::EveryAppend`].
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_with(path, FileSync::EveryAppend)
    }

    /// Opens (creating) the file, cuts a torn last line, and reads the head of every chain
    /// already in it.
    pub fn open_with(path: &Path, sync: FileSync) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if path.exists() {
            cut_torn_tail(path)?;
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
        let syncer = match sync {
            FileSync::EveryAppend => None,
            FileSync::Background => Some(Syncer::start(file.try_clone()?, path)?),
        };
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new((file, heads)),
            syncer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A line written without its newline was never completed (the process or machine died in
/// the middle of it): it is cut, and the catch-up from the outbox writes the event again.
fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    if data.is_empty() || data.ends_with(b"\n") {
        return Ok(());
    }
    let keep = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(
        path = %path.display(),
        bytes = data.len() - keep,
        "the audit file ended in a torn line; it is cut and caught up from the outbox"
    );
    OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(keep as u64)
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// What the sync thread and the appenders share: whether there is something to sync, and
/// whether the sink is gone.
#[derive(Default)]
struct Pending {
    dirty: bool,
    stop: bool,
}

/// The thread that fsyncs the file off the request path (one `fdatasync` covers every append
/// since the previous one). Hand-written rather than a task: fsync blocks, and a thread of its
/// own keeps it off the async runtime's workers.
struct Syncer {
    shared: Arc<(Mutex<Pending>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(file: File, path: &Path) -> std::io::Result<Self> {
        let shared = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let theirs = shared.clone();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("audit-file-sync".into())
            .spawn(move || sync_loop(&file, &path, &theirs))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    fn written(&self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).dirty = true;
        cv.notify_one();
    }
}

fn sync_loop(file: &File, path: &Path, shared: &(Mutex<Pending>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        let mut p = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !p.dirty && !p.stop {
            p = cv.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        let (dirty, stop) = (p.dirty, p.stop);
        p.dirty = false;
        drop(p);
        if dirty {
            if let Err(e) = file.sync_data() {
                tracing::error!(path = %path.display(), error = %e, "fsync of the audit file failed; the outbox holds every event");
            }
        }
        if stop {
            return;
        }
    }
}

impl Drop for Syncer {
    /// The last appends reach the disk before the sink is gone.
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
        let written = match &self.syncer {
            None => file.write_all(&buf).and_then(|()| file.sync_data()),
            Some(_) => file.write_all(&buf),
        };
        written.map_err(|e| SinkError(Cause::context(self.path.display(), e)))?;
        for e in events {
            heads.insert(e.chainid.clone(), e.head());
        }
        drop(guard);
        if let Some(s) = &self.syncer {
            s.written();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_file;
    use airlock_gateway_domain::audit::NewEvent;

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut head = ChainHead::genesis();
        (0..n)
            .map(|i| {
                let e = AuditEvent::seal(
                    NewEvent::new("x", None, serde_json::json!({"i": i})),
                    &head,
                    "c",
                    "s",
                    format!("id{i}"),
                    "t".into(),
                );
                head = e.head();
                e
            })
            .collect()
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
    }

    #[tokio::test]
    async fn background_sync_writes_every_append_at_once_and_the_file_verifies() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.jsonl");
        let sink =
            JsonlFileSink::open_with(&path, FileSync::Background).unwrap_or_else(|e| panic!("{e}"));
        for (i, e) in chain(50).into_iter().enumerate() {
            sink.append(&[e]).await.unwrap_or_else(|e| panic!("{e}"));
            // A reader sees the line as soon as append returns, before any fsync.
            assert_eq!(lines(&path), i + 1);
        }
        drop(sink);
        assert!(verify_file(&path).map(|r| r.ok()).unwrap_or(false));
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_and_the_next_append_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.jsonl");
        let events = chain(3);
        let mut text = String::new();
        for e in &events[..2] {
            text.push_str(&serde_json::to_string(e).unwrap_or_default());
            text.push('\n');
        }
        // The machine died half-way through the third line.
        let third = serde_json::to_string(&events[2]).unwrap_or_default();
        text.push_str(&third[..third.len() / 2]);
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));

        let sink =
            JsonlFileSink::open_with(&path, FileSync::Background).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sink.head("c").await.ok().flatten(), Some(events[1].head()));
        sink.append(&events[2..])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        drop(sink);
        assert_eq!(lines(&path), 3);
        assert!(verify_file(&path).map(|r| r.ok()).unwrap_or(false));
    }
}
