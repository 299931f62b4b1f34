//! Which URLs the gateway fetches from: checked by parsing, never by prefix
//! (`http://127.0.0.1.evil.example/` and `http://localhost:80@evil.example/` both start like a
//! loopback URL).

use std::net::IpAddr;

/// Ok when `raw` is an `https://` URL, or an `http://` URL whose host is loopback (`localhost`,
/// `127.0.0.0/8`, `::1`); never with credentials in it. The error says why, for the operator.
pub fn https_or_loopback(raw: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "{raw:?} carries credentials; give them another way"
        ));
    }
    let host = u.host().ok_or_else(|| format!("{raw:?} names no host"))?;
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!(
            "{raw:?} must be an https:// URL (plain http only on loopback)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_not_prefixed() {
        for ok in [
            "https://idp.example/realms/x",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/x",
            "http://[::1]:9000/",
            "https://10.0.0.1/",
        ] {
            assert!(https_or_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1.evil.example/jwks",
            "http://localhost:80@evil.example/",
            "http://localhost.evil.example/",
            "http://evil.example/",
            "https://user:pw@idp.example/",
            "ftp://localhost/",
            "file:///etc/passwd",
            "localhost:8080",
            "",
        ] {
            assert!(https_or_loopback(bad).is_err(), "{bad}");
        }
    }
}
