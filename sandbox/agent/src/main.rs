//! airlock-agent: runs inside every sandbox (bubblewrap locally, a pod on Kubernetes).

// The agent is the kernel's Jupyter client: its message ids, dates and temporary names are the
// Jupyter protocol's and the workspace's, never a gateway record (those take the gateway's
// Clock and IdGenerator).
#![allow(clippy::disallowed_methods)]

mod execute;
mod imports;
mod jupyter_wire;
mod kernel;
mod output;
mod runner;
mod server;
mod workspace;

use anyhow::Context;
use clap::Parser;
use std::{path::PathBuf, sync::Arc, time::Duration};

#[derive(Parser, Debug)]
#[command(name = "airlock-agent", about = "Airlock in-sandbox agent")]
struct Args {
    /// `unix:/path/agent.sock` or `tcp:0.0.0.0:7070`.
    #[arg(long)]
    listen: String,
    /// File holding the per-session token; read once, then deleted.
    #[arg(long)]
    token_file: PathBuf,
    #[arg(long, default_value = "/workspace")]
    workspace: PathBuf,
    #[arg(long, default_value = "/opt/airlock/runtime/bin/python3")]
    python: PathBuf,
    #[arg(long, default_value = "/tmp/airlock-kernel")]
    runtime_dir: PathBuf,
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    quota_bytes: u64,
    /// RLIMIT_FSIZE for everything the agent starts.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    max_file_bytes: u64,
    #[arg(long, default_value_t = 30)]
    kernel_start_seconds: u64,
    #[arg(long, default_value = "/usr/bin/node")]
    node: String,
    #[arg(long, default_value = "/bin/bash")]
    bash: String,
    /// The gateway's egress proxy socket; with it, an HTTP(S) proxy on `--egress-listen`
    /// relays every connection there (the sandbox has no other way out).
    #[arg(long)]
    egress_socket: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:3128")]
    egress_listen: String,
    /// The token file holds a start-up token that only answers `ping` and `claim` (a warm-pool
    /// pod): the gateway sets the session's token when it claims the pod.
    #[arg(long)]
    claimable: bool,
    /// The first of the five loopback ports of the kernel (a pod has its own loopback; tests
    /// that run several agents on one host give each its own range).
    #[arg(long, default_value_t = 52001)]
    kernel_port_base: u16,
}

/// Where the in-sandbox proxy relays to: the sandbox's egress socket (local), or the route of
/// the running execution (pods; none between executions).
#[derive(Clone)]
pub enum EgressTarget {
    Socket(PathBuf),
    Routed(Arc<std::sync::Mutex<Option<airlock_sandbox_protocol::EgressRoute>>>),
}

/// The in-sandbox end of egress: each TCP connection to the proxy port is relayed, bytes
/// unchanged, to the gateway's egress proxy, which decides.
async fn egress_relay(listen: String, target: EgressTarget) {
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "egress relay not started");
            return;
        }
    };
    while let Ok((mut tcp, _)) = listener.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            match target {
                EgressTarget::Socket(socket) => {
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                }
                EgressTarget::Routed(route) => {
                    let route = route.lock().ok().and_then(|r| r.clone());
                    relay_routed(&mut tcp, route).await;
                }
            }
        });
    }
}

/// Relays one connection to the gateway replica running the current execution, after the
/// execution's key; with no execution running there is no way out.
async fn relay_routed(
    tcp: &mut tokio::net::TcpStream,
    route: Option<airlock_sandbox_protocol::EgressRoute>,
) {
    use tokio::io::AsyncWriteExt;
    let Some(route) = route else {
        let body = "airlock egress proxy: no execution is running\n";
        let resp = format!("HTTP/1.1 403 Forbidden\r\nX-Airlock-Egress: no_execution\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = tcp.write_all(resp.as_bytes()).await;
        return;
    };
    let Ok(mut up) = tokio::net::TcpStream::connect(&route.addr).await else {
        let body = "airlock egress proxy: the gateway's egress port did not answer\n";
        let resp = format!("HTTP/1.1 502 Bad Gateway\r\nX-Airlock-Egress: egress_unreachable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = tcp.write_all(resp.as_bytes()).await;
        return;
    };
    let _ = up.set_nodelay(true);
    if up
        .write_all(airlock_sandbox_protocol::egress_preamble(&route.key).as_bytes())
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(tcp, &mut up).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("warn")
        .init();
    let args = Args::parse();
    let token = std::fs::read_to_string(&args.token_file)
        .context("reading the token file")?
        .trim()
        .to_owned();
    let _ = std::fs::remove_file(&args.token_file);
    // Limits inherited by the kernel and every process it starts.
    rlimit::setrlimit(
        rlimit::Resource::FSIZE,
        args.max_file_bytes,
        args.max_file_bytes,
    )?;
    rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)?;
    rlimit::setrlimit(rlimit::Resource::NOFILE, 4096, 4096)?;

    let route = Arc::new(std::sync::Mutex::new(None));
    let target = match args.egress_socket.clone() {
        Some(socket) => EgressTarget::Socket(socket),
        None => EgressTarget::Routed(route.clone()),
    };
    tokio::spawn(egress_relay(args.egress_listen.clone(), target));
    let kernel = kernel::Kernel::start(kernel::KernelConfig {
        python: args.python.clone(),
        runtime_dir: args.runtime_dir.clone(),
        workspace: args.workspace.clone(),
        start_timeout: Duration::from_secs(args.kernel_start_seconds),
        port_base: args.kernel_port_base,
    })
    .await
    .context("starting the Python kernel")?;
    let agent = Arc::new(server::Agent {
        token: std::sync::Mutex::new(server::AgentToken {
            value: token,
            claimed: !args.claimable,
        }),
        egress_route: route,
        workspace: workspace::Workspace {
            root: args.workspace.clone(),
            quota_bytes: args.quota_bytes,
        },
        kernel: tokio::sync::Mutex::new(Some(kernel)),
        running: std::sync::Mutex::new(None),
        node: args.node.clone(),
        python: args.python.clone(),
        bash: args.bash.clone(),
    });

    if let Some(path) = args.listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).context("binding the agent socket")?;
        // Owner only: the sandbox's own uid (and root, the gateway). No other host user can
        // reach the agent, even with the path and before the run directory is locked.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .context("making the agent socket owner-only")?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(agent.clone().serve(stream));
        }
    } else if let Some(addr) = args.listen.strip_prefix("tcp:") {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .context("binding the agent port")?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(agent.clone().serve(stream));
        }
    } else {
        anyhow::bail!("--listen must be unix:PATH or tcp:ADDR")
    }
}
