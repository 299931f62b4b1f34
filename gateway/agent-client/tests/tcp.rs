//! The client over TCP (the pod transport) against a stand-in agent that speaks the protocol:
//! the envelope carries the session's token, and answers come back framed.

use airlock_gateway_agent_client::{AgentAddr, AgentClient};
use airlock_sandbox_protocol::{Conn, Envelope, Event, FailCode, Request, PROTOCOL_VERSION};

#[tokio::test]
async fn ping_and_a_refused_file_over_tcp_carry_the_token() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let agent = tokio::spawn(async move {
        let mut seen = vec![];
        for _ in 0..2 {
            let (sock, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let mut conn = Conn::new(sock);
            let env: Envelope = conn.recv_json().await.unwrap_or_else(|e| panic!("{e}"));
            let answer = match &env.request {
                Request::Ping => Event::Pong {
                    version: PROTOCOL_VERSION,
                    kernel_ready: true,
                },
                _ => Event::Failed {
                    code: FailCode::NotFound,
                    message: "no such file".into(),
                },
            };
            seen.push(env.token.clone());
            conn.send_json(&answer)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        seen
    });
    let client = AgentClient::new(AgentAddr::Tcp(addr), "session-token".into());
    assert_eq!(client.ping().await.ok(), Some(true));
    let path = airlock_gateway_domain::files::WorkspacePath::parse("missing.csv")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = client.read_file(&path, 10).await;
    assert!(
        matches!(
            r,
            Err(airlock_gateway_domain::ports::SandboxError::FileNotFound)
        ),
        "{r:?}"
    );
    assert_eq!(
        agent.await.unwrap_or_default(),
        ["session-token", "session-token"]
    );
    // Nothing listening: the sandbox is gone, not a protocol error.
    let gone = AgentClient::new(AgentAddr::Tcp(addr), "t".into())
        .ping()
        .await;
    assert!(
        matches!(
            gone,
            Err(airlock_gateway_domain::ports::SandboxError::Gone(_))
        ),
        "{gone:?}"
    );
}
