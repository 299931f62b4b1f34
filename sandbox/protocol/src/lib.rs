//! The wire protocol between the gateway and the agent inside a sandbox.
//!
//! Transport: a Unix stream socket in the session directory (local backend) or TCP (Kubernetes
//! pod). Framing: 4-byte big-endian length-prefixed frames. Each connection carries one request:
//! the gateway sends an [`Envelope`] (JSON) frame, for `put_file` followed by raw data frames; the
//! agent answers with a stream of [`Event`] (JSON) frames, ending with a terminal event, for
//! `get_file` followed by raw data frames. Every envelope carries the per-session token, compared
//! in constant time, so the same agent can listen on TCP in a pod and accept only its gateway.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

pub const PROTOCOL_VERSION: u32 = 2;

/// The flags the agent starts ipykernel with (after `-m ipykernel_launcher -f <connection>`),
/// shared with the benchmarks' bare-kernel baselines so that they run the same kernel.
///
/// ipykernel's 0.5 ms sleep after each execution (`Kernel._execute_sleep`) is off: the agent
/// reads until the `idle` status, so the sleep is pure latency. A connection the code closed in
/// its last line may still be in flight through the egress relay when the execution ends; the
/// egress epoch gives such closing connections a grace to finish (gateway/egress/src/epoch.rs).
pub const KERNEL_FLAGS: &[&str] = &[
    "--IPKernelApp.log_level=ERROR",
    "--HistoryManager.enabled=False",
    "--Kernel._execute_sleep=0",
];
/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 8 << 20;
/// Size of the raw data frames of file transfers.
pub const DATA_CHUNK: usize = 1 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub token: String,
    pub request: Request,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Ping,
    Execute(ExecuteRequest),
    /// Followed by raw data frames adding up to `size` bytes.
    PutFile {
        path: String,
        size: u64,
    },
    GetFile {
        path: String,
        max_bytes: u64,
    },
    ListFiles,
    /// A warm-pool pod is claimed for a session: its start-up token (which only answers `ping`
    /// and `claim`) is replaced by the session's, once. Answered with `pong`.
    Claim {
        token: String,
    },
    /// The third-party top-level modules the runtime can import. Answered with `inventory`.
    Inventory,
    /// After an execution whose result is withheld: restart the kernel (its variables and
    /// loaded modules go) and remove `remove` (the files the execution wrote). Answered with
    /// `pong`.
    Quarantine {
        remove: Vec<String>,
    },
    /// Stops the running execution `execution_id` (interrupt, then a kernel restart if the
    /// interrupt does not bring it back; a process's group is killed). Its `execute` stream
    /// ends with `done` and `end: cancelled`. Answered with `pong`, also when that execution
    /// is no longer running (cancelling is idempotent).
    Cancel {
        execution_id: String,
    },
}

/// Where the agent's in-sandbox HTTP(S) proxy relays connections while an execution runs, when
/// the sandbox has no egress socket of its own (a pod): a gateway replica's egress port, and the
/// key that execution's connections present there (`AIRLOCK-EGRESS <key>\r\n` before the
/// proxied bytes). The key lives as long as the execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRoute {
    /// `host:port` of the gateway's egress listener.
    pub addr: String,
    pub key: String,
}

/// How the line an egress connection opens with at the gateway's egress listener starts.
pub const EGRESS_PREAMBLE_PREFIX: &str = "AIRLOCK-EGRESS ";

