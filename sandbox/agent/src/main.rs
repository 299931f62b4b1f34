//! airlock-agent: runs inside every sandbox (bubblewrap locally, a pod on Kubernetes).

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
}

/// The in-sandbox end of egress: each TCP connection to the proxy port is relayed, bytes
/// unchanged, to the gateway's egress proxy, which decides.
async fn egress_relay(listen: String, socket: PathBuf) {
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "egress relay not started");
            return;
        }
    };
    while let Ok((mut tcp, _)) = listener.accept().await {
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            }
        });
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

    if let Some(socket) = args.egress_socket.clone() {
        tokio::spawn(egress_relay(args.egress_listen.clone(), socket));
    }
    let kernel = kernel::Kernel::start(kernel::KernelConfig {
        python: args.python.clone(),
        runtime_dir: args.runtime_dir.clone(),
        workspace: args.workspace.clone(),
        start_timeout: Duration::from_secs(args.kernel_start_seconds),
    })
    .await
    .context("starting the Python kernel")?;
    let agent = Arc::new(server::Agent {
        token,
        workspace: workspace::Workspace {
            root: args.workspace.clone(),
            quota_bytes: args.quota_bytes,
        },
        kernel: tokio::sync::Mutex::new(Some(kernel)),
        node: args.node.clone(),
        python: args.python.clone(),
        bash: args.bash.clone(),
    });

    if let Some(path) = args.listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).context("binding the agent socket")?;
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
