//! A Server-Sent Events client for the tests: an execution submitted with `Accept:
//! text/event-stream`, or followed at `/v1/executions/{id}/events`, read event by event.

use crate::harness::Api;
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader},
    time::{Duration, SystemTime},
};

/// One SSE event as a client saw it, with when it arrived (Unix seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct Sse {
    pub id: String,
    pub event: String,
    pub data: Value,
    pub received: f64,
}

/// The host's wall clock, compared with the times the sandboxed code prints (one host, one
/// clock).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// An open event stream.
pub struct Stream {
    pub status: u16,
    reader: BufReader<reqwest::blocking::Response>,
}

impl Stream {
    /// The next event (heartbeat comments skipped); None at the end of the stream.
    pub fn next(&mut self) -> Option<Sse> {
        let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if event.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                return Some(Sse {
                    id,
                    event,
                    data,
                    received: unix_now(),
                });
            }
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
    }

    pub fn rest(&mut self) -> Vec<Sse> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

pub fn streaming_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn submit_streaming(api: &Api, session: &str, code: &str) -> Stream {
    submit_streaming_with(api, session, json!({"language": "python", "code": code}))
}

pub fn follow(api: &Api, execution: &str, last_event_id: Option<&str>) -> Stream {
    let mut rb = streaming_client()
        .get(format!("{}/v1/executions/{execution}/events", api.base))
        .bearer_auth(&api.token);
    if let Some(id) = last_event_id {
        rb = rb.header("last-event-id", id);
    }
    let r = rb.send().unwrap_or_else(|e| panic!("{e}"));
    Stream {
        status: r.status().as_u16(),
        reader: BufReader::new(r),
    }
}

/// A body submitted with `Accept: text/event-stream`.
pub fn submit_streaming_with(api: &Api, session: &str, body: Value) -> Stream {
    let r = streaming_client()
        .post(format!("{}/v1/sessions/{session}/executions", api.base))
        .bearer_auth(&api.token)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    Stream {
        status: r.status().as_u16(),
        reader: BufReader::new(r),
    }
}

/// Everything printed on stdout, as streamed.
pub fn printed(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|e| e.event == "stdout")
        .filter_map(|e| e.data["text"].as_str())
        .collect()
}
