//! Where an admitted connection goes: the name is resolved once, every address it resolves to
//! is checked, and the proxy connects to the address checked (never resolving again, so DNS
//! cannot answer differently between the check and the connection). Loopback, private,
//! link-local, carrier-grade NAT, cloud metadata and other special addresses are refused unless
//! the destination was named explicitly: an IP literal the grant itself names, or a name the
//! operator pinned in `[egress] resolve` (split horizon).

use airlock_gateway_domain::egress::EgressRefusal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Cloud metadata and platform endpoints that sit in public ranges.
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(168, 63, 129, 16), // Azure WireServer
];

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT (Alibaba metadata 100.100.100.200)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || METADATA_V4.contains(&ip))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x2002 {
        // 6to4: the IPv4 address it tunnels to.
        return public_v4(embedded_v4(s[1], s[2]));
    }
    if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: the IPv4 address it translates to.
        return public_v4(embedded_v4(s[6], s[7]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || s[0..6] == [0; 6] // IPv4-compatible and other ::/96
        || (s[0] & 0xfe00) == 0xfc00 // unique local (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0)) // Teredo
}

/// Whether `ip` is an ordinary public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// Resolves `host` once and picks the address to connect to. `pinned`: the operator's
/// `[egress] resolve` entry for it. Errors are refusal reasons.
pub async fn destination(
    host: &str,
    port: u16,
    pinned: Option<IpAddr>,
) -> Result<SocketAddr, EgressRefusal> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        // A literal the grant named (the proxy admits literals only when granted as such).
        return Ok(SocketAddr::new(ip, port));
    }
    if let Some(ip) = pinned {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(a)) => a.collect(),
        _ => return Err(EgressRefusal::UpstreamUnreachable),
    };
    if addrs.is_empty() {
        return Err(EgressRefusal::UpstreamUnreachable);
    }
    // One special address among the answers refuses the name: the code does not get to pick
    // the one that works.
    if addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(EgressRefusal::PrivateAddress);
    }
    Ok(addrs[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn special_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "168.63.129.16",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2002:7f00:1::",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "2001::1",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "2002:5db8:d822::",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_and_pins_and_literals_are_explicit() {
        assert_eq!(
            destination("localhost", 80, None).await,
            Err(EgressRefusal::PrivateAddress)
        );
        let pinned = destination("svc.corp", 443, Some(ip("10.1.2.3"))).await;
        assert_eq!(pinned, Ok(SocketAddr::new(ip("10.1.2.3"), 443)));
        assert_eq!(
            destination("10.9.9.9", 443, None).await,
            Ok(SocketAddr::new(ip("10.9.9.9"), 443))
        );
        assert_eq!(
            destination("no-such-host.invalid", 80, None).await,
            Err(EgressRefusal::UpstreamUnreachable)
        );
    }
}
