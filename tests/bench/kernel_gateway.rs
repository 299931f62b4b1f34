//! `1+1` over the Jupyter kernel gateway protocol, side by side in one run (issue 21):
//! Airlock's kernel websocket, Airlock's REST API, a bare `jupyter_client` straight to the same
//! sandboxed ipykernel (the baseline), and Jupyter Kernel Gateway (PyPI
//! `jupyter-kernel-gateway`, ungoverned) with the same ipykernel. Both websockets are driven
//! by the same client (`airlock_tests::jupyter_client`): a request, then every message until
//! its reply and the `idle` status after it, as JupyterLab waits for a cell.
//!
//! Jupyter Kernel Gateway comes from a Python that has it: `AIRLOCK_BENCH_JKG_PYTHON`, or
//! `~/.cache/airlock/bench-venv/bin/python` (docs/performance.md says how to make it); the
//! row is skipped without one.

use crate::{
    jupyter::bare_jupyter_client, row, runtime_dir, serve::one_plus_one, serve::Served, stats,
    Stats,
};
use airlock_tests::jupyter_client::{Cell, KernelSocket};
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const WARM: usize = 20;
const N: usize = 300;

pub(crate) async fn kernel_gateway_rows() {
    let served = Served::start("bench-jupyter").await;
    let rest = rest_bench(&served).await;
    let kernel: serde_json::Value = served
        .post_json(
            &format!("{}/jupyter/api/kernels", served.base),
            serde_json::json!({"name": "python3"}),
        )
        .await;
    let id = kernel["id"].as_str().unwrap_or_default().to_owned();
    let url = format!(
        "{}/jupyter/api/kernels/{id}/channels",
        served.base.replacen("http", "ws", 1)
    );
    let auth = served.auth.clone();
    let ws = tokio::task::spawn_blocking(move || websocket_bench(&url, Some(&auth)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bare = bare_jupyter_client(&runtime_dir(), N);
    let jkg = tokio::task::spawn_blocking(kernel_gateway_bench)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    row(
        "`1+1` over Airlock's kernel websocket (auth, policy, audit, sandbox)",
        &ws,
        false,
    );
    row(
        "`1+1` over Airlock's REST API (the same pipeline)",
        &rest,
        false,
    );
    row(
        "`1+1` from a bare jupyter_client to ipykernel in bubblewrap (baseline)",
        &bare,
        false,
    );
    if let Some(j) = &jkg {
        row(
            "`1+1` over Jupyter Kernel Gateway's websocket (ungoverned, same ipykernel)",
            j,
            false,
        );
    }
    println!();
    println!(
        "websocket - REST: {:+.2} ms at p50 (target <= 1 ms), {:+.2} ms at p99",
        ws.p50 - rest.p50,
        ws.p99 - rest.p99
    );
    println!(
        "websocket / bare jupyter_client: {:.2}x at p50, {:.2}x at p99; REST / bare: {:.2}x at p50",
        ws.p50 / bare.p50,
        ws.p99 / bare.p99,
        rest.p50 / bare.p50
    );
    if let Some(j) = jkg {
        println!(
            "Jupyter Kernel Gateway / Airlock websocket: {:.2}x at p50, {:.2}x at p99",
            j.p50 / ws.p50,
            j.p99 / ws.p99
        );
    }
}

async fn rest_bench(served: &Served) -> Stats {
    let sid = served.session().await;
    let url = format!("{}/v1/sessions/{sid}/executions", served.base);
    for _ in 0..WARM {
        one_plus_one(&served.http, &url, &served.auth).await;
    }
    let mut times = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        one_plus_one(&served.http, &url, &served.auth).await;
        times.push(t.elapsed());
    }
    stats(times)
}

fn checked(c: &Cell) {
    let result = c
        .of_type("execute_result")
        .next()
        .map(|m| m["content"]["data"]["text/plain"].clone());
    assert_eq!(result, Some(serde_json::json!("2")), "{c:?}");
}

fn websocket_bench(url: &str, authorization: Option<&str>) -> Stats {
    let mut k =
        KernelSocket::connect(url, authorization).unwrap_or_else(|e| panic!("{url}: {e:?}"));
    for _ in 0..WARM {
        checked(&k.execute("1+1"));
    }
    let mut times = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let c = k.execute("1+1");
        times.push(t.elapsed());
        checked(&c);
    }
    stats(times)
}

fn jkg_python() -> Option<PathBuf> {
    let p = std::env::var("AIRLOCK_BENCH_JKG_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/airlock/bench-venv/bin/python")
        });
    p.exists().then_some(p)
}

/// Jupyter Kernel Gateway on a free port with one kernelspec: the sandbox runtime's ipykernel
/// with the gateway's kernel flags (not in bubblewrap: it governs nothing).
fn kernel_gateway_bench() -> Option<Stats> {
    let Some(python) = jkg_python() else {
        println!("(Jupyter Kernel Gateway row skipped: no Python with jupyter-kernel-gateway)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec_dir = dir.path().join("kernels/python3");
    std::fs::create_dir_all(&spec_dir).unwrap_or_else(|e| panic!("{e}"));
    let mut argv: Vec<serde_json::Value> = vec![
        runtime_dir()
            .join("bin/python")
            .display()
            .to_string()
            .into(),
        "-m".into(),
        "ipykernel_launcher".into(),
        "-f".into(),
        "{connection_file}".into(),
    ];
    argv.extend(
        airlock_sandbox_protocol::KERNEL_FLAGS
            .iter()
            .map(|f| (*f).into()),
    );
    let spec = serde_json::json!({
        "argv": argv,
        "display_name": "Python 3", "language": "python",
    });
    std::fs::write(spec_dir.join("kernel.json"), spec.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18890);
    let token = "bench-jkg-token";
    let child = Command::new(&python)
        .args(["-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1"])
        .arg(format!("--KernelGatewayApp.port={port}"))
        .arg(format!("--KernelGatewayApp.auth_token={token}"))
        .env("JUPYTER_PATH", dir.path())
        .env("JUPYTER_DATA_DIR", dir.path())
        .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let _child = airlock_tests::KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let auth = format!("token {token}");
    let mut kernel = None;
    for _ in 0..200 {
        let r = http
            .post(format!("{base}/api/kernels"))
            .header("authorization", &auth)
            .json(&serde_json::json!({"name": "python3"}))
            .send();
        if let Ok(r) = r {
            let v: serde_json::Value = r.json().unwrap_or_default();
            kernel = v["id"].as_str().map(str::to_owned);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = kernel.unwrap_or_else(|| panic!("Jupyter Kernel Gateway started no kernel"));
    let url = format!("ws://127.0.0.1:{port}/api/kernels/{id}/channels");
    Some(websocket_bench(&url, Some(&auth)))
}
