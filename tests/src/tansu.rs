//! A real Kafka-protocol broker (tansu, from crates.io) on 127.0.0.1, shared by the audit
//! tests and the benchmark.

use crate::KillOnDrop;
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The installed broker (`AIRLOCK_TEST_TANSU`, else `$CARGO_HOME/bin/tansu`), if any.
pub fn installed() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AIRLOCK_TEST_TANSU") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let p = home.join("bin/tansu");
    p.exists().then_some(p)
}

fn tansu_bin() -> PathBuf {
    installed().unwrap_or_else(|| {
        panic!(
            "the Kafka broker is not installed: run deploy/install-kafka-broker.sh (.ci/run does)"
        )
    })
}

/// One broker with a SQLite log in its own directory; stop and start keep the log.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<KillOnDrop>,
}

impl Broker {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("airlock-kafka-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut b = Self {
            port: free_port(),
            dir,
            child: None,
        };
        b.resume();
        b
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker again on the same port with the same log.
    pub fn resume(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // tansu reads the path of a sqlite:// URL relative to its working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting tansu: {e}"));
        self.child = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tansu did not listen on {}", self.port);
    }

    /// Stops the broker (SIGKILL: it gets no chance to tidy up).
    pub fn stop(&mut self) {
        self.child = None;
    }
}
