//! Held work, stdin and URL tokens through the kernel gateway: a cell policy holds for review
//! answers with the case to follow and runs once a reviewer approves it; `input()` is refused
//! cleanly; a `?token=` in the websocket URL works only where configured, and is never logged.

use super::JupyterApi;
use crate::harness::{self, Gateway};
use airlock_tests::jupyter_client::KernelSocket;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_held_cell_names_its_case_and_runs_when_approved_and_input_is_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
    });
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
            ("AIRLOCK_JUPYTER__ALLOW_QUERY_TOKEN", "true"),
        ],
    );
    let alice_token = harness::token("alice-tool");
    let alice = JupyterApi::of(&gw, &format!("Bearer {alice_token}"));
    let kernel = alice.start_kernel("python3");

    // Configured: the token in the URL is accepted, and appears nowhere in the log.
    let url = format!("{}?token={alice_token}", alice.channels_url(&kernel));
    let mut ws = KernelSocket::connect(&url, None).unwrap_or_else(|e| panic!("{e:?}"));

    let held = ws.execute("import numpy as np\nprint(int(np.arange(5).sum()))");
    let c = &held.reply["content"];
    assert_eq!(c["status"], "error", "{c}");
    assert_eq!(c["ename"], "PendingReview", "{c}");
    let case = c["airlock"]["case_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let exec = c["airlock"]["execution_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!case.is_empty(), "{c}");
    assert!(
        c["evalue"]
            .as_str()
            .is_some_and(|v| v.contains(&case) && v.contains(&exec)),
        "{c}"
    );
    assert_eq!(held.stdout(), "", "nothing ran");

    let rita = gw.api(&harness::token("rita-tool"));
    let r = rita.post(
        &format!("/v1/reviews/{case}/approve"),
        json!({"comment": "fine"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let owner = gw.api(&alice_token);
    let mut done = json!(null);
    harness::wait_until("the approved cell runs", Duration::from_secs(60), || {
        done = owner.get(&format!("/v1/executions/{exec}")).body;
        done["status"] == "succeeded"
    });
    assert_eq!(done["stdout"].as_str().map(str::trim), Some("10"), "{done}");

    // input(): the kernel's stdin is off, so the cell fails cleanly and the kernel goes on.
    let asked = ws.execute("name = input('who? ')");
    assert_eq!(asked.reply["content"]["status"], "error");
    assert_eq!(
        asked.reply["content"]["ename"], "StdinNotImplementedError",
        "{:?}",
        asked.reply
    );
    assert_eq!(
        ws.execute("print('still here')").stdout().trim(),
        "still here"
    );

    assert!(
        !gw.log().contains(&alice_token),
        "the URL's token is in the log"
    );
}
