//! One proxied connection: parse the head, admit or refuse, resolve once, connect to the
//! address checked, relay exactly what was admitted, count what passed.

use crate::{
    head::{self, HeadError, RequestHead},
    tls::{client_hello_sni, Sni},
};
use airlock_gateway_domain::egress::{EgressGrant, EgressRecord, EgressRefusal};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the proxy reaches upstreams, and where the package index's files are.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// Names pinned by the operator (split horizon, tests): connected to as given, private
    /// addresses included; every other name is resolved and checked.
    pub overrides: HashMap<String, IpAddr>,
    /// The wheelhouse the package index serves granted files from (None: it serves nothing).
    pub wheelhouse: Option<std::path::PathBuf>,
    /// A PyPI-compatible simple index that approved files missing from the wheelhouse are
    /// fetched from (verified against the policy hash, then cached in the wheelhouse).
    pub mirror: Option<String>,
    pub http: reqwest::Client,
    /// Where `sql.airlock` requests go (set once the gateway is built).
    pub sql: crate::sql::SqlHook,
    /// The session this proxy serves (set per sandbox).
    pub session_id: Option<String>,
}

/// Reads until a complete head, within [`HEAD_TIMEOUT`] and [`head::MAX_HEAD`].
async fn read_head<S: AsyncRead + Unpin>(
    client: &mut S,
    buf: &mut Vec<u8>,
) -> Result<RequestHead, HeadError> {
    let mut chunk = [0u8; 4096];
    loop {
        match head::parse(buf) {
            Err(HeadError::Incomplete) => {}
            other => return other,
        }
        let n = match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return Err(HeadError::Malformed("the request head did not arrive")),
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn refuse<S: AsyncWrite + Unpin>(
    client: &mut S,
    rec: &mut EgressRecord,
    status: &str,
    reason: EgressRefusal,
) {
    let body = format!("airlock egress proxy: {reason}\n");
    let resp = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nX-Airlock-Egress: {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = client.write_all(resp.as_bytes()).await;
    let _ = client.shutdown().await;
    rec.admitted = false;
    rec.reason = Some(reason);
}

/// Reads and drops the body a refused plain-HTTP request declared (bounded), so the refusal is
/// not lost: closing with unread bytes makes the kernel send a reset, which can destroy the
/// answer before the client has read it.
async fn drain_body<S: AsyncRead + Unpin>(client: &mut S, head: &RequestHead, buffered: usize) {
    let mut left = usize::try_from(head.content_length)
        .unwrap_or(usize::MAX)
        .saturating_sub(buffered)
        .min(1 << 20);
    let mut sink = [0u8; 8192];
    while left > 0 {
        match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// Serves one client connection under `grant` (None: nothing is admitted), keeping `rec`
/// current as it goes (the caller records it however the connection ends). `settling` is set
/// once the connection is ending by itself: only the upstream's answer is left to pass (the
/// client closed its side of a tunnel, or a plain request is sent) (see [`crate::Epoch::close`]).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    grant: Option<&EgressGrant>,
    cfg: &ProxyConfig,
    rec: &mut EgressRecord,
    settling: &AtomicBool,
) {
    let mut buf = Vec::with_capacity(4096);
    let head = match read_head(&mut client, &mut buf).await {
        Ok(h) => h,
        Err(e) => {
            let status = match e {
                HeadError::TooLarge => "431 Request Header Fields Too Large",
                HeadError::HostMismatch => "403 Forbidden",
                _ => "400 Bad Request",
            };
            return refuse(&mut client, rec, status, e.reason()).await;
        }
    };
    rec.method = head.method.clone();
    rec.host = head.host.clone();
    rec.port = head.port;
    let rest = buf.split_off(head.len);
    if !head.connect && head.host == crate::index::INDEX_HOST {
        *rec = crate::index::serve(
            client,
            rec.clone(),
            &head.method,
            &head.path,
            head.accepts_pypi_json,
            grant,
            cfg,
        )
        .await;
        return;
    }
    if !head.connect && head.host == crate::sql::SQL_HOST {
        *rec = crate::sql::serve(
            client,
            rec.clone(),
            &head.method,
            &head.path,
            head.content_length,
            rest,
            &cfg.sql,
            cfg.session_id.as_deref(),
        )
        .await;
        return;
    }
    if let Err((status, reason)) = admit(&head, grant) {
        if !head.connect {
            drain_body(&mut client, &head, rest.len()).await;
        }
        return refuse(&mut client, rec, status, reason).await;
    }
    let dest = match crate::resolve::destination(
        &head.host,
        head.port,
        cfg.overrides.get(&head.host).copied(),
    )
    .await
    {
        Ok(d) => d,
        Err(reason) => {
            let status = if reason == EgressRefusal::PrivateAddress {
                "403 Forbidden"
            } else {
                "502 Bad Gateway"
            };
            return refuse(&mut client, rec, status, reason).await;
        }
    };
    if head.connect {
        tunnel(client, &head, rest, dest, rec, settling).await;
    } else {
        forward(client, &head, rest, dest, rec, settling).await;
    }
}

/// Whether the grant admits the request: (status, reason) when not.
fn admit(
    head: &RequestHead,
    grant: Option<&EgressGrant>,
) -> Result<(), (&'static str, EgressRefusal)> {
    let Some(grant) = grant else {
        return Err(("403 Forbidden", EgressRefusal::NotGranted));
    };
    if !grant.admits(&head.host, head.port) {
        let literal = head.host.parse::<IpAddr>().is_ok();
        return Err((
            "403 Forbidden",
            if literal {
                EgressRefusal::RawIp
            } else {
                EgressRefusal::NotGranted
            },
        ));
    }
    if !head.connect
        && !grant
            .http_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&head.method))
    {
        return Err(("405 Method Not Allowed", EgressRefusal::MethodNotAllowed));
    }
    Ok(())
}

async fn connect(dest: std::net::SocketAddr) -> Option<TcpStream> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
        Ok(Ok(s)) => Some(s),
        _ => None,
    }
}

