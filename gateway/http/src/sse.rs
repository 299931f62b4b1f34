//! Server-Sent Events of one execution. Each event is `id: <n>`, `event: <name>`, `data: <one
//! JSON line>`; ids count from 1 per execution, so `Last-Event-ID: n` resumes after event n
//! with no gap and no duplicate. A comment line every [`HEARTBEAT`] keeps proxies from closing
//! an idle stream. The stream ends after the `result` event.
//!
//! Written by hand rather than with a crate: the format is four fixed lines (WHATWG HTML
//! "Server-sent events"), and the only SSE helper for actix (`actix-web-lab`) would add a
//! crate of unstable APIs for one function.

use crate::dto::ExecutionView;
use actix_web::{http::header, HttpRequest, HttpResponse};
use airlock_gateway_core::{
    jobs::{Job, JobEvent, Numbered},
    Follow, Gateway,
};
use airlock_gateway_domain::{Execution, Principal};
use bytes::Bytes;
use futures::Stream;
use std::{sync::Arc, time::Duration};

pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a follower of an execution that does not run here (yet) looks again.
const POLL: Duration = Duration::from_millis(500);

/// Whether the client asked for an event stream.
pub fn wants_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The id after which to resume: `Last-Event-ID`, or 0. An id that is not a number (the
/// `result` id of an expired stream) means everything was seen.
pub fn last_event_id(req: &HttpRequest) -> u64 {
    match req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
    {
        None => 0,
        Some(v) => v.trim().parse().unwrap_or(u64::MAX),
    }
}

fn frame(id: &str, name: &str, data: &serde_json::Value) -> Bytes {
    // serde_json writes no raw newlines, so the data is one `data:` line.
    Bytes::from(format!("id: {id}\nevent: {name}\ndata: {data}\n\n"))
}

fn data_of(event: &JobEvent) -> serde_json::Value {
    let json = |v: Result<serde_json::Value, serde_json::Error>| v.unwrap_or_default();
    match event {
        JobEvent::Status(s) => serde_json::json!({"status": s.as_str()}),
        JobEvent::Printed { text, .. } => serde_json::json!({"text": text}),
        JobEvent::Displayed(o) => json(serde_json::to_value(o)),
        JobEvent::Artifact(f) => json(serde_json::to_value(f)),
        JobEvent::Error(e) => json(serde_json::to_value(e)),
        JobEvent::Result(e) => json(serde_json::to_value(ExecutionView::from((**e).clone()))),
    }
}

fn numbered(events: &[Numbered]) -> Bytes {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(&frame(
            &e.id.to_string(),
            e.event.name(),
            &data_of(&e.event),
        ));
    }
    Bytes::from(out)
}

fn final_result(e: Execution) -> Bytes {
    let view = serde_json::to_value(ExecutionView::from(e)).unwrap_or_default();
    frame("result", "result", &view)
}

/// The response streaming `follow` from after event `after`.
pub fn response(
    gateway: Arc<Gateway>,
    caller: Principal,
    follow: Follow,
    after: u64,
) -> HttpResponse {
    let body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>> = match follow
    {
        Follow::Live(job) => Box::pin(live(job, after)),
        Follow::Finished(e) => Box::pin(futures::stream::once(async move {
            Ok::<_, actix_web::Error>(final_result(e))
        })),
        Follow::Elsewhere(e) => Box::pin(awaited(gateway, caller, e, after)),
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Proxies that buffer (nginx) pass events on at once.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}

/// A job's log: what it holds after `after`, then each event as it is appended, until the
/// result.
fn live(job: Arc<Job>, after: u64) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let changed = job.log.subscribe();
    futures::stream::unfold(
        (job, changed, after, false),
        |(job, mut changed, mut next, done)| async move {
            if done {
                return None;
            }
            loop {
                changed.borrow_and_update();
                let (events, finished) = job.log.after(next);
                if let Some(last) = events.last() {
                    next = last.id;
                    let bytes = numbered(&events);
                    return Some((Ok(bytes), (job, changed, next, finished)));
                }
                if finished {
                    return None;
                }
                tokio::select! {
                    r = changed.changed() => if r.is_err() { return None },
                    _ = tokio::time::sleep(HEARTBEAT) => {
                        let beat = Bytes::from_static(b": keepalive\n\n");
                        return Some((Ok(beat), (job, changed, next, false)));
                    }
                }
            }
        },
    )
}

enum Waited {
    Beat,
    Ready(Box<Follow>),
}

/// An execution not running here yet (held for review, queued) or running on another replica:
/// heartbeats while it waits; once it runs here, its live events; once it has ended, its
/// result.
fn awaited(
    gateway: Arc<Gateway>,
    caller: Principal,
    e: Execution,
    after: u64,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    use futures::StreamExt;
    let id = e.id.clone();
    let waits = futures::stream::unfold(
        (gateway, caller, id, std::time::Instant::now(), false),
        |(gw, caller, id, mut beat, done)| async move {
            if done {
                return None;
            }
            loop {
                tokio::time::sleep(POLL).await;
                match gw.follow(&caller, &id).await {
                    Ok(Follow::Elsewhere(_)) => {}
                    Ok(ready) => {
                        return Some((Waited::Ready(Box::new(ready)), (gw, caller, id, beat, true)))
                    }
                    Err(_) => return None,
                }
                if beat.elapsed() >= HEARTBEAT {
                    beat = std::time::Instant::now();
                    return Some((Waited::Beat, (gw, caller, id, beat, false)));
                }
            }
        },
    );
    waits.flat_map(move |w| match w {
        Waited::Ready(ready) => match *ready {
            Follow::Live(job) => live(job, after).boxed_local(),
            Follow::Finished(e) => {
                futures::stream::once(futures::future::ready(Ok(final_result(e)))).boxed_local()
            }
            Follow::Elsewhere(_) => futures::stream::empty().boxed_local(),
        },
        Waited::Beat => futures::stream::once(futures::future::ready(Ok(Bytes::from_static(
            b": keepalive\n\n",
        ))))
        .boxed_local(),
    })
}
