//! Jupyter Server (PyPI `jupyter-server`) started with `--gateway-url` pointing at Airlock and
//! its gateway client holding the user's token, driven through its own REST and websocket API
//! as JupyterLab drives it. Every cell reaches Airlock's pipeline under the user's identity.

use super::JupyterApi;
use crate::harness::{self, free_port, Gateway, KillOnDrop};
use airlock_tests::jupyter_client::{first_png, KernelSocket};
use serde_json::json;
use std::{process::Command, time::Duration};

const SERVER_TOKEN: &str = "jupyter-server-token-5b1c";

/// Jupyter Server on a free port, its kernels on `gw`'s kernel gateway API as `bearer`.
fn jupyter_server(gw: &Gateway, bearer: &str, dir: &std::path::Path) -> (KillOnDrop, String) {
    let port = free_port();
    let log =
        std::fs::File::create(dir.join("jupyter-server.log")).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(harness::python())
        .args(["-m", "jupyter_server"])
        .arg("--ServerApp.ip=127.0.0.1")
        .arg(format!("--ServerApp.port={port}"))
        .arg("--ServerApp.port_retries=0")
        .arg("--ServerApp.open_browser=False")
        // CI runs as root; the server runs no kernel of its own here.
        .arg("--allow-root")
        .arg(format!("--ServerApp.root_dir={}", dir.display()))
        .arg(format!("--IdentityProvider.token={SERVER_TOKEN}"))
        .arg(format!("--gateway-url={}/jupyter", gw.url))
        .arg("--GatewayClient.auth_scheme=Bearer")
        .arg(format!("--GatewayClient.auth_token={bearer}"))
        .arg("--GatewayClient.request_timeout=120")
        .env("HOME", dir)
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("JUPYTER_CONFIG_DIR", dir.join("config"))
        .env("JUPYTER_DATA_DIR", dir.join("data"))
        .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting jupyter_server: {e}"));
    let child = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = harness::client();
    harness::wait_until("Jupyter Server answers", Duration::from_secs(60), || {
        http.get(format!("{url}/api/status"))
            .header("authorization", format!("token {SERVER_TOKEN}"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    (child, url)
}

#[test]
fn jupyter_server_with_gateway_url_runs_governed_cells_in_airlock() {
    let gw = Gateway::start();
    let alice = harness::token("alice-tool");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (_server, url) = jupyter_server(&gw, &alice, dir.path());
    let lab = JupyterApi::at(&url, &format!("token {SERVER_TOKEN}"));

    let specs = lab.get("/api/kernelspecs");
    assert_eq!(specs.status, 200, "{}", specs.body);
    assert!(
        specs.body["kernelspecs"]["python3"].is_object(),
        "{}",
        specs.body
    );
    let kernel = lab.start_kernel("python3");
    // The kernel is an Airlock session of alice.
    let sid = super::session_of(&kernel);
    let session = gw.api(&alice).get(&format!("/v1/sessions/{sid}"));
    assert_eq!(session.status, 200, "{}", session.body);

    let mut ws = KernelSocket::connect(&lab.channels_url(&kernel), Some(&lab.authorization))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let info = ws.request("shell", "kernel_info_request", json!({}), json!({}));
    assert_eq!(
        info.reply["content"]["implementation"], "airlock",
        "{:?}",
        info.reply
    );

    assert_eq!(ws.execute("total = 40").reply["content"]["status"], "ok");
    assert_eq!(ws.execute("print(total + 2)").stdout().trim(), "42");
    let plot = ws.execute("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.show()");
    let png = first_png(&plot).unwrap_or_else(|| panic!("no PNG in {plot:?}"));
    assert_eq!(&png[..4], b"\x89PNG");

    let denied = ws.execute("import requests");
    assert_eq!(
        denied.reply["content"]["status"], "error",
        "{:?}",
        denied.reply
    );
    assert_eq!(denied.reply["content"]["ename"], "PolicyDenied");

    // Interrupt through Jupyter Server's REST API, as JupyterLab's stop button does.
    let airlock = JupyterApi::of(&gw, &format!("Bearer {alice}"));
    let stopped = super::interrupt_a_long_cell(&mut ws, &lab, &airlock, &kernel);
    assert_eq!(
        stopped.reply["content"]["status"], "error",
        "{:?}",
        stopped.reply
    );

    // Restart, then the variables are gone.
    let r = lab.post(&format!("/api/kernels/{kernel}/restart"), json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    drop(ws);
    let mut ws = KernelSocket::connect(&lab.channels_url(&kernel), Some(&lab.authorization))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(ws.execute("total").reply["content"]["ename"], "NameError");
    drop(ws);

    // Shut down: the Airlock session ends.
    assert_eq!(lab.delete(&format!("/api/kernels/{kernel}")).status, 204);
    let ended = gw.api(&alice).get(&format!("/v1/sessions/{sid}"));
    assert_eq!(ended.body["status"], "deleted", "{}", ended.body);

    // Airlock's audit shows each cell under alice, through the Jupyter channel.
    let events = harness::audit_events(&gw.audit_file());
    let cells: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "execution.requested")
        .collect();
    assert!(cells.len() >= 6, "{}", cells.len());
    for e in cells {
        assert_eq!(e["data"]["principal"]["subject"], "alice-tool", "{e}");
        assert_eq!(e["data"]["principal"]["via"]["protocol"], "jupyter", "{e}");
    }
    let denials = events
        .iter()
        .filter(|e| e["type"] == "policy.decided" && e["data"]["result"] == "deny")
        .count();
    assert!(denials >= 1);
}
