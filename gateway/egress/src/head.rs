//! The head of one proxied request, parsed with `httparse` (the parser hyper uses) and held to
//! what the proxy admits: a `CONNECT host:port` or an absolute-form `http://` request whose
//! `Host` header names exactly the target, with a body framed by at most one `Content-Length`
//! (no `Transfer-Encoding`: the proxy forwards exactly the admitted request and nothing after
//! it, so it must know where the request ends).

use airlock_gateway_domain::egress::EgressRefusal;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 << 10;
/// Most header lines accepted.
const MAX_HEADERS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Upper case.
    pub method: String,
    pub connect: bool,
    /// Lower case; an IPv6 literal without brackets.
    pub host: String,
    pub port: u16,
    /// Origin form (`/path?query`) for plain HTTP; empty for `CONNECT`.
    pub path: String,
    /// Header lines to forward (name, value), in order, without proxy and hop-by-hop headers.
    pub forward: Vec<(String, Vec<u8>)>,
    /// Bytes of body that follow the head.
    pub content_length: u64,
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// The client accepts PEP 691 JSON (the package index answers in kind).
    pub accepts_pypi_json: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the request head is incomplete")]
    Incomplete,
    #[error("the request head is larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("the Host header does not name the request's target")]
    HostMismatch,
}

impl HeadError {
    /// The reason recorded and answered in `X-Airlock-Egress`.
    pub fn reason(&self) -> EgressRefusal {
        match self {
            Self::HostMismatch => EgressRefusal::HostMismatch,
            _ => EgressRefusal::BadRequest,
        }
    }
}

/// `host[:port]` (IPv6 in brackets) with `default_port` when none is given.
pub fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match p {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        (h, port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (s, default_port),
        }
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    (ok && port != 0).then(|| (host.to_ascii_lowercase(), port))
}

/// Parses the head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<RequestHead, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Err(HeadError::Incomplete),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::Malformed("too many headers"))
        }
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1 request")),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method = req.method.unwrap_or_default().to_ascii_uppercase();
    let target = req.path.unwrap_or_default();
    let connect = method == "CONNECT";
    let (authority, path) = if connect {
        (target, String::new())
    } else {
        let rest = target.strip_prefix("http://").ok_or(HeadError::Malformed(
            "a plain-HTTP request must use an absolute http:// URL",
        ))?;
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        }
    };
    if authority.contains('@') {
        return Err(HeadError::Malformed("credentials in the request target"));
    }
    let default_port = if connect { 0 } else { 80 };
    let (host, port) = split_host_port(authority, default_port)
        .ok_or(HeadError::Malformed("bad target host or port"))?;
    let mut host_headers = vec![];
    let mut content_length: Option<u64> = None;
    let mut forward = vec![];
    let mut accepts_pypi_json = false;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => host_headers.push(h.value),
            "transfer-encoding" => {
                return Err(HeadError::Malformed("Transfer-Encoding is not supported"))
            }
            "content-length" => {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .map(str::trim)
                    .unwrap_or("");
                let n = v
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
                    .ok_or(HeadError::Malformed("bad Content-Length"))?;
                if content_length.replace(n).is_some() {
                    return Err(HeadError::Malformed("more than one Content-Length"));
                }
            }
            "accept" => {
                accepts_pypi_json |= String::from_utf8_lossy(h.value)
                    .to_ascii_lowercase()
                    .contains("application/vnd.pypi.simple.v1+json");
            }
            _ => {}
        }
        if !(name.starts_with("proxy-")
            || matches!(
                name.as_str(),
                "connection" | "keep-alive" | "upgrade" | "te" | "trailer"
            ))
        {
            forward.push((h.name.to_owned(), h.value.to_vec()));
        }
    }
    // The Host header must name the target itself (a virtual host behind a granted address
    // is another destination); CONNECT may omit it.
    match host_headers.as_slice() {
        [] if connect => {}
        [one] => {
            let text = std::str::from_utf8(one).map_err(|_| HeadError::HostMismatch)?;
            let default = if connect { port } else { 80 };
            if split_host_port(text.trim(), default) != Some((host.clone(), port)) {
                return Err(HeadError::HostMismatch);
            }
        }
        _ => return Err(HeadError::HostMismatch),
    }
    if connect && content_length.unwrap_or(0) > 0 {
        return Err(HeadError::Malformed("CONNECT with a body"));
    }
    Ok(RequestHead {
        method,
        connect,
        host,
        port,
        path,
        forward,
        content_length: content_length.unwrap_or(0),
        len,
        accepts_pypi_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<RequestHead, HeadError> {
        parse(s.as_bytes())
    }

    #[test]
    fn connect_and_absolute_form_requests() {
        let h = p("CONNECT Example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (h.connect, h.host.as_str(), h.port, h.path.as_str()),
            (true, "example.org", 443, "")
        );
        let h = p("GET http://a.test:8080/x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nProxy-Authorization: z\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (h.host.as_str(), h.port, h.path.as_str()),
            ("a.test", 8080, "/x?y=1")
        );
        let names: Vec<&str> = h.forward.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "Accept"]);
        let h = p("GET http://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((h.host.as_str(), h.port), ("::1", 80));
    }

    #[test]
    fn the_host_header_must_name_the_target() {
        for bad in [
            "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nHost: a.test:81\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\n\r\n",
            "CONNECT a.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\n",
        ] {
            assert_eq!(p(bad).map(|_| ()), Err(HeadError::HostMismatch), "{bad}");
        }
    }

    #[test]
    fn smuggling_and_garbage_are_refused() {
        for bad in [
            "GET /relative HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET http://user:pw@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: -1\r\n\r\n",
            "GET http://a b/ HTTP/1.1\r\nHost: a b\r\n\r\n",
            "CONNECT a.test HTTP/1.1\r\n\r\n",
            "CONNECT a.test:0 HTTP/1.1\r\n\r\n",
            "\u{0}\u{1}\r\n\r\n",
        ] {
            assert!(matches!(p(bad), Err(HeadError::Malformed(_))), "{bad:?}: {:?}", p(bad));
        }
        assert_eq!(
            p("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n"),
            Err(HeadError::Incomplete)
        );
        let huge = format!(
            "GET http://a.test/ HTTP/1.1\r\nX: {}\r\n",
            "x".repeat(MAX_HEAD)
        );
        assert_eq!(p(&huge), Err(HeadError::TooLarge));
    }
}
