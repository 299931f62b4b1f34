//! Runs bash and JavaScript as processes in the workspace, with a deadline and the output cap.

use crate::output::OutputCollector;
use airlock_sandbox_protocol::RunEnd;
use std::{path::Path, process::Stdio, time::Duration};
use tokio::{io::AsyncReadExt, process::Command};
use tokio_util::sync::CancellationToken;

pub async fn run_process(
    program: &str,
    args: &[&str],
    workspace: &Path,
    limit: Duration,
    out: &mut OutputCollector,
    cancel: &CancellationToken,
) -> (RunEnd, Option<i32>) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            out.error("SpawnError".into(), format!("{program}: {e}"), vec![]);
            return (RunEnd::Failed, None);
        }
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    let (Some(mut so), Some(mut se)) = (child.stdout.take(), child.stderr.take()) else {
        return (RunEnd::Failed, None);
    };
    let deadline = tokio::time::Instant::now() + limit;
    let (mut bo, mut be) = ([0u8; 8192], [0u8; 8192]);
    let (mut so_open, mut se_open) = (true, true);
    let mut stopped = None;
    while so_open || se_open {
        tokio::select! {
            r = so.read(&mut bo), if so_open => match r {
                Ok(0) | Err(_) => so_open = false,
                Ok(n) => out.stream("stdout", &String::from_utf8_lossy(&bo[..n])),
            },
            r = se.read(&mut be), if se_open => match r {
                Ok(0) | Err(_) => se_open = false,
                Ok(n) => out.stream("stderr", &String::from_utf8_lossy(&be[..n])),
            },
            _ = tokio::time::sleep_until(deadline) => { stopped = Some(RunEnd::TimedOut); break; }
            _ = cancel.cancelled() => { stopped = Some(RunEnd::Cancelled); break; }
        }
    }
    if let Some(end) = stopped {
        kill_group(pgid);
        let _ = child.kill().await;
        return (end, None);
    }
    let status = tokio::select! {
        s = child.wait() => s.ok(),
        _ = tokio::time::sleep_until(deadline) => None,
        _ = cancel.cancelled() => {
            kill_group(pgid);
            let _ = child.kill().await;
            return (RunEnd::Cancelled, None);
        }
    };
    // Background children of the script do not outlive the execution.
    kill_group(pgid);
    match status {
        None => {
            let _ = child.kill().await;
            (RunEnd::TimedOut, None)
        }
        Some(s) if s.success() => (RunEnd::Completed, None),
        Some(s) => {
            use std::os::unix::process::ExitStatusExt;
            let what = s.code().map_or_else(
                || format!("killed by signal {}", s.signal().unwrap_or(0)),
                |c| format!("exit status {c}"),
            );
            out.error(
                "ProcessError".into(),
                format!("{program} ended with {what}"),
                vec![],
            );
            (RunEnd::Failed, s.signal())
        }
    }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(p) = pgid {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
