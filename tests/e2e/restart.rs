//! SIGKILL the gateway with live sessions; the next start leaves nothing orphaned.

use crate::harness::{self, stdout_of, Gateway};
use std::time::{Duration, Instant};

fn processes_under(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle)
            && (cmd.contains("bwrap") || cmd.contains("airlock-agent") || cmd.contains("ipykernel"))
        {
            out.push(cmd);
        }
    }
    out
}

#[test]
fn sigkill_leaves_nothing_behind_after_restart() {
    let mut gw = Gateway::start();
    let api = gw.api(&harness::token("alice-tool"));
    let a = api.session();
    let b = api.session();
    assert_eq!(stdout_of(&api.run(&a, "python", "x = 1; print(x)")), "1\n");
    assert!(
        processes_under(&gw.dir).len() >= 2,
        "sandboxes should be running"
    );
    let cgroups: Vec<String> = std::fs::read_dir(gw.sandboxes_dir())
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path().join("cgroups"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!cgroups.is_empty(), "cgroups recorded");

    gw.kill9();
    // bubblewrap's --die-with-parent takes the sandboxes down with the gateway.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_under(&gw.dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        processes_under(&gw.dir).is_empty(),
        "orphans after SIGKILL: {:?}",
        processes_under(&gw.dir)
    );

    gw.spawn();
    // Leftover workspaces and cgroups were reaped at start.
    assert_eq!(
        std::fs::read_dir(gw.sandboxes_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    for cg in &cgroups {
        assert!(
            !std::path::Path::new(cg).exists(),
            "cgroup {cg} left behind"
        );
    }
    for s in [&a, &b] {
        let r = api.get(&format!("/v1/sessions/{s}"));
        assert_eq!(r.body["status"], "lost", "{}", r.body);
        assert!(r.body["status_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("restarted"));
        let r = api.run(s, "python", "x");
        assert_eq!(r.body["error"]["code"], "session_not_active");
    }
    // New sessions work, and the audit chain continued across the crash.
    let c = api.session();
    assert_eq!(
        stdout_of(&api.run(&c, "python", "print('after')")),
        "after\n"
    );
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
    let lost = harness::audit_events(&gw.audit_file())
        .iter()
        .filter(|e| e["type"] == "session.lost")
        .count();
    assert_eq!(lost, 2);
    let _ = gw.pid();
}