/// CONNECT: the upstream is reached only after the first TLS record, a ClientHello, names the
/// granted host (SNI); then bytes pass both ways until either side ends.
async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    head: &RequestHead,
    mut rest: Vec<u8>,
    dest: std::net::SocketAddr,
    rec: &mut EgressRecord,
    settling: &AtomicBool,
) {
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut chunk = [0u8; 4096];
    loop {
        match client_hello_sni(&rest) {
            Sni::Incomplete => {}
            Sni::Name(n) if n == head.host => break,
            Sni::Absent if head.host.parse::<IpAddr>().is_ok() => break,
            other => {
                let reason = match other {
                    Sni::Name(_) => EgressRefusal::SniMismatch,
                    Sni::Absent => EgressRefusal::NoSni,
                    _ => EgressRefusal::NotTls,
                };
                let _ = client.shutdown().await;
                rec.reason = Some(reason);
                return;
            }
        }
        match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 && rest.len() < head::MAX_HEAD => {
                rest.extend_from_slice(&chunk[..n])
            }
            _ => {
                let _ = client.shutdown().await;
                rec.reason = Some(EgressRefusal::NotTls);
                return;
            }
        }
    }
    let Some(mut upstream) = connect(dest).await else {
        let _ = client.shutdown().await;
        rec.reason = Some(EgressRefusal::UpstreamUnreachable);
        return;
    };
    rec.admitted = true;
    if upstream.write_all(&rest).await.is_err() {
        rec.reason = Some(EgressRefusal::UpstreamUnreachable);
        return;
    }
    rec.bytes_up = rest.len() as u64;
    relay_both(&mut client, &mut upstream, rec, settling).await;
}

/// Plain HTTP: exactly the admitted request goes upstream (head in origin form without proxy
/// and hop-by-hop headers, `Connection: close`, and `Content-Length` bytes of body); nothing
/// the client sends after it is read, so no second request rides the connection. The answer
/// comes back until the upstream closes.
async fn forward<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    head: &RequestHead,
    mut rest: Vec<u8>,
    dest: std::net::SocketAddr,
    rec: &mut EgressRecord,
    settling: &AtomicBool,
) {
    let Some(mut upstream) = connect(dest).await else {
        drain_body(&mut client, head, rest.len()).await;
        return refuse(
            &mut client,
            rec,
            "502 Bad Gateway",
            EgressRefusal::UpstreamUnreachable,
        )
        .await;
    };
    let mut out = format!("{} {} HTTP/1.1\r\n", head.method, head.path).into_bytes();
    for (name, value) in &head.forward {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    let body_len = usize::try_from(head.content_length).unwrap_or(usize::MAX);
    rest.truncate(body_len);
    rec.admitted = true;
    if upstream.write_all(&out).await.is_err() || upstream.write_all(&rest).await.is_err() {
        rec.reason = Some(EgressRefusal::UpstreamUnreachable);
        return;
    }
    rec.bytes_up = (out.len() + rest.len()) as u64;
    let mut left = body_len - rest.len();
    let mut chunk = [0u8; 16384];
    while left > 0 {
        let want = left.min(chunk.len());
        match client.read(&mut chunk[..want]).await {
            Ok(n) if n > 0 => {
                if upstream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n;
                rec.bytes_up += n as u64;
            }
            _ => return,
        }
    }
    settling.store(true, Ordering::Release);
    loop {
        match upstream.read(&mut chunk).await {
            Ok(n) if n > 0 => {
                if client.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                rec.bytes_down += n as u64;
            }
            _ => break,
        }
    }
    let _ = client.shutdown().await;
}

/// Bytes both ways, counted as they pass (the record stays current if the connection is cut);
/// settling once the client (the code's side) has closed: from then on only the upstream's
/// answer can pass. An upstream that closes first does not settle it, or a granted host could
/// hold a connection open for the code to keep sending after its execution ended.
async fn relay_both<C, U>(
    client: &mut C,
    upstream: &mut U,
    rec: &mut EgressRecord,
    settling: &AtomicBool,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut up, mut down) = ([0u8; 16384], [0u8; 16384]);
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        tokio::select! {
            r = cr.read(&mut up), if client_open => match r {
                Ok(n) if n > 0 => {
                    if uw.write_all(&up[..n]).await.is_err() { break; }
                    rec.bytes_up += n as u64;
                }
                _ => {
                    client_open = false;
                    settling.store(true, Ordering::Release);
                    let _ = uw.shutdown().await;
                }
            },
            r = ur.read(&mut down), if upstream_open => match r {
                Ok(n) if n > 0 => {
                    if cw.write_all(&down[..n]).await.is_err() { break; }
                    rec.bytes_down += n as u64;
                }
                _ => { upstream_open = false; let _ = cw.shutdown().await; }
            },
        }
    }
}

#[cfg(test)]
mod tests;
