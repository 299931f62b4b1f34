//! The sandbox's live output on its way to a job's followers: secrets redacted and the rest
//! inspected as it streams (a line at a time, so a value split across flushes is whole when it
//! is checked), and kept so the finished result holds exactly what was streamed. Once output
//! policy holds the output, what follows is kept for the reviewer and no longer streamed.

use super::{redact_stream::StreamRedactor, Job, JobEvent};
use crate::outputs::OutputGuard;
use airlock_gateway_audit::Redactor;
use airlock_gateway_domain::{outputs::OutputPlace, ports::JobObserver, Output};
use std::sync::{Arc, Mutex};

struct Streams {
    stdout: StreamRedactor,
    stderr: StreamRedactor,
    stdout_text: String,
    stderr_text: String,
    outputs: Vec<Output>,
    /// Secrets redacted in rich outputs.
    output_redactions: usize,
    /// Output inspection (taken at the end).
    guard: Option<OutputGuard>,
}

/// What the run printed and displayed, redacted and inspected.
#[derive(Default)]
pub struct Streamed {
    pub stdout: String,
    pub stderr: String,
    pub outputs: Vec<Output>,
    pub redactions: usize,
    /// The inspection of what streamed, to go on with the rest of the outputs.
    pub(crate) guard: Option<OutputGuard>,
}

pub struct LiveOutput {
    job: Arc<Job>,
    redactor: Arc<Redactor>,
    streams: Mutex<Streams>,
}

impl std::fmt::Debug for LiveOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOutput")
            .field("execution_id", &self.job.execution_id)
            .finish_non_exhaustive()
    }
}

impl LiveOutput {
    pub(crate) fn new(job: Arc<Job>, redactor: Arc<Redactor>, guard: OutputGuard) -> Self {
        Self {
            job,
            redactor,
            streams: Mutex::new(Streams {
                stdout: StreamRedactor::default(),
                stderr: StreamRedactor::default(),
                stdout_text: String::new(),
                stderr_text: String::new(),
                outputs: vec![],
                output_redactions: 0,
                guard: Some(guard),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `text` on if inspection lets it out (masked as policy says).
    fn emit(&self, s: &mut Streams, stderr: bool, text: String) {
        if text.is_empty() {
            return;
        }
        let place = if stderr {
            OutputPlace::Stderr
        } else {
            OutputPlace::Stdout
        };
        let Some(text) = self.inspect(s, |g| g.text(place, text)) else {
            return;
        };
        if stderr {
            s.stderr_text.push_str(&text);
        } else {
            s.stdout_text.push_str(&text);
        }
        if !holding(s) {
            self.job.log.push(JobEvent::Printed { stderr, text });
        }
    }

    /// Runs `check` on the guard; once the output is blocked nothing more goes out and the
    /// code is stopped (what it would print next could not leave either). A held output lets
    /// the code run on: its reviewer may release all of it.
    fn inspect<T>(
        &self,
        s: &mut Streams,
        check: impl FnOnce(&mut OutputGuard) -> Option<T>,
    ) -> Option<T> {
        let g = s.guard.as_mut()?;
        let out = check(g);
        if out.is_none() && !self.job.cancel.is_cancelled() {
            tracing::info!(execution = %self.job.execution_id, "output blocked by inspection; stopping the code");
            self.job.cancel.cancel();
        }
        out
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
            guard: s.guard.take(),
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
        // Text (SVG included) is redacted; images and other binary media stay whole.
        for (media, v) in o.data.iter_mut() {
            if airlock_gateway_outputs::is_text_media(media) {
                n += self.redactor.redact_value(v);
            }
        }
        let mut s = self.lock();
        s.output_redactions += n;
        if self
            .inspect(&mut s, |g| {
                g.output(OutputPlace::Display, &mut o).then_some(())
            })
            .is_none()
        {
            return;
        }
        s.outputs.push(o.clone());
        if !holding(&s) {
            self.job.log.push(JobEvent::Displayed(o));
        }
    }
}

fn holding(s: &Streams) -> bool {
    s.guard.as_ref().is_some_and(OutputGuard::holding)
}
