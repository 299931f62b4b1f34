//! One proxied connection: parse, admit or refuse, relay, record.

use crate::tls::{client_hello_sni, Sni};
use airlock_gateway_domain::egress::{EgressGrant, EgressRecord};
use std::{collections::HashMap, net::IpAddr, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

const MAX_HEAD: usize = 16 << 10;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How the proxy reaches upstreams, and where the package index's files are.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// Name resolution overrides (split horizon, tests); others use the system resolver.
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

impl ProxyConfig {
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        if let Some(ip) = self.overrides.get(&host.to_ascii_lowercase()) {
            return TcpStream::connect((*ip, port)).await;
        }
        TcpStream::connect((host, port)).await
    }
}

async fn read_head<S: AsyncRead + Unpin>(client: &mut S, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(pos + 4);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once(']')?;
        let port = p
            .strip_prefix(':')
            .map_or(Some(default_port), |p| p.parse().ok())?;
        return Some((h.to_ascii_lowercase(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), p.parse().ok()?)),
        None => Some((s.to_ascii_lowercase(), default_port)),
    }
}

async fn refuse<S: AsyncWrite + Unpin>(
    client: &mut S,
    mut rec: EgressRecord,
    status: &str,
    reason: &str,
) -> EgressRecord {
    let body = format!("airlock egress proxy: {reason}\n");
    let resp = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nX-Airlock-Egress: {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = client.write_all(resp.as_bytes()).await;
    let _ = client.shutdown().await;
    rec.admitted = false;
    rec.reason = Some(reason.to_owned());
    rec
}

/// The request head's `Content-Length` (0 when absent or unreadable).
pub(crate) fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
}

/// Reads and drops the body a refused plain-HTTP request declared (bounded), so the refusal is
/// not lost: closing with unread bytes makes the kernel send a reset, which can destroy the
/// answer before the client has read it.
async fn drain_body<S: AsyncRead + Unpin>(
    client: &mut S,
    connect: bool,
    head: &str,
    buffered: usize,
) {
    if connect {
        return;
    }
    let mut left = content_length(head).saturating_sub(buffered).min(1 << 20);
    let mut sink = [0u8; 8192];
    while left > 0 {
        match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// Serves one client connection under `grant` (None: nothing is admitted).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    grant: Option<EgressGrant>,
    resolver: &ProxyConfig,
) -> EgressRecord {
    let mut buf = Vec::with_capacity(4096);
    let mut rec = EgressRecord {
        decision_id: grant.as_ref().map(|g| g.decision_id.clone()),
        ..Default::default()
    };
    let Some(head_len) = read_head(&mut client, &mut buf).await else {
        return refuse(&mut client, rec, "400 Bad Request", "bad_request").await;
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_ascii_uppercase(),
        parts.next().unwrap_or("").to_owned(),
    );
    rec.method = method.clone();
    let connect = method == "CONNECT";
    let (authority, path) = if connect {
        (target.clone(), String::new())
    } else if let Some(rest) = target.strip_prefix("http://") {
        match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.to_owned(), "/".to_owned()),
        }
    } else {
        return refuse(&mut client, rec, "400 Bad Request", "bad_request").await;
    };
    let Some((host, port)) = split_host_port(&authority, if connect { 443 } else { 80 }) else {
        return refuse(&mut client, rec, "400 Bad Request", "bad_request").await;
    };
    rec.host = host.clone();
    rec.port = port;
    if host == crate::index::INDEX_HOST && !connect {
        let json = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("accept:") && l.contains("application/vnd.pypi.simple.v1+json")
        });
        return crate::index::serve(client, rec, &method, &path, json, grant.as_ref(), resolver)
            .await;
    }
    if host == crate::sql::SQL_HOST && !connect {
        return crate::sql::serve(
            client,
            rec,
            &method,
            &path,
            &head,
            buf[head_len..].to_vec(),
            &resolver.sql,
            resolver.session_id.as_deref(),
        )
        .await;
    }
    let Some(grant) = grant else {
        drain_body(&mut client, connect, &head, buf.len() - head_len).await;
        return refuse(&mut client, rec, "403 Forbidden", "not_granted").await;
    };
    if !grant.admits(&host, port) {
        let reason = if host.parse::<IpAddr>().is_ok() {
            "raw_ip"
        } else {
            "not_granted"
        };
        drain_body(&mut client, connect, &head, buf.len() - head_len).await;
        return refuse(&mut client, rec, "403 Forbidden", reason).await;
    }
    if !connect
        && !grant
            .http_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&method))
    {
        drain_body(&mut client, connect, &head, buf.len() - head_len).await;
        return refuse(
            &mut client,
            rec,
            "405 Method Not Allowed",
            "method_not_allowed",
        )
        .await;
    }
    let mut rest = buf[head_len..].to_vec();
    // For plain HTTP the upstream is reached before answering; for CONNECT only after the
    // ClientHello names the granted host, so a refused tunnel never touches the upstream.
    let mut upstream = if connect {
        None
    } else {
        match resolver.connect(&host, port).await {
            Ok(u) => Some(u),
            Err(_) => {
                return refuse(&mut client, rec, "502 Bad Gateway", "upstream_unreachable").await
            }
        }
    };
    if connect {
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return rec;
        }
        // The first record must be a ClientHello naming the granted host.
        let mut chunk = [0u8; 4096];
        loop {
            match client_hello_sni(&rest) {
                Sni::Incomplete => {}
                Sni::Name(n) if n == host => break,
                Sni::Name(_) => return close(client, rec, "sni_mismatch").await,
                Sni::Absent if host.parse::<IpAddr>().is_ok() => break,
                Sni::Absent => return close(client, rec, "no_sni").await,
                Sni::NotTls => return close(client, rec, "not_tls").await,
            }
            match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 && rest.len() < MAX_HEAD => rest.extend_from_slice(&chunk[..n]),
                _ => return close(client, rec, "not_tls").await,
            }
        }
    } else {
        // Forward the request in origin form, without proxy headers.
        let mut out = format!("{method} {path} HTTP/1.1\r\n");
        for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
            let lower = line.to_ascii_lowercase();
            // One request per proxied connection: the upstream closes after answering, so a
            // second request cannot ride the admitted connection past the method check.
            if !lower.starts_with("proxy-")
                && !lower.starts_with("connection:")
                && !lower.starts_with("keep-alive:")
            {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut first = out.into_bytes();
        first.extend_from_slice(&rest);
        rest = first;
    }
    let mut upstream = match upstream.take() {
        Some(u) => u,
        None => match resolver.connect(&host, port).await {
            Ok(u) => u,
            Err(_) => return close(client, rec, "upstream_unreachable").await,
        },
    };
    rec.admitted = true;
    if upstream.write_all(&rest).await.is_err() {
        rec.reason = Some("upstream_unreachable".into());
        return rec;
    }
    rec.bytes_up = rest.len() as u64;
    if let Ok((up, down)) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        rec.bytes_up += up;
        rec.bytes_down = down;
    }
    rec
}

async fn close<S: AsyncWrite + Unpin>(
    mut client: S,
    mut rec: EgressRecord,
    reason: &str,
) -> EgressRecord {
    let _ = client.shutdown().await;
    rec.admitted = false;
    rec.reason = Some(reason.to_owned());
    rec
}

#[cfg(test)]
mod tests;
