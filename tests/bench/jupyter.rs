//! The baseline of the `1+1` target: a bare Jupyter client (Python `jupyter_client`, as a new
//! user would write it) talking straight to the same kind of kernel: the sandbox runtime's
//! ipykernel, with the gateway's kernel flags, in bubblewrap (its own user, pid, ipc and uts
//! namespaces, read-only `/usr` and runtime; the network namespace is shared so the client on
//! the host reaches the kernel's loopback ports). No gateway, no agent, no policy, no audit.
//!
//! Beside it, the kernel's own floor: the same request over raw ZeroMQ sockets (pyzmq, the
//! Jupyter wire format signed by hand, no `jupyter_client`), so that what a client library
//! adds and what the kernel itself takes can be told apart.

use crate::{stats, Stats};
use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

/// The client: `execute_interactive`, the documented blocking call; its `one()` is timed by
/// [`TIMED_RUNS`].
const CLIENT: &str = r#"
import json, sys, time
from jupyter_client import BlockingKernelClient
kc = BlockingKernelClient(connection_file=sys.argv[1])
kc.load_connection_file()
kc.start_channels()
kc.wait_for_ready(timeout=60)
out = {}
def hook(msg):
    if msg["msg_type"] == "execute_result":
        out["r"] = msg["content"]["data"]["text/plain"]
def one():
    out.clear()
    reply = kc.execute_interactive("1+1", output_hook=hook, timeout=30)
    assert reply["content"]["status"] == "ok" and out.get("r") == "2", (reply, out)
"#;

/// The floor: `1+1` as one signed `execute_request` on a raw DEALER socket, read until the
/// reply and the kernel's `idle` on a raw SUB socket; its `one()` is timed by [`TIMED_RUNS`].
const RAW_CLIENT: &str = r#"
import hashlib, hmac, json, sys, time, uuid, zmq
cfg = json.load(open(sys.argv[1]))
key = cfg["key"].encode()
ctx = zmq.Context()
shell = ctx.socket(zmq.DEALER)
shell.connect("tcp://127.0.0.1:%d" % cfg["shell_port"])
iopub = ctx.socket(zmq.SUB)
iopub.setsockopt(zmq.SUBSCRIBE, b"")
iopub.connect("tcp://127.0.0.1:%d" % cfg["iopub_port"])
session = str(uuid.uuid4())
def send(msg_type, content):
    msg_id = str(uuid.uuid4())
    header = {"msg_id": msg_id, "session": session, "username": "bench", "msg_type": msg_type,
              "version": "5.3", "date": "2026-01-01T00:00:00.000000Z"}
    parts = [json.dumps(header).encode(), b"{}", b"{}", json.dumps(content).encode()]
    sig = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        sig.update(p)
    shell.send_multipart([b"<IDS|MSG>", sig.hexdigest().encode()] + parts)
    return msg_id
def parent_type_content(frames):
    i = frames.index(b"<IDS|MSG>")
    header, parent = json.loads(frames[i + 2]), json.loads(frames[i + 3])
    return parent.get("msg_id"), header["msg_type"], json.loads(frames[i + 5])
poller = zmq.Poller()
poller.register(shell, zmq.POLLIN)
poller.register(iopub, zmq.POLLIN)
def run(msg_type, content, timeout_ms):
    msg_id = send(msg_type, content)
    reply = idle = None
    result = None
    deadline = time.monotonic() + timeout_ms / 1000
    while reply is None or not idle:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            return None, None
        for sock, _ in poller.poll(left):
            parent, t, c = parent_type_content(sock.recv_multipart())
            if parent != msg_id:
                continue
            if sock is shell:
                reply = c
            elif t == "status" and c["execution_state"] == "idle":
                idle = True
            elif t == "execute_result":
                result = c["data"]["text/plain"]
    return reply, result
# The SUB socket sees only what is published after its subscription reached the kernel.
while run("kernel_info_request", {}, 500)[0] is None:
    pass
code = {"code": "1+1", "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}
def one():
    reply, result = run("execute_request", code, 30000)
    assert reply["status"] == "ok" and result == "2", (reply, result)
"#;

/// Appended to a client that defines `one()`: 20 warm-up runs, then `n` timed ones; prints the
/// seconds of each as JSON.
const TIMED_RUNS: &str = r#"
for _ in range(20):
    one()
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    one()
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"#;

fn free_port_base() -> u16 {
    // Five consecutive ports from a bound-and-released one (the kernel binds them at once).
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(40000)
        .clamp(20000, 60000)
}

fn kernel_in_bwrap(runtime: &Path, dir: &Path, conn: &Path) -> std::process::Child {
    let python = runtime.join("bin/python");
    let mut cmd = Command::new("bwrap");
    cmd.args([
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
    ])
    .args(airlock_gateway_sandbox_local::SYSTEM_MOUNTS)
    .arg("--ro-bind")
    .arg(runtime)
    .arg(runtime)
    .arg("--bind")
    .arg(dir)
    .arg("/workspace")
    .args(["--chdir", "/workspace", "--clearenv"]);
    for (k, v) in airlock_gateway_sandbox_local::sandbox_env(runtime) {
        cmd.args(["--setenv", &k, &v]);
    }
    cmd.arg("--")
        .arg(python)
        .args(["-m", "ipykernel_launcher", "-f"])
        .arg(Path::new("/workspace").join(conn.file_name().unwrap_or_default()))
        .args(airlock_sandbox_protocol::KERNEL_FLAGS)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().unwrap_or_else(|e| panic!("bwrap: {e}"))
}

/// `1+1` from a bare `jupyter_client` to ipykernel in bubblewrap, `n` times after 20.
pub(crate) fn bare_jupyter_client(runtime: &Path, n: usize) -> Stats {
    client_to_kernel_in_bwrap(runtime, CLIENT, n)
}

/// `1+1` over raw ZeroMQ sockets to ipykernel in bubblewrap, `n` times after 20: the kernel's
/// own time plus the least a client can add.
pub(crate) fn raw_zmq_client(runtime: &Path, n: usize) -> Stats {
    client_to_kernel_in_bwrap(runtime, RAW_CLIENT, n)
}

/// Starts a kernel in bubblewrap, runs the Python `client` script against its connection file
/// and returns the `n` round trips it timed.
fn client_to_kernel_in_bwrap(runtime: &Path, client: &str, n: usize) -> Stats {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let b = free_port_base();
    let conn = dir.path().join("kernel.json");
    let spec = serde_json::json!({
        "transport": "tcp", "ip": "127.0.0.1", "key": "bench-key", "signature_scheme": "hmac-sha256",
        "shell_port": b, "iopub_port": b + 1, "stdin_port": b + 2, "control_port": b + 3,
        "hb_port": b + 4, "kernel_name": "python3",
    });
    std::fs::write(&conn, spec.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let mut kernel = kernel_in_bwrap(runtime, dir.path(), &conn);
    let client = Command::new(runtime.join("bin/python"))
        .arg("-c")
        .arg(format!("{client}{TIMED_RUNS}"))
        .arg(&conn)
        .arg(n.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = kernel.kill();
    let _ = kernel.wait();
    assert!(
        client.status.success(),
        "the kernel client baseline failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let secs: Vec<f64> = serde_json::from_slice(&client.stdout).unwrap_or_default();
    assert_eq!(secs.len(), n, "{}", String::from_utf8_lossy(&client.stdout));
    stats(secs.into_iter().map(Duration::from_secs_f64).collect())
}
