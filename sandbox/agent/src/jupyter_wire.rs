//! The Jupyter messaging protocol (v5.3) wire format on top of ZeroMQ frames.
//!
//! Hand-written rather than `runtimelib`: the agent needs only execute/kernel_info/interrupt and
//! the iopub messages, and this keeps the agent on one ZeroMQ implementation (the pure-Rust
//! `zeromq` crate) with its ipc and tcp transports, without a second async runtime feature set.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use zeromq::ZmqMessage;

const DELIMITER: &[u8] = b"<IDS|MSG>";

#[derive(Clone, Debug)]
pub struct Message {
    pub msg_type: String,
    pub parent_msg_id: Option<String>,
    pub content: Value,
}

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    session: String,
}

impl Signer {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.as_bytes().to_vec(),
            session: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn sign(&self, parts: &[&[u8]]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Builds a request; returns its msg_id and the multipart message.
    pub fn request(&self, msg_type: &str, content: Value) -> (String, ZmqMessage) {
        let msg_id = uuid::Uuid::new_v4().to_string();
        let header = json!({
            "msg_id": msg_id,
            "session": self.session,
            "username": "airlock",
            "date": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "msg_type": msg_type,
            "version": "5.3",
        });
        let frames: Vec<Vec<u8>> = [header, json!({}), json!({}), content]
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .collect();
        let sig = self.sign(&[&frames[0], &frames[1], &frames[2], &frames[3]]);
        let mut all = vec![Bytes::from_static(DELIMITER), Bytes::from(sig)];
        all.extend(frames.into_iter().map(Bytes::from));
        let msg = ZmqMessage::try_from(all).unwrap_or_else(|_| ZmqMessage::from(Bytes::new()));
        (msg_id, msg)
    }

    /// Parses and authenticates a message from the kernel. Messages with a bad signature are
    /// dropped (None): only our kernel knows the key.
    pub fn parse(&self, msg: ZmqMessage) -> Option<Message> {
        let frames = msg.into_vec();
        let pos = frames.iter().position(|f| f.as_ref() == DELIMITER)?;
        let rest = frames.get(pos + 1..pos + 6)?;
        let (sig, header, parent, meta, content) =
            (&rest[0], &rest[1], &rest[2], &rest[3], &rest[4]);
        let expected = self.sign(&[header, parent, meta, content]);
        if !airlock_sandbox_protocol::token_matches(&expected, std::str::from_utf8(sig).ok()?) {
            return None;
        }
        let header: Value = serde_json::from_slice(header).ok()?;
        let parent: Value = serde_json::from_slice(parent).ok()?;
        Some(Message {
            msg_type: header.get("msg_type")?.as_str()?.to_owned(),
            parent_msg_id: parent
                .get("msg_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            content: serde_json::from_slice(content).ok()?,
        })
    }
}

/// Removes ANSI escape sequences (colour codes in tracebacks).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_messages_round_trip_and_forgeries_are_dropped() {
        let s = Signer::new("secret");
        let (id, msg) = s.request("kernel_info_request", json!({"a": 1}));
        let parsed = s.parse(msg.clone()).unwrap_or_else(|| panic!("parse"));
        assert_eq!(parsed.msg_type, "kernel_info_request");
        assert!(!id.is_empty());
        assert_eq!(parsed.content, json!({"a": 1}));
        assert!(Signer::new("other").parse(msg).is_none());
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[0;31mZeroDivisionError\u{1b}[0m: x"),
            "ZeroDivisionError: x"
        );
    }
}
