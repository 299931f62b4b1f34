//! Client side of the sandbox protocol over the session's Unix socket.

use airlock_gateway_domain::ports::SandboxError;
use airlock_sandbox_protocol::{Conn, Envelope, Event, FailCode, Request, PROTOCOL_VERSION};
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

pub struct AgentClient {
    socket: PathBuf,
    token: String,
}

impl AgentClient {
    pub fn new(socket: &Path, token: String) -> Self {
        Self {
            socket: socket.to_owned(),
            token,
        }
    }

    /// Opens a connection and sends the request envelope.
    pub async fn open(&self, request: Request) -> Result<Conn<UnixStream>, SandboxError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| SandboxError::Gone(format!("agent socket: {e}")))?;
        let mut conn = Conn::new(stream);
        let env = Envelope {
            version: PROTOCOL_VERSION,
            token: self.token.clone(),
            request,
        };
        conn.send_json(&env).await.map_err(wire)?;
        Ok(conn)
    }

    pub async fn ping(&self) -> Result<bool, SandboxError> {
        let mut conn = self.open(Request::Ping).await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Pong { kernel_ready, .. } => Ok(kernel_ready),
            other => Err(unexpected(other)),
        }
    }
}

pub fn wire(e: airlock_sandbox_protocol::WireError) -> SandboxError {
    SandboxError::Agent(e.to_string())
}

pub fn unexpected(e: Event) -> SandboxError {
    match e {
        Event::Failed {
            code: FailCode::NotFound,
            ..
        } => SandboxError::FileNotFound,
        Event::Failed {
            code: FailCode::QuotaExceeded,
            message,
        } => SandboxError::Quota(message),
        Event::Failed { message, .. } => SandboxError::Agent(message),
        other => SandboxError::Agent(format!("unexpected agent event {other:?}")),
    }
}
