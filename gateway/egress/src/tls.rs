//! Reads the server name (SNI) from a TLS ClientHello.
//!
//! Hand-written (about 60 lines) rather than a TLS library: the proxy never terminates TLS, it
//! only needs the `server_name` extension of the first handshake record, and rustls offers no
//! parser for a ClientHello it does not serve.

#[derive(Debug, PartialEq, Eq)]
pub enum Sni {
    /// The ClientHello names this host.
    Name(String),
    /// A complete ClientHello without a server name.
    Absent,
    /// Not a TLS ClientHello.
    NotTls,
    /// More bytes are needed.
    Incomplete,
}

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(*b.get(i)?) << 8 | usize::from(*b.get(i + 1)?))
}

/// Parses the first TLS record of a connection.
pub fn client_hello_sni(b: &[u8]) -> Sni {
    if b.len() < 5 {
        return Sni::Incomplete;
    }
    if b[0] != 0x16 || b[1] != 0x03 {
        return Sni::NotTls;
    }
    let Some(rec_len) = u16_at(b, 3) else {
        return Sni::Incomplete;
    };
    if b.len() < 5 + rec_len {
        return Sni::Incomplete;
    }
    let hs = &b[5..5 + rec_len];
    if hs.first() != Some(&0x01) {
        return Sni::NotTls;
    }
    parse_hello(hs).unwrap_or(Sni::NotTls)
}

fn parse_hello(hs: &[u8]) -> Option<Sni> {
    // handshake header (4) + client_version (2) + random (32)
    let mut i = 4 + 2 + 32;
    let sid_len = usize::from(*hs.get(i)?);
    i += 1 + sid_len;
    let cs_len = u16_at(hs, i)?;
    i += 2 + cs_len;
    let comp_len = usize::from(*hs.get(i)?);
    i += 1 + comp_len;
    if i == hs.len() {
        return Some(Sni::Absent);
    }
    let ext_total = u16_at(hs, i)?;
    i += 2;
    let end = (i + ext_total).min(hs.len());
    while i + 4 <= end {
        let ty = u16_at(hs, i)?;
        let len = u16_at(hs, i + 2)?;
        let body = hs.get(i + 4..i + 4 + len)?;
        if ty == 0 {
            // server_name_list: u16 length, then (type u8, u16 len, name)
            let mut j = 2;
            while j + 3 <= body.len() {
                let kind = body[j];
                let n = u16_at(body, j + 1)?;
                let name = body.get(j + 3..j + 3 + n)?;
                if kind == 0 {
                    return Some(Sni::Name(
                        String::from_utf8_lossy(name).to_ascii_lowercase(),
                    ));
                }
                j += 3 + n;
            }
        }
        i += 4 + len;
    }
    Some(Sni::Absent)
}

/// A minimal ClientHello naming `host` (for tests of the proxy and of this parser).
pub fn build_client_hello(host: Option<&str>) -> Vec<u8> {
    let mut ext = vec![];
    if let Some(h) = host {
        let name = h.as_bytes();
        let mut sn = vec![];
        sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        sn.push(0);
        sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sn.extend_from_slice(name);
        ext.extend_from_slice(&0u16.to_be_bytes());
        ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sn);
    }
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_name() {
        let hello = build_client_hello(Some("API.Example.com"));
        assert_eq!(
            client_hello_sni(&hello),
            Sni::Name("api.example.com".into())
        );
        assert_eq!(client_hello_sni(&build_client_hello(None)), Sni::Absent);
        assert_eq!(client_hello_sni(&hello[..hello.len() - 3]), Sni::Incomplete);
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n\r\n"), Sni::NotTls);
        assert_eq!(client_hello_sni(&[0x16, 0x03]), Sni::Incomplete);
    }
}
