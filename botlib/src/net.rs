//! Which addresses outbound requests made for bots may reach: the one list shared by the
//! scripts' HTTP guard and the knowledge bases' website crawler, so the two can never
//! disagree about what "private" means.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is not a public unicast address: loopback, private (10/8, 172.16/12,
/// 192.168/16), link-local (169.254/16, fe80::/10), unique-local (fc00::/7), site-local
/// (fec0::/10), unspecified, "this network" (0/8), CGNAT (100.64/10), IETF protocol
/// assignments (192.0.0/24), benchmarking (198.18/15), reserved (240/4) and broadcast,
/// multicast, and IPv6 addresses embedding one of those IPv4 addresses (IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xfe00) == 0xfc00
        || (s[..6] == [0; 6] && forbidden_v4(embedded(s[6], s[7])))
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] && forbidden_v4(embedded(s[6], s[7])))
        // NAT64 local-use prefix (RFC 8215): translated by a local gateway.
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 0x0001)
        || (s[0] == 0x2002 && forbidden_v4(embedded(s[1], s[2])))
}

/// Whether `host` is a `localhost` name (`localhost`, `*.localhost`, any case, with or
/// without the trailing dot); these are refused by name, before any resolution.
pub fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_embedded_private_addresses_are_forbidden() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "fd00::1",
        ] {
            assert!(is_forbidden_ip(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111", "64:ff9b::5db8:d822"] {
            assert!(!is_forbidden_ip(a.parse().unwrap()), "{a}");
        }
        assert!(is_localhost_name("A.LocalHost.") && !is_localhost_name("localhost.example.com"));
    }
}
