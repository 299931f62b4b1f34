//! The sandbox's live output on its way to a job's followers: redacted as it streams, and kept
//! so the finished result holds exactly what was streamed.

use super::{redact_stream::StreamRedactor, Job, JobEvent};
use airlock_gateway_audit::Redactor;
use airlock_gateway_domain::{ports::JobObserver, Output};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Streams {
    stdout: StreamRedactor,
    stderr: StreamRedactor,
    stdout_text: String,
    stderr_text: String,
    outputs: Vec<Output>,
    /// Secrets redacted in rich outputs.
    output_redactions: usize,
}

/// What the run printed and displayed, redacted.
#[derive(Debug, Default)]
pub struct Streamed {
    pub stdout: String,
    pub stderr: String,
    pub outputs: Vec<Output>,
    pub redactions: usize,
}

#[derive(Debug)]
pub struct LiveOutput {
    job: Arc<Job>,
    redactor: Arc<Redactor>,
    streams: Mutex<Streams>,
}

impl LiveOutput {
    pub fn new(job: Arc<Job>, redactor: Arc<Redactor>) -> Self {
        Self {
            job,
            redactor,
            streams: Mutex::new(Streams::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, s: &mut Streams, stderr: bool, text: String) {
        if text.is_empty() {
            return;
        }
        if stderr {
            s.stderr_text.push_str(&text);
        } else {
            s.stdout_text.push_str(&text);
        }
        self.job.log.push(JobEvent::Printed { stderr, text });
    }

    /// The end of the run: what was held is released; returns everything streamed.
    pub fn finish(&self) -> Streamed {
        let mut s = self.lock();
        let out = s.stdout.finish(&self.redactor);
        self.emit(&mut s, false, out);
        let err = s.stderr.finish(&self.redactor);
        self.emit(&mut s, true, err);
        Streamed {
            stdout: std::mem::take(&mut s.stdout_text),
            stderr: std::mem::take(&mut s.stderr_text),
            outputs: std::mem::take(&mut s.outputs),
            redactions: s.stdout.redactions + s.stderr.redactions + s.output_redactions,
        }
    }
}

impl JobObserver for LiveOutput {
    fn printed(&self, stderr: bool, text: &str) {
        let mut s = self.lock();
        let ready = if stderr {
            s.stderr.push(text, &self.redactor)
        } else {
            s.stdout.push(text, &self.redactor)
        };
        self.emit(&mut s, stderr, ready);
    }

    fn displayed(&self, output: &Output) {
        let mut o = output.clone();
        let mut n = 0;
        // Text is redacted; images and other binary media are not text and stay whole.
        for (media, v) in o.data.iter_mut() {
            if media.starts_with("text/") || media.ends_with("json") {
                n += self.redactor.redact_value(v);
            }
        }
        let mut s = self.lock();
        s.output_redactions += n;
        s.outputs.push(o.clone());
        self.job.log.push(JobEvent::Displayed(o));
    }
}
