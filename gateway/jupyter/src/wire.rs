//! Jupyter messaging protocol v5 as JSON text frames of the kernel websocket (the protocol
//! Jupyter Server and Kernel Gateway speak without a negotiated subprotocol): a message is
//! `header`, `parent_header`, `metadata`, `content`, `buffers` and the `channel` it belongs
//! to. Written with serde here: the one Rust Jupyter crate (`jupyter-protocol`) models the
//! ZeroMQ side and its async runtime, not these frames.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const PROTOCOL_VERSION: &str = "5.3";

/// The channels of the websocket. Anything else is a protocol error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Shell,
    Iopub,
    Stdin,
    Control,
}

/// A header as clients send it: the fields every message must have, the rest kept as sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub msg_id: String,
    pub msg_type: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub username: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A message from the client.
#[derive(Clone, Debug, Deserialize)]
pub struct Incoming {
    pub header: Header,
    pub channel: Channel,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub content: Value,
}

/// Why a frame is not a message this gateway accepts.
#[derive(Debug, PartialEq, Eq)]
pub enum BadFrame {
    /// Not JSON, not an object of the message's shape, or an unknown channel.
    Malformed(String),
    /// A field that must be non-empty is empty or too long.
    Invalid(&'static str),
}

/// The longest id or type a header may carry (they are echoed into every reply).
const MAX_FIELD: usize = 256;

pub fn parse(text: &str) -> Result<Incoming, BadFrame> {
    let m: Incoming = serde_json::from_str(text).map_err(|e| BadFrame::Malformed(e.to_string()))?;
    for (name, v) in [
        ("header.msg_id", &m.header.msg_id),
        ("header.msg_type", &m.header.msg_type),
    ] {
        if v.is_empty() || v.len() > MAX_FIELD {
            return Err(BadFrame::Invalid(name));
        }
    }
    if m.header.session.len() > MAX_FIELD || m.header.username.len() > MAX_FIELD {
        return Err(BadFrame::Invalid("header.session"));
    }
    if !m.content.is_object() && !m.content.is_null() {
        return Err(BadFrame::Invalid("content"));
    }
    Ok(m)
}

/// Builds the messages of one connection: ids unique within it, the kernel's session, and
/// the time from the gateway's clock.
pub struct Outgoing {
    /// The kernel side's session id (one per connection).
    pub session: String,
    next: u64,
}

impl Outgoing {
    pub fn new(session: String) -> Self {
        Self { session, next: 0 }
    }

    /// A message of `msg_type` on `channel` in reply to `parent` (its header echoed as
    /// `parent_header`, as the protocol requires), dated `date` (RFC 3339).
    pub fn message(
        &mut self,
        channel: Channel,
        msg_type: &str,
        parent: Option<&Header>,
        content: Value,
        date: &str,
    ) -> String {
        self.next += 1;
        let header = json!({
            "msg_id": format!("{}_{}", self.session, self.next),
            "msg_type": msg_type,
            "session": self.session,
            "username": "airlock",
            "date": date,
            "version": PROTOCOL_VERSION,
        });
        json!({
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": msg_type,
            "parent_header": parent.map_or(json!({}), |h| json!(h)),
            "metadata": {},
            "content": content,
            "buffers": [],
            "channel": channel,
        })
        .to_string()
    }
}

/// The reply type of a request type (`execute_request` -> `execute_reply`).
pub fn reply_type(request: &str) -> Option<String> {
    request
        .strip_suffix("_request")
        .map(|base| format!("{base}_reply"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(channel: &str, msg_type: &str) -> String {
        json!({"header": {"msg_id": "m1", "msg_type": msg_type, "session": "s", "username": "u", "date": "", "version": "5.3"},
               "parent_header": {}, "metadata": {}, "content": {"code": "1+1"}, "channel": channel})
        .to_string()
    }

    #[test]
    fn a_well_formed_request_parses_with_its_channel() {
        let m = parse(&frame("shell", "execute_request")).expect("parses");
        assert_eq!(m.channel, Channel::Shell);
        assert_eq!(m.header.msg_type, "execute_request");
        assert_eq!(m.content["code"], "1+1");
    }

    #[test]
    fn bad_frames_are_named_not_guessed() {
        assert!(matches!(parse("{not json"), Err(BadFrame::Malformed(_))));
        assert!(matches!(parse("[]"), Err(BadFrame::Malformed(_))));
        assert!(matches!(
            parse(&frame("heartbeat", "execute_request")),
            Err(BadFrame::Malformed(_))
        ));
        assert_eq!(
            parse(&frame("shell", "")).err(),
            Some(BadFrame::Invalid("header.msg_type"))
        );
        let long = "x".repeat(MAX_FIELD + 1);
        assert_eq!(
            parse(&frame("shell", &long)).err(),
            Some(BadFrame::Invalid("header.msg_type"))
        );
        let no_header = json!({"channel": "shell", "content": {}}).to_string();
        assert!(matches!(parse(&no_header), Err(BadFrame::Malformed(_))));
    }

    #[test]
    fn replies_echo_the_request_header_as_parent_and_number_their_ids() {
        let m = parse(&frame("shell", "kernel_info_request")).expect("parses");
        let mut out = Outgoing::new("k1".into());
        let a: Value = serde_json::from_str(&out.message(
            Channel::Shell,
            "kernel_info_reply",
            Some(&m.header),
            json!({}),
            "2026-12-03T00:00:00Z",
        ))
        .expect("json");
        let b: Value = serde_json::from_str(&out.message(
            Channel::Iopub,
            "status",
            Some(&m.header),
            json!({}),
            "2026-12-03T00:00:00Z",
        ))
        .expect("json");
        assert_eq!(a["parent_header"]["msg_id"], "m1");
        assert_eq!(a["channel"], "shell");
        assert_ne!(a["header"]["msg_id"], b["header"]["msg_id"]);
        assert_eq!(
            reply_type("complete_request").as_deref(),
            Some("complete_reply")
        );
        assert_eq!(reply_type("comm_open"), None);
    }
}
