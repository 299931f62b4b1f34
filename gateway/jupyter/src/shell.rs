//! Requests on the shell and control channels. `execute_request` is an Airlock execution
//! (`execute.rs`); requests a kernel answers by running code of its own (completion,
//! inspection, widgets' comms, the debugger) are refused with an error reply, so nothing runs
//! unaudited; the rest (`kernel_info`, `is_complete`, `history`, `comm_info`) the gateway
//! answers itself without touching the kernel.

use crate::{
    channels::Conn,
    execute,
    wire::{reply_type, Channel, Incoming},
};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The shell requests of one connection, one after another. A cell that fails with
/// `stop_on_error` (the default) aborts the cells queued behind it, as a kernel does.
pub(crate) async fn serve(conn: Arc<Conn>, mut rx: mpsc::Receiver<Incoming>) {
    while let Some(m) = rx.recv().await {
        if conn.is_closed() {
            break;
        }
        if on_shell(&conn, &m).await == Outcome::StopQueue {
            while let Ok(queued) = rx.try_recv() {
                if queued.header.msg_type == "execute_request" {
                    execute::abort(&conn, &queued).await;
                } else {
                    on_shell(&conn, &queued).await;
                }
            }
        }
    }
}

#[derive(PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    /// A cell failed and asked the queue behind it to stop.
    StopQueue,
}

async fn on_shell(conn: &Conn, m: &Incoming) -> Outcome {
    if m.header.msg_type == "execute_request" {
        return execute::run(conn, m).await;
    }
    match m.header.msg_type.as_str() {
        "kernel_info_request" => answer(conn, m, Channel::Shell, kernel_info(conn)).await,
        "is_complete_request" => {
            answer(conn, m, Channel::Shell, json!({"status": "unknown"})).await;
        }
        "history_request" => {
            answer(
                conn,
                m,
                Channel::Shell,
                json!({"status": "ok", "history": []}),
            )
            .await;
        }
        "comm_info_request" => {
            answer(
                conn,
                m,
                Channel::Shell,
                json!({"status": "ok", "comms": {}}),
            )
            .await;
        }
        "complete_request" | "inspect_request" => {
            refuse(conn, m, Channel::Shell, "completion and inspection run code in the kernel outside a governed execution; Airlock does not offer them").await;
        }
        "comm_open" => refuse_comm(conn, m).await,
        // No comm is ever open, so there is nothing for these to reach.
        "comm_msg" | "comm_close" => {}
        "shutdown_request" | "interrupt_request" => control(conn, m.clone()).await,
        _ => refuse(conn, m, Channel::Shell, "unknown request type").await,
    }
    Outcome::Done
}

/// A control request, answered at once (while a cell may be running).
pub(crate) async fn control(conn: &Conn, m: Incoming) {
    match m.header.msg_type.as_str() {
        "kernel_info_request" => answer(conn, &m, Channel::Control, kernel_info(conn)).await,
        "interrupt_request" => {
            let content = match conn
                .shared
                .gateway
                .interrupt_session(&conn.principal, &conn.kernel)
                .await
            {
                Ok(_) => json!({"status": "ok"}),
                Err(e) => error_content(e.code.as_str(), &e.message),
            };
            answer(conn, &m, Channel::Control, content).await;
        }
        "shutdown_request" => shutdown(conn, &m).await,
        _ => {
            refuse(conn, &m, Channel::Control, "not available through Airlock (debugging and unknown control requests are refused)").await;
        }
    }
}

async fn shutdown(conn: &Conn, m: &Incoming) {
    let restart = m.content.get("restart").and_then(Value::as_bool) == Some(true);
    let g = &conn.shared.gateway;
    let done = if restart {
        g.restart_kernel(&conn.principal, &conn.kernel)
            .await
            .map(|_| ())
    } else {
        let _ = g.interrupt_session(&conn.principal, &conn.kernel).await;
        g.delete_session(&conn.principal, &conn.kernel)
            .await
            .map(|_| ())
    };
    let content = match done {
        Ok(()) => {
            if restart {
                conn.shared.kernels.reset_count(&conn.kernel);
            } else {
                conn.shared.kernels.forget(&conn.kernel);
            }
            json!({"status": "ok", "restart": restart})
        }
        Err(e) => error_content(e.code.as_str(), &e.message),
    };
    answer(conn, m, Channel::Control, content).await;
}

/// `status: busy`, the reply on `channel`, `status: idle`.
async fn answer(conn: &Conn, m: &Incoming, channel: Channel, content: Value) {
    let Some(reply) = reply_type(&m.header.msg_type) else {
        return;
    };
    conn.status(&m.header, "busy").await;
    conn.send(channel, &reply, &m.header, content).await;
    conn.status(&m.header, "idle").await;
}

async fn refuse(conn: &Conn, m: &Incoming, channel: Channel, why: &str) {
    let content = error_content(
        "NotSupported",
        &format!("{} is refused by Airlock: {why}", m.header.msg_type),
    );
    answer(conn, m, channel, content).await;
}

/// A comm the client opens is closed at once: widgets talk to code in the kernel outside any
/// execution.
async fn refuse_comm(conn: &Conn, m: &Incoming) {
    let comm_id = m.content.get("comm_id").cloned().unwrap_or(Value::Null);
    conn.iopub(
        "comm_close",
        &m.header,
        json!({"comm_id": comm_id, "data": {"error": "comms (widgets) are refused by Airlock: they run kernel code outside a governed execution"}}),
    )
    .await;
}

pub(crate) fn error_content(ename: &str, evalue: &str) -> Value {
    json!({"status": "error", "ename": ename, "evalue": evalue, "traceback": [format!("{ename}: {evalue}")]})
}

fn kernel_info(conn: &Conn) -> Value {
    let (name, mimetype, ext, lexer) = match conn.language.as_str() {
        "bash" => ("bash", "text/x-sh", ".sh", "bash"),
        "javascript" => ("javascript", "text/javascript", ".js", "javascript"),
        _ => ("python", "text/x-python", ".py", "ipython3"),
    };
    json!({
        "status": "ok",
        "protocol_version": crate::wire::PROTOCOL_VERSION,
        "implementation": "airlock",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": name,
            "version": "",
            "mimetype": mimetype,
            "file_extension": ext,
            "pygments_lexer": lexer,
            "codemirror_mode": name,
        },
        "banner": "Airlock: every cell is checked by policy, run in a sandbox and audited.",
        "help_links": [],
        "debugger": false,
    })
}
