//! The kernel gateway protocol as chat tools and agent frameworks speak it: REST to start a
//! kernel, then the websocket, authenticated with an OIDC token (`Authorization: token ...`)
//! or a personal access key.

use super::{mint_key, JupyterApi};
use crate::harness::{self, Gateway};
use airlock_tests::jupyter_client::{execute_content, first_png, KernelSocket, Refused};
use serde_json::json;
use std::time::Duration;

#[test]
fn a_personal_access_key_runs_governed_cells_that_keep_state_stream_and_plot() {
    let gw = Gateway::start();
    let alice = harness::token("alice-tool");
    let (key_id, secret) = mint_key(&gw, &alice, "agent framework");
    let jupyter = JupyterApi::of(&gw, &format!("token {secret}"));

    let specs = jupyter.get("/api/kernelspecs");
    assert_eq!(specs.status, 200, "{}", specs.body);
    assert_eq!(specs.body["default"], "python3");
    assert_eq!(
        specs.body["kernelspecs"]["python3"]["spec"]["language"],
        "python"
    );
    let kernel = jupyter.start_kernel("python3");
    assert_eq!(
        jupyter.get(&format!("/api/kernels/{kernel}")).body["execution_state"],
        "idle"
    );

    let mut ws =
        KernelSocket::connect(&jupyter.channels_url(&kernel), Some(&jupyter.authorization))
            .unwrap_or_else(|e| panic!("{e:?}"));
    let info = ws.request("shell", "kernel_info_request", json!({}), json!({}));
    assert_eq!(info.reply["content"]["status"], "ok", "{:?}", info.reply);
    assert_eq!(info.reply["content"]["language_info"]["name"], "python");

    // State between cells, and the count of each.
    let first = ws.execute("x = 20");
    assert_eq!(first.reply["content"]["status"], "ok", "{:?}", first.reply);
    let second = ws.execute("print(x + 1)");
    assert_eq!(second.stdout().trim(), "21", "{second:?}");
    assert_eq!(second.reply["content"]["execution_count"], 2);
    assert!(second.of_type("execute_input").count() == 1);

    // A failing cell aborts the cell queued behind it (stop_on_error), as a kernel does.
    let failing = ws.send(
        "shell",
        "execute_request",
        execute_content("import time\ntime.sleep(1)\n1/0"),
        json!({}),
    );
    let queued = ws.send(
        "shell",
        "execute_request",
        execute_content("print('never')"),
        json!({}),
    );
    let failed = ws.collect(&failing, Duration::from_secs(60));
    assert_eq!(
        failed.reply["content"]["ename"], "ZeroDivisionError",
        "{:?}",
        failed.reply
    );
    let aborted = ws.collect(&queued, Duration::from_secs(60));
    assert_eq!(
        aborted.reply["content"]["status"], "aborted",
        "{:?}",
        aborted.reply
    );
    assert_eq!(aborted.stdout(), "");

    // Printed text arrives as it is printed: the first line well before the cell ends.
    let slow = ws.execute(
        "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second', flush=True)",
    );
    let arrived = |text: &str| {
        slow.iopub
            .iter()
            .find(|(_, m)| {
                m["content"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(text))
            })
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("no {text:?} in {slow:?}"))
    };
    assert!(arrived("second").duration_since(arrived("first")) >= Duration::from_millis(1500));

    // A figure arrives as display_data with a PNG.
    let plot = ws.execute("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()");
    let png = first_png(&plot).unwrap_or_else(|| panic!("no PNG in {plot:?}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // A cell policy refuses: an error reply naming the denial, the violation and its hint.
    let denied = ws.execute("import requests\nrequests.get('https://example.com')");
    let c = &denied.reply["content"];
    assert_eq!(c["status"], "error", "{c}");
    assert_eq!(c["ename"], "PolicyDenied");
    assert!(
        c["evalue"]
            .as_str()
            .is_some_and(|v| v.contains("package_not_allowed")),
        "{c}"
    );
    assert_eq!(c["airlock"]["status"], "denied");
    assert_eq!(denied.of_type("error").count(), 1);

    // Interrupt through the REST API while a cell runs: it ends, the kernel goes on.
    let interrupted = super::interrupt_a_long_cell(&mut ws, &jupyter, &jupyter, &kernel);
    assert_eq!(interrupted.reply["content"]["status"], "error");
    assert_eq!(
        interrupted.reply["content"]["airlock"]["status"],
        "cancelled"
    );
    assert_eq!(ws.execute("print(x)").stdout().trim(), "20");

    // Restart: variables are gone.
    let r = jupyter.post(&format!("/api/kernels/{kernel}/restart"), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let gone = ws.execute("print(x)");
    assert_eq!(
        gone.reply["content"]["ename"], "NameError",
        "{:?}",
        gone.reply
    );
    assert_eq!(
        gone.reply["content"]["execution_count"], 1,
        "a restart counts from 1"
    );

    // Every cell was an execution of alice, through the key, on the Jupyter channel.
    let events = harness::audit_events(&gw.audit_file());
    let cells: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "execution.requested")
        .collect();
    assert!(cells.len() >= 8, "{}", cells.len());
    for e in &cells {
        let p = &e["data"]["principal"];
        assert_eq!(p["subject"], "alice-tool", "{e}");
        assert_eq!(p["via"]["protocol"], "jupyter", "{e}");
        assert_eq!(p["via"]["key"], key_id.as_str(), "{e}");
    }
    assert!(events.iter().any(|e| e["type"] == "access_key.used"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "session.kernel_restarted"));

    // A revoked key is refused at once: REST and websocket alike.
    let r = gw.api(&alice).delete(&format!("/v1/access-keys/{key_id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "revoked");
    let r = jupyter.get("/api/kernels");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["reason"], "invalid_access_key");
    assert!(matches!(
        KernelSocket::connect(&jupyter.channels_url(&kernel), Some(&jupyter.authorization)),
        Err(Refused::Status(401))
    ));
    // The websocket opened before the revocation stops at its next message.
    let closed = ws.closed_before_running("after");
    assert!(matches!(closed, Refused::Closed(1008, _)), "{closed:?}");

    // Shut down with the OIDC token in Jupyter's own scheme.
    let owner = JupyterApi::of(&gw, &format!("token {alice}"));
    assert_eq!(owner.delete(&format!("/api/kernels/{kernel}")).status, 204);
    assert_eq!(owner.get(&format!("/api/kernels/{kernel}")).status, 404);
}

#[test]
fn access_keys_are_shown_once_stored_hashed_expire_and_cannot_manage_keys() {
    let gw = Gateway::start();
    let alice = harness::token("alice-tool");
    let api = gw.api(&alice);
    let (id, secret) = mint_key(&gw, &alice, "laptop");
    assert!(secret.starts_with("alk_") && secret.len() > 60, "{secret}");

    let listed = api.get("/v1/access-keys");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["keys"][0]["id"], id.as_str());
    assert_eq!(listed.body["keys"][0]["status"], "active");
    assert!(
        !listed.body.to_string().contains(&secret),
        "a listing shows no secret"
    );

    // The key acts as alice on the REST API too, but cannot mint, list or revoke keys.
    let as_key = gw.api(&secret);
    assert_eq!(as_key.post("/v1/sessions", json!({})).status, 201);
    for r in [
        as_key.post("/v1/access-keys", json!({"name": "successor"})),
        as_key.get("/v1/access-keys"),
        as_key.delete(&format!("/v1/access-keys/{id}")),
    ] {
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(r.body["error"]["code"], "access_key_not_allowed");
    }
    // Another principal cannot revoke it; a made-up secret is refused.
    let bob = gw.api(&harness::token("bob-tool"));
    assert_eq!(bob.delete(&format!("/v1/access-keys/{id}")).status, 404);
    let forged = gw.api(&format!("alk_{}", "0".repeat(64)));
    let r = forged.get("/v1/sessions");
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "invalid_access_key");
    // Lifetimes past the maximum and bad names are refused.
    assert_eq!(
        api.post(
            "/v1/access-keys",
            json!({"name": "x", "expires_in_days": 91})
        )
        .status,
        400
    );
    assert_eq!(api.post("/v1/access-keys", json!({"name": ""})).status, 400);

    // Only the secret's SHA-256 reached the state database (and its WAL), the audit trail
    // and the log.
    let needle = secret.as_bytes();
    let files = std::fs::read_dir(gw.dir.join("state"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .chain([gw.dir.join("gateway.log")]);
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the secret is in {}",
            f.display()
        );
    }
    let audit = std::fs::read_to_string(gw.audit_file()).unwrap_or_default();
    assert!(audit.contains("access_key.created"));
}
