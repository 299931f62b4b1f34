//! A Jupyter kernel websocket client as JupyterLab and agent frameworks use it: JSON text
//! frames of messaging protocol v5, one connection per kernel, with an `Authorization`
//! header. Blocking (tungstenite), like the rest of the end-to-end tests; the benchmark
//! drives Airlock's and Jupyter Kernel Gateway's websockets with it too.

use serde_json::{json, Value};
use std::{
    net::TcpStream,
    time::{Duration, Instant},
};
use tungstenite::{client::IntoClientRequest, stream::MaybeTlsStream, Message, WebSocket};

pub struct KernelSocket {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    n: u64,
}

/// How a connection attempt or a connection ended.
#[derive(Debug)]
pub enum Refused {
    /// The HTTP status of a refused upgrade.
    Status(u16),
    /// The close code and reason of a closed connection.
    Closed(u16, String),
    // Read through `Debug` in assertion messages.
    #[allow(dead_code)]
    Other(String),
}

/// One cell's messages: the reply and what iopub carried, each with when it arrived.
#[derive(Debug)]
pub struct Cell {
    pub reply: Value,
    pub iopub: Vec<(Instant, Value)>,
}

impl Cell {
    pub fn stdout(&self) -> String {
        self.of_type("stream")
            .filter(|m| m["content"]["name"] == "stdout")
            .filter_map(|m| m["content"]["text"].as_str())
            .collect()
    }

    pub fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.iopub
            .iter()
            .map(|(_, m)| m)
            .filter(move |m| m["header"]["msg_type"] == t)
    }
}

impl KernelSocket {
    /// Connects to `url` (`ws://.../api/kernels/{id}/channels`) sending `authorization`.
    pub fn connect(url: &str, authorization: Option<&str>) -> Result<Self, Refused> {
        let mut req = url
            .into_client_request()
            .map_err(|e| Refused::Other(e.to_string()))?;
        if let Some(a) = authorization {
            let v = a.parse().map_err(|_| Refused::Other("header".into()))?;
            req.headers_mut().insert("authorization", v);
        }
        let (ws, _) = tungstenite::connect(req).map_err(|e| match e {
            tungstenite::Error::Http(r) => Refused::Status(r.status().as_u16()),
            other => Refused::Other(other.to_string()),
        })?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        }
        Ok(Self {
            ws,
            session: format!("test-{}", std::process::id()),
            n: 0,
        })
    }

    /// Sends a request on `channel`; returns its msg_id.
    pub fn send(
        &mut self,
        channel: &str,
        msg_type: &str,
        content: Value,
        metadata: Value,
    ) -> String {
        self.n += 1;
        let id = format!("{}-{}", self.session, self.n);
        let m = json!({
            "header": {"msg_id": id, "msg_type": msg_type, "session": self.session, "username": "test", "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": metadata, "content": content, "buffers": [], "channel": channel,
        });
        self.send_raw(Message::text(m.to_string()));
        id
    }

    pub fn send_raw(&mut self, m: Message) {
        if let Err(e) = self.ws.send(m) {
            panic!("sending on the kernel websocket: {e}");
        }
    }

    /// The next message, or how the connection ended; None when nothing came in `wait`.
    pub fn recv(&mut self, wait: Duration) -> Result<Option<Value>, Refused> {
        let deadline = Instant::now() + wait;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return serde_json::from_str(t.as_str())
                        .map(Some)
                        .map_err(|e| Refused::Other(e.to_string()))
                }
                Ok(Message::Close(Some(f))) => {
                    return Err(Refused::Closed(u16::from(f.code), f.reason.to_string()))
                }
                Ok(Message::Close(None)) => return Err(Refused::Closed(1005, String::new())),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(Refused::Other(e.to_string())),
            }
        }
    }

    /// Sends `msg_type` and collects until its reply and the `idle` status that follows it.
    pub fn request(
        &mut self,
        channel: &str,
        msg_type: &str,
        content: Value,
        metadata: Value,
    ) -> Cell {
        let id = self.send(channel, msg_type, content, metadata);
        self.collect(&id, Duration::from_secs(120))
    }

    /// The messages answering `id` until its reply and its `idle` status.
    pub fn collect(&mut self, id: &str, wait: Duration) -> Cell {
        let deadline = Instant::now() + wait;
        let (mut reply, mut iopub, mut idle) = (Value::Null, vec![], false);
        while reply.is_null() || !idle {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no reply to {id} in {wait:?}; so far {iopub:?}"
            );
            let m = match self.recv(left) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => panic!("the kernel websocket ended: {e:?}; so far {iopub:?}"),
            };
            if m["parent_header"]["msg_id"] != id {
                continue;
            }
            if m["channel"] == "iopub" {
                if m["header"]["msg_type"] == "status" && m["content"]["execution_state"] == "idle"
                {
                    idle = true;
                }
                iopub.push((Instant::now(), m));
            } else {
                reply = m;
            }
        }
        Cell { reply, iopub }
    }

    /// Sends a cell that prints `marker` and returns how the connection ended, failing if the
    /// cell ran (its marker came back) or the connection stayed open.
    pub fn closed_before_running(&mut self, marker: &str) -> Refused {
        let code = format!("print({marker:?})");
        self.send(
            "shell",
            "execute_request",
            execute_content(&code),
            json!({}),
        );
        loop {
            match self.recv(Duration::from_secs(10)) {
                Ok(Some(m)) => assert_ne!(
                    m["content"]["text"].as_str().map(str::trim),
                    Some(marker),
                    "the cell ran"
                ),
                Ok(None) => panic!("the connection stayed open"),
                Err(e) => return e,
            }
        }
    }

    pub fn execute(&mut self, code: &str) -> Cell {
        self.request("shell", "execute_request", execute_content(code), json!({}))
    }
}

pub fn execute_content(code: &str) -> Value {
    json!({"code": code, "silent": false, "store_history": true, "user_expressions": {}, "allow_stdin": false, "stop_on_error": true})
}

/// The PNG of a cell's first `display_data` (decoded), if any.
pub fn first_png(cell: &Cell) -> Option<Vec<u8>> {
    use base64::Engine;
    cell.of_type("display_data")
        .filter_map(|m| m["content"]["data"]["image/png"].as_str())
        .next()
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
}
