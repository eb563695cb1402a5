//! IPv4 ranges in CIDR notation.

use std::net::Ipv4Addr;

/// A range that cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `a.b.c.d/n`.
    #[error("{0:?} is not an IPv4 range like 192.168.1.0/24")]
    Syntax(String),
    /// Larger than a /16.
    #[error("/{0} is too large to scan (at most a /16, 65,536 addresses)")]
    TooLarge(u8),
}

/// The host addresses of a range (without network and broadcast addresses for /30 and
/// larger). A bare address is a /32.
pub fn hosts_in(cidr: &str) -> Result<Vec<Ipv4Addr>, CidrError> {
    let syntax = || CidrError::Syntax(cidr.to_string());
    let (ip, bits) = match cidr.split_once('/') {
        Some((ip, bits)) => (ip, bits.parse::<u8>().map_err(|_| syntax())?),
        None => (cidr, 32),
    };
    let ip: Ipv4Addr = ip.trim().parse().map_err(|_| syntax())?;
    if bits > 32 {
        return Err(syntax());
    }
    if bits < 16 {
        return Err(CidrError::TooLarge(bits));
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    let network = u32::from(ip) & mask;
    let size = 1u64 << (32 - bits);
    let (first, last) = if bits >= 31 {
        (0, size - 1)
    } else {
        (1, size - 2)
    };
    Ok((first..=last)
        .map(|i| Ipv4Addr::from(network + i as u32))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let h = hosts_in("192.168.1.77/24").expect("ok");
        assert_eq!(h.len(), 254);
        assert_eq!(h[0], Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(h[253], Ipv4Addr::new(192, 168, 1, 254));
        assert_eq!(
            hosts_in("10.0.0.5").expect("ok"),
            vec![Ipv4Addr::new(10, 0, 0, 5)]
        );
        assert_eq!(hosts_in("10.0.0.4/31").expect("ok").len(), 2);
        assert!(matches!(
            hosts_in("10.0.0.0/8"),
            Err(CidrError::TooLarge(8))
        ));
        for bad in ["", "10.0.0/24", "10.0.0.0/33", "x/24", "10.0.0.0/"] {
            assert!(matches!(hosts_in(bad), Err(CidrError::Syntax(_))), "{bad}");
        }
    }
}
