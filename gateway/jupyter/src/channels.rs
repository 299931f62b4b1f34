//! The kernel websocket `/api/kernels/{id}/channels`. One task per connection reads frames:
//! shell requests go, in order, to the connection's shell task (an execution may take
//! minutes), control requests (interrupt, shutdown) are answered at once. A frame that is not
//! a message of the protocol closes the connection with a close code that says why; nothing a
//! client sends can reach the gateway's other connections.

use crate::{
    auth::caller_until,
    error::JupyterError,
    kernels::{language_of, Published},
    rest::kernel,
    shell,
    wire::{self, Channel, Header, Outgoing},
    Shared,
};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use airlock_gateway_domain::{ErrorCode, Language, Principal, SessionId};
use futures::StreamExt;
use serde_json::Value;
use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};
use time::format_description::well_known::Rfc3339;
use tokio::sync::{broadcast, mpsc, Mutex};

/// Shell requests a client may queue behind a running cell before the connection is closed.
const SHELL_QUEUE: usize = 64;
/// Open websockets one kernel may have (JupyterLab opens one per notebook or console on it).
const MAX_CONNECTIONS: u32 = 16;

/// One websocket connection to one kernel.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub principal: Principal,
    pub kernel: SessionId,
    pub language: Language,
    /// When the OIDC token the connection was opened with expires (Unix seconds).
    token_until: Option<i64>,
    out: Mutex<(Outgoing, actix_ws::Session)>,
    closed: AtomicBool,
    /// The kernel's `execution_count` (shared by its connections on this replica).
    count: Arc<AtomicU64>,
    /// This connection's number, and the kernel's iopub shared by its connections.
    id: u64,
    iopub: broadcast::Sender<Published>,
}

/// Connection numbers (to tell a connection its own iopub messages).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

