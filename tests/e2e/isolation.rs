//! Attacks tried from inside the sandbox. Each must fail.

use crate::harness::{self, stdout_of, Gateway, TEST_SECRET};

const PROBE: &str = r#"
import os, socket, json
res = {}
def attempt(name, fn):
    try:
        fn()
        res[name] = "ALLOWED"
    except Exception as e:
        res[name] = type(e).__name__

attempt("read_shadow", lambda: open("/etc/shadow").read())
attempt("read_config", lambda: open(CONFIG).read())
attempt("read_db", lambda: open(DB).read())
attempt("read_other_ws", lambda: os.listdir(OTHER))
attempt("read_audit", lambda: open(AUDIT).read())
attempt("write_usr", lambda: open("/usr/evil", "w").write("x"))
attempt("write_etc", lambda: open("/etc/evil", "w").write("x"))
attempt("write_root", lambda: open("/evil", "w").write("x"))
attempt("write_runtime", lambda: open(os.path.join(os.path.dirname(os.__file__), "evil.py"), "w").write("x"))
def connect(port):
    s = socket.socket(); s.settimeout(2); s.connect(("127.0.0.1", port)); s.close()
attempt("connect_gateway", lambda: connect(GW_PORT))
attempt("replace_agent_socket", lambda: os.rename("/run/airlock/agent.sock", "/run/airlock/old.sock"))
attempt("plant_in_run_dir", lambda: open("/run/airlock/fake.sock", "w").write("x"))
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
res["uid"] = os.getuid()
res["capeff"] = status["CapEff"].strip()
res["capbnd"] = status["CapBnd"].strip()
res["nonewprivs"] = status.get("NoNewPrivs", "?").strip()
res["ifaces"] = sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys/class/net") else [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
res["routes"] = len(open("/proc/net/route").read().splitlines()) - 1
res["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
res["env_keys"] = sorted(os.environ)
found = []
for p in res["pids"]:
    for f in ("environ", "cmdline"):
        try:
            if SECRET.encode() in open(f"/proc/{p}/{f}", "rb").read():
                found.append(f"{p}/{f}")
        except Exception:
            pass
res["secret_in_proc"] = found
res["seccomp"] = status.get("Seccomp", "?").strip()
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
def raw(nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return [r, ctypes.get_errno()]
if platform.machine() == "x86_64":
    res["ptrace_traceme"] = raw(101, 0, 0, 0, 0)
    res["unshare_newuser"] = raw(272, 0x10000000)
    res["io_uring_setup"] = raw(425, 1, 0)
    res["keyctl"] = raw(250, 0, 0, 0, 0, 0)
res["mounts_rw"] = sorted(l.split()[1] for l in open("/proc/self/mounts") if " rw," in l or " rw " in l)
print(json.dumps(res))
"#;

#[test]
fn attacks_from_inside_the_sandbox_fail() {
    let gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let victim = api.session();
    let attacker = api.session();
    assert_eq!(
        stdout_of(&api.run(&victim, "bash", "echo private > secret.txt")),
        ""
    );
    let victim_ws = std::fs::read_dir(gw.sandboxes_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            victim.ends_with(
                &p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string(),
            )
        })
        .unwrap_or_else(|| panic!("victim sandbox dir"));
    let code = PROBE
        .replace("CONFIG", &format!("{:?}", gw.config.display().to_string()))
        .replace(
            "DB",
            &format!("{:?}", gw.dir.join("state/state.db").display().to_string()),
        )
        .replace(
            "OTHER",
            &format!("{:?}", victim_ws.join("workspace").display().to_string()),
        )
        .replace(
            "AUDIT",
            &format!("{:?}", gw.audit_file().display().to_string()),
        )
        .replace("GW_PORT", &gw.port.to_string())
        .replace("SECRET", &format!("{TEST_SECRET:?}"));
    let out = stdout_of(&api.run(&attacker, "python", &code));
    let res: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    for k in [
        "read_shadow",
        "read_config",
        "read_db",
        "read_other_ws",
        "read_audit",
        "write_usr",
        "write_etc",
        "write_root",
        "write_runtime",
        "connect_gateway",
        "replace_agent_socket",
        "plant_in_run_dir",
    ] {
        assert_ne!(res[k], "ALLOWED", "{k} succeeded: {res}");
    }
    assert_ne!(res["uid"], 0, "{res}");
    assert_eq!(res["capeff"], "0000000000000000", "{res}");
    assert_eq!(res["capbnd"], "0000000000000000", "{res}");
    assert_eq!(
        res["ifaces"],
        serde_json::json!(["lo"]),
        "only loopback in the sandbox: {res}"
    );
    assert_eq!(res["routes"], 0, "no routes out: {res}");
    // seccomp filter mode, and the syscalls it takes away answer EPERM (1).
    assert_eq!(res["seccomp"], "2", "{res}");
    if res.get("ptrace_traceme").is_some() {
        for k in [
            "ptrace_traceme",
            "unshare_newuser",
            "io_uring_setup",
            "keyctl",
        ] {
            assert_eq!(res[k], serde_json::json!([-1, 1]), "{k} not denied: {res}");
        }
    }
    assert_eq!(res["secret_in_proc"], serde_json::json!([]), "{res}");
    let env_keys: Vec<String> = serde_json::from_value(res["env_keys"].clone()).unwrap_or_default();
    assert!(
        env_keys.iter().all(|k| !k.starts_with("AIRLOCK")),
        "gateway environment leaked: {env_keys:?}"
    );
    // Only this sandbox's processes are visible (own pid namespace): the agent, the kernel, the probe.
    let pids = res["pids"].as_array().map(Vec::len).unwrap_or(0);
    assert!(pids <= 6, "{res}");
    // The only writable mounts are the workspace, the agent's run dir and private tmpfs.
    let rw: Vec<String> = serde_json::from_value(res["mounts_rw"].clone()).unwrap_or_default();
    for m in &rw {
        assert!(
            ["/workspace", "/run/airlock", "/tmp", "/dev", "/proc"]
                .iter()
                .any(|ok| m == ok || m.starts_with(&format!("{ok}/"))),
            "writable mount {m}: {rw:?}"
        );
    }
    // Nothing escaped onto the host, and the victim's file is intact and unread.
    for p in ["/usr/evil", "/etc/evil", "/evil"] {
        assert!(!std::path::Path::new(p).exists(), "{p} written on the host");
    }
    assert_eq!(
        stdout_of(&api.run(&victim, "bash", "cat secret.txt")),
        "private\n"
    );

    // The same from bash: a raw TCP connect to the gateway does not get through.
    let r = api.run(
        &attacker,
        "bash",
        &format!(
            "exec 3<>/dev/tcp/127.0.0.1/{} && echo CONNECTED || echo refused",
            gw.port
        ),
    );
    assert!(
        !r.body["stdout"]
            .as_str()
            .unwrap_or_default()
            .contains("CONNECTED"),
        "{}",
        r.body
    );
}
