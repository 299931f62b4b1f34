//! What the kernel gateway refuses: another principal's kernels (not listed, not found, no
//! websocket, no interrupt), requests without a credential, a token in the URL where it is not
//! configured, and frames that are not messages of the protocol, which close the connection
//! with a code that says why and never disturb the gateway or another connection.

use super::JupyterApi;
use crate::harness::{self, Gateway};
use airlock_tests::jupyter_client::{execute_content, KernelSocket, Refused};
use serde_json::json;
use std::time::Duration;
use tungstenite::Message;

#[test]
fn another_principal_cannot_list_attach_to_or_interrupt_a_kernel() {
    let gw = Gateway::start();
    let alice = JupyterApi::of(&gw, &format!("Bearer {}", harness::token("alice-tool")));
    let bob = JupyterApi::of(&gw, &format!("token {}", harness::token("bob-tool")));
    let kernel = alice.start_kernel("python3");

    assert_eq!(alice.get("/api/kernels").body[0]["id"], kernel.as_str());
    assert_eq!(bob.get("/api/kernels").body, json!([]));
    for r in [
        bob.get(&format!("/api/kernels/{kernel}")),
        bob.post(&format!("/api/kernels/{kernel}/interrupt"), json!({})),
        bob.post(&format!("/api/kernels/{kernel}/restart"), json!({})),
        bob.delete(&format!("/api/kernels/{kernel}")),
    ] {
        assert_eq!(r.status, 404, "{}", r.body);
    }
    assert!(matches!(
        KernelSocket::connect(&bob.channels_url(&kernel), Some(&bob.authorization)),
        Err(Refused::Status(404))
    ));
    // No credential, a credential of an unknown kind, a token in the URL (not configured).
    let nobody = JupyterApi::of(&gw, "");
    assert_eq!(nobody.get("/api/kernels").status, 401);
    assert_eq!(
        JupyterApi::of(&gw, "Basic YWxpY2U6eA==").get("/api").status,
        401
    );
    let in_url = format!(
        "{}?token={}",
        alice.channels_url(&kernel),
        harness::token("alice-tool")
    );
    assert!(matches!(
        KernelSocket::connect(&in_url, None),
        Err(Refused::Status(401))
    ));
    // The token in the URL was never written to the log.
    assert!(!gw.log().contains(&harness::token("alice-tool")));

    // Alice's kernel is untouched.
    let mut ws = KernelSocket::connect(&alice.channels_url(&kernel), Some(&alice.authorization))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(ws.execute("print(1 + 1)").stdout().trim(), "2");

    // A kernel takes at most 16 websockets; a closed one gives its place back.
    let mut more: Vec<KernelSocket> = (1..16)
        .map(|_| {
            KernelSocket::connect(&alice.channels_url(&kernel), Some(&alice.authorization))
                .unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect();
    let seventeenth =
        KernelSocket::connect(&alice.channels_url(&kernel), Some(&alice.authorization));
    assert!(
        matches!(seventeenth, Err(Refused::Status(429))),
        "{:?}",
        seventeenth.err()
    );
    drop(more.pop());
    harness::wait_until(
        "a closed websocket gives its place back",
        Duration::from_secs(10),
        || {
            KernelSocket::connect(&alice.channels_url(&kernel), Some(&alice.authorization))
                .is_ok_and(|c| {
                    more.push(c);
                    true
                })
        },
    );
}

#[test]
fn bad_frames_close_the_connection_with_a_protocol_error_and_nothing_else() {
    let gw = Gateway::start_opts("", &[("AIRLOCK_JUPYTER__MAX_MESSAGE_BYTES", "65536")]);
    let alice = JupyterApi::of(&gw, &format!("Bearer {}", harness::token("alice-tool")));
    let kernel = alice.start_kernel("python3");
    let url = alice.channels_url(&kernel);
    let connect = || {
        KernelSocket::connect(&url, Some(&alice.authorization)).unwrap_or_else(|e| panic!("{e:?}"))
    };
    let closed_with = |mut ws: KernelSocket, m: Message| {
        ws.send_raw(m);
        loop {
            match ws.recv(Duration::from_secs(10)) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the connection stayed open"),
                Err(Refused::Closed(code, reason)) => return (code, reason),
                Err(other) => panic!("{other:?}"),
            }
        }
    };
    let header = |channel: &str| {
        json!({"header": {"msg_id": "m", "msg_type": "execute_request", "session": "s"},
               "parent_header": {}, "metadata": {}, "content": execute_content("1"), "channel": channel})
    };
    let cases = [
        ("not JSON", Message::text("{nope"), 1007),
        (
            "an unknown channel",
            Message::text(header("heartbeat").to_string()),
            1007,
        ),
        (
            "no header",
            Message::text(json!({"channel": "shell", "content": {}}).to_string()),
            1007,
        ),
        ("a binary frame", Message::binary(vec![0u8; 16]), 1003),
        ("a huge frame", Message::text("x".repeat(200_000)), 1009),
        (
            "a message on iopub",
            Message::text(header("iopub").to_string()),
            1008,
        ),
    ];
    for (what, frame, code) in cases {
        let (got, reason) = closed_with(connect(), frame);
        assert_eq!(got, code, "{what}: {reason}");
        assert!(!reason.is_empty(), "{what}: no reason given");
    }

    // A forged parent header and another session in the header change nothing: the reply
    // goes to the connection that asked, as a reply to what it sent. The kernel's other
    // connections (all the owner's) hear its iopub, as Jupyter kernels publish to every
    // client, never the reply, and never as a reply to their own requests.
    let mut a = connect();
    let mut b = connect();
    let id = a.send(
        "shell",
        "execute_request",
        execute_content("print('mine')"),
        json!({}),
    );
    let cell = a.collect(&id, Duration::from_secs(60));
    assert_eq!(cell.stdout().trim(), "mine");
    let forged = json!({
        "header": {"msg_id": "forged-1", "msg_type": "execute_request", "session": "someone-elses-session", "username": "root"},
        "parent_header": {"msg_id": id, "msg_type": "execute_request", "session": "victim"},
        "metadata": {}, "content": execute_content("print('forged')"), "channel": "shell"});
    b.send_raw(Message::text(forged.to_string()));
    let on_b = b.collect("forged-1", Duration::from_secs(60));
    assert_eq!(on_b.stdout().trim(), "forged");
    assert_eq!(on_b.reply["parent_header"]["msg_id"], "forged-1");
    // One kernel, one count: b's cell is the kernel's second.
    assert_eq!(on_b.reply["content"]["execution_count"], 2);
    let mut heard = vec![];
    while let Ok(Some(m)) = a.recv(Duration::from_secs(2)) {
        heard.push(m);
    }
    for m in &heard {
        assert_eq!(
            m["channel"], "iopub",
            "a got another connection's reply: {m}"
        );
        assert_eq!(m["parent_header"]["msg_id"], "forged-1", "{m}");
    }
    assert!(
        heard.iter().any(|m| m["content"]["text"] == "forged\n"),
        "the kernel's other connection did not hear its output: {heard:?}"
    );

    // Requests that would run kernel code outside an execution are refused with a reply.
    let complete = a.request(
        "shell",
        "complete_request",
        json!({"code": "import o", "cursor_pos": 8}),
        json!({}),
    );
    assert_eq!(complete.reply["content"]["status"], "error");
    assert_eq!(complete.reply["header"]["msg_type"], "complete_reply");
    let inspect = a.request(
        "shell",
        "inspect_request",
        json!({"code": "len", "cursor_pos": 3, "detail_level": 0}),
        json!({}),
    );
    assert_eq!(inspect.reply["content"]["status"], "error");
    // The gateway serves on.
    assert_eq!(
        harness::client()
            .get(format!("{}/healthz", gw.url))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0),
        200
    );
    assert_eq!(a.execute("print(6 * 7)").stdout().trim(), "42");
    let executions = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "execution.requested")
        .count();
    assert_eq!(executions, 3, "only the three real cells ran");
}

#[test]
fn a_websocket_stops_when_the_token_it_was_opened_with_expires() {
    let gw = Gateway::start();
    let oidc = harness::oidc();
    let alice = JupyterApi::of(&gw, &format!("Bearer {}", harness::token("alice-tool")));
    let kernel = alice.start_kernel("python3");
    // A token of the provider's one-second resource, used at once.
    let short = harness::token_from(&oidc.issuer, "alice-tool", "urn:airlock:short");
    let mut ws = KernelSocket::connect(
        &alice.channels_url(&kernel),
        Some(&format!("Bearer {short}")),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    std::thread::sleep(Duration::from_millis(2100));
    let closed = ws.closed_before_running("late");
    assert!(
        matches!(&closed, Refused::Closed(1008, why) if why.contains("expired")),
        "{closed:?}"
    );
    let cells = harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "execution.requested")
        .count();
    assert_eq!(cells, 0);
}