impl Conn {
    /// Sends one message; false once the client is gone.
    pub async fn send(
        &self,
        channel: Channel,
        msg_type: &str,
        parent: &Header,
        content: Value,
    ) -> bool {
        let date = self
            .shared
            .gateway
            .now_for_api()
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut out = self.out.lock().await;
        let text = out
            .0
            .message(channel, msg_type, Some(parent), content, &date);
        // The kernel's other connections hear its iopub too (a copy only when there are some:
        // this connection's own subscription is one receiver).
        if channel == Channel::Iopub && self.iopub.receiver_count() > 1 {
            let _ = self.iopub.send((self.id, Arc::from(text.as_str())));
        }
        if out.1.text(text).await.is_err() {
            self.closed.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Relays the other connections' iopub messages to this one until it closes.
    async fn hear_others(self: Arc<Self>, mut rx: broadcast::Receiver<Published>) {
        loop {
            match rx.recv().await {
                Ok((from, text)) if from != self.id => {
                    let mut out = self.out.lock().await;
                    if out.1.text(text.to_string()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(kernel = %self.kernel, missed = n, "a slow kernel websocket missed iopub messages");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    pub async fn iopub(&self, msg_type: &str, parent: &Header, content: Value) -> bool {
        self.send(Channel::Iopub, msg_type, parent, content).await
    }

    /// `status: busy|idle` on iopub, as kernels publish around every request.
    pub async fn status(&self, parent: &Header, state: &str) {
        self.iopub(
            "status",
            parent,
            serde_json::json!({"execution_state": state}),
        )
        .await;
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The next cell's count (for a cell that is stored in history).
    pub fn next_count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Closes the connection with `code` and a reason the client can read.
    pub async fn close(&self, code: CloseCode, why: &str) {
        self.closed.store(true, Ordering::SeqCst);
        let ws = self.out.lock().await.1.clone();
        let reason = CloseReason {
            code,
            description: Some(why.chars().take(120).collect()),
        };
        if let Err(e) = ws.close(Some(reason)).await {
            tracing::debug!(error = %e, "closing a kernel websocket that was closed");
        }
    }
}

pub(crate) async fn connect(
    s: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, JupyterError> {
    let (mut p, token_until) = caller_until(&s, &req).await?;
    let session = kernel(&s, &p, &id).await?;
    if let Some(via) = p.via.as_mut() {
        via.session = Some(session.id.to_string());
    }
    let Some(with_others) = s.kernels.try_connect(&session.id, MAX_CONNECTIONS) else {
        return Err(JupyterError::new(
            ErrorCode::RateLimited,
            format!("a kernel takes at most {MAX_CONNECTIONS} websocket connections"),
        ));
    };
    let (response, ws, stream) = actix_ws::handle(&req, body).map_err(|e| {
        s.kernels.disconnect(&session.id);
        JupyterError::new(
            ErrorCode::InvalidRequest,
            format!("not a websocket upgrade: {e}"),
        )
    })?;
    let max = s.settings.max_message_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    let language = language_of(&s.kernels.spec(&session.id)).unwrap_or(Language::Python);
    let conn = Arc::new(Conn {
        shared: s.into_inner(),
        principal: p,
        kernel: session.id.clone(),
        language,
        token_until,
        out: Mutex::new((Outgoing::new(format!("airlock-{}", session.id)), ws)),
        closed: AtomicBool::new(false),
        count: with_others.count,
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        iopub: with_others.iopub,
    });
    actix_web::rt::spawn(serve(conn, stream));
    Ok(response)
}

async fn serve(conn: Arc<Conn>, mut stream: actix_ws::AggregatedMessageStream) {
    let (shell_tx, shell_rx) = mpsc::channel(SHELL_QUEUE);
    let shell_task = actix_web::rt::spawn(shell::serve(conn.clone(), shell_rx));
    let others = actix_web::rt::spawn(conn.clone().hear_others(conn.iopub.subscribe()));
    while let Some(frame) = stream.next().await {
        if let Err((code, why)) = on_frame(&conn, &shell_tx, frame).await {
            tracing::info!(kernel = %conn.kernel, code = ?code, reason = why.as_str(), "closing a kernel websocket");
            conn.close(code, &why).await;
            break;
        }
        if conn.is_closed() {
            break;
        }
    }
    conn.closed.store(true, Ordering::SeqCst);
    drop(shell_tx);
    // A running cell goes on (a kernel keeps running when its client goes, as Jupyter's do);
    // requests still queued are dropped unrun.
    let _ = shell_task.await;
    others.abort();
    conn.shared.kernels.disconnect(&conn.kernel);
}

type Refusal = (CloseCode, String);

async fn on_frame(
    conn: &Arc<Conn>,
    shell_tx: &mpsc::Sender<wire::Incoming>,
    frame: Result<AggregatedMessage, ProtocolError>,
) -> Result<(), Refusal> {
    let text = match frame {
        Ok(AggregatedMessage::Text(t)) => t,
        Ok(AggregatedMessage::Binary(_)) => return Err((
            CloseCode::Unsupported,
            "binary frames (the v1 kernel websocket subprotocol) are not supported; send JSON text"
                .into(),
        )),
        Ok(AggregatedMessage::Ping(b)) => {
            let mut ws = conn.out.lock().await.1.clone();
            let _ = ws.pong(&b).await;
            return Ok(());
        }
        Ok(AggregatedMessage::Pong(_)) => return Ok(()),
        Ok(AggregatedMessage::Close(_)) => {
            conn.closed.store(true, Ordering::SeqCst);
            return Ok(());
        }
        Err(ProtocolError::Overflow) => {
            return Err((CloseCode::Size, "message too large".into()));
        }
        Err(e) => {
            return Err((
                CloseCode::Protocol,
                format!("websocket protocol error: {e}"),
            ))
        }
    };
    let m = wire::parse(&text).map_err(|bad| match bad {
        wire::BadFrame::Malformed(e) => (CloseCode::Invalid, format!("not a Jupyter message: {e}")),
        wire::BadFrame::Invalid(field) => (CloseCode::Invalid, format!("bad {field}")),
    })?;
    // A key revoked (or expired) while the connection is open, or the OIDC token it was
    // opened with expired, stops it at the next message.
    if let Err(e) = conn
        .shared
        .gateway
        .recheck_access_key(&conn.principal)
        .await
    {
        return Err((CloseCode::Policy, e.message));
    }
    let now = conn.shared.gateway.now_for_api().unix_timestamp();
    if conn.token_until.is_some_and(|until| now >= until) {
        return Err((
            CloseCode::Policy,
            "the token has expired; reconnect with a fresh one".into(),
        ));
    }
    match m.channel {
        Channel::Shell => shell_tx.try_send(m).map_err(|_| {
            (
                CloseCode::Policy,
                format!("more than {SHELL_QUEUE} shell requests queued"),
            )
        }),
        Channel::Control => {
            shell::control(conn, m).await;
            Ok(())
        }
        // Kernels run with stdin off (`input()` raises in the cell): an input_reply answers
        // nothing and is dropped.
        Channel::Stdin => Ok(()),
        Channel::Iopub => Err((CloseCode::Policy, "clients do not send on iopub".into())),
    }
}