/// The line an egress connection opens with at the gateway's egress listener.
pub fn egress_preamble(key: &str) -> String {
    format!("{EGRESS_PREAMBLE_PREFIX}{key}\r\n")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub execution_id: String,
    /// `python`, `sql`, `bash` or `javascript`.
    pub language: String,
    pub code: String,
    pub timeout_ms: u64,
    /// stdout + stderr bytes kept; the rest is dropped and a marker appended.
    pub output_limit: u64,
    /// `name==version` to install from the package index before the code runs.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Where egress goes during this execution (pods); None: the agent's `--egress-socket`, or
    /// no egress at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_route: Option<EgressRoute>,
    /// Top-level modules the code may not load (the runtime's modules policy does not allow
    /// this execution); the import hook refuses them when the code asks for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_imports: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    Completed,
    Failed,
    TimedOut,
    /// The kernel process died (signal in `Done::signal`); it was restarted.
    KernelDied,
    /// The execution wrote past the workspace quota; the files it wrote were removed.
    QuotaExceeded,
    /// Stopped by a `cancel` request.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Pong {
        version: u32,
        kernel_ready: bool,
    },
    /// Printed output, sent while the execution runs (as the kernel or process flushes it).
    Stream {
        name: String,
        text: String,
    },
    /// A rich output, sent as it is displayed.
    Output {
        kind: String,
        data: BTreeMap<String, serde_json::Value>,
    },
    Error {
        name: String,
        value: String,
        traceback: Vec<String>,
    },
    Done {
        end: RunEnd,
        signal: Option<i32>,
        kernel_restarted: bool,
        output_truncated: bool,
        artifacts: Vec<FileEntry>,
        duration_ms: u64,
        /// Third-party top-level modules the code loaded or tried to load (refused ones too).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        imports: Vec<String>,
    },
    /// Answer to `inventory`.
    Inventory {
        modules: Vec<String>,
    },
    /// Answer to `put_file`.
    Written {
        file: FileEntry,
    },
    /// Answer to `get_file`; followed by raw data frames adding up to `size`.
    File {
        size: u64,
    },
    Files {
        files: Vec<FileEntry>,
    },
    /// The request failed as a whole.
    Failed {
        code: FailCode,
        message: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailCode {
    Unauthorized,
    BadRequest,
    NotFound,
    TooLarge,
    QuotaExceeded,
    Busy,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// A framed connection, generic over the transport.
pub struct Conn<T> {
    inner: Framed<T, LengthDelimitedCodec>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    pub fn new(io: T) -> Self {
        let codec = LengthDelimitedCodec::builder()
            .max_frame_length(MAX_FRAME)
            .new_codec();
        Self {
            inner: Framed::new(io, codec),
        }
    }

    pub async fn send_json<M: Serialize>(&mut self, msg: &M) -> Result<(), WireError> {
        let bytes = serde_json::to_vec(msg)?;
        self.inner.send(Bytes::from(bytes)).await?;
        Ok(())
    }

    pub async fn send_bytes(&mut self, data: Bytes) -> Result<(), WireError> {
        self.inner.send(data).await?;
        Ok(())
    }

    /// Sends `data` as raw data frames of at most [`DATA_CHUNK`] bytes.
    pub async fn send_data(&mut self, data: &[u8]) -> Result<(), WireError> {
        for chunk in data.chunks(DATA_CHUNK) {
            self.inner.feed(Bytes::copy_from_slice(chunk)).await?;
        }
        SinkExt::<Bytes>::flush(&mut self.inner).await?;
        Ok(())
    }

    pub async fn recv_frame(&mut self) -> Result<Bytes, WireError> {
        match self.inner.next().await {
            Some(Ok(b)) => Ok(b.freeze()),
            Some(Err(e)) => Err(WireError::Io(e)),
            None => Err(WireError::Closed),
        }
    }

    pub async fn recv_json<M: for<'de> Deserialize<'de>>(&mut self) -> Result<M, WireError> {
        let frame = self.recv_frame().await?;
        Ok(serde_json::from_slice(&frame)?)
    }

    /// Receives raw data frames adding up to exactly `size` bytes.
    pub async fn recv_data(&mut self, size: u64) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(usize::try_from(size.min(64 << 20)).unwrap_or(0));
        while (out.len() as u64) < size {
            let frame = self.recv_frame().await?;
            if out.len() as u64 + frame.len() as u64 > size {
                return Err(WireError::Io(std::io::Error::other(
                    "more data than announced",
                )));
            }
            out.extend_from_slice(&frame);
        }
        Ok(out)
    }
}

/// Frames decoded from `bytes` as a connection would (length-prefixed, at most [`MAX_FRAME`]),
/// until the bytes end or a frame is refused. For tests and fuzzing of the framing.
pub fn decode_frames(bytes: &[u8]) -> Vec<Result<Bytes, std::io::Error>> {
    use tokio_util::codec::Decoder;
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let mut buf = bytes::BytesMut::from(bytes);
    let mut out = vec![];
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => out.push(Ok(frame.freeze())),
            Ok(None) => break,
            Err(e) => {
                out.push(Err(e));
                break;
            }
        }
    }
    out
}

/// Constant-time comparison of tokens.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
        assert!(!token_matches("", ""));
    }

    #[tokio::test]
    async fn frames_round_trip_over_a_duplex() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (mut a, mut b) = (Conn::new(a), Conn::new(b));
        let env = Envelope {
            version: 1,
            token: "t".into(),
            request: Request::PutFile {
                path: "x".into(),
                size: 3_000_000,
            },
        };
        let data = vec![7u8; 3_000_000];
        let sender = tokio::spawn(async move {
            a.send_json(&env).await?;
            a.send_data(&data).await
        });
        let got: Envelope = b.recv_json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got.request,
            Request::PutFile {
                path: "x".into(),
                size: 3_000_000
            }
        );
        let bytes = b
            .recv_data(3_000_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(bytes.iter().all(|&x| x == 7) && bytes.len() == 3_000_000);
        assert!(sender.await.is_ok());
    }
}
