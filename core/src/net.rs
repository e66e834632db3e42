//! Small value types for addresses and names, validated when made.
//!
//! [`MacAddr`] and [`IfName`] are `Copy` so routes, hops and plans that hold
//! them stay plain values; [`parse_cidr`] is the one place a user's CIDR text
//! becomes an [`Ipv4Network`], with errors that say what to type instead.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

pub use ipnetwork::Ipv4Network;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Parses `a.b.c.d/len` strictly: the prefix must be 0..=32 and no host bits
/// may be set (`10.244.1.5/16` is refused with the range it probably meant).
pub fn parse_cidr(input: &str) -> Result<Ipv4Network> {
    let bad = |reason: String| Error::InvalidCidr {
        input: input.to_string(),
        reason,
    };
    let text = input.trim();
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| bad("expected address/prefix, e.g. 10.244.0.0/16".into()))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| bad(format!("{addr:?} is not an IPv4 address")))?;
    let len: u8 = len
        .parse()
        .map_err(|_| bad(format!("prefix {len:?} is not a number from 0 to 32")))?;
    if len > 32 {
        return Err(bad(format!("prefix /{len} is longer than 32 bits")));
    }
    let net = Ipv4Network::new(addr, len).map_err(|e| bad(e.to_string()))?;
    if net.network() != addr {
        return Err(bad(format!(
            "host bits are set; did you mean {}/{len}?",
            net.network()
        )));
    }
    Ok(net)
}

/// Checks that `inner` lies wholly inside `outer`.
pub(crate) fn ensure_within(inner: Ipv4Network, outer: Ipv4Network) -> Result<()> {
    if inner.prefix() >= outer.prefix() && outer.contains(inner.network()) {
        Ok(())
    } else {
        Err(Error::Outside {
            what: inner.to_string(),
            outer,
        })
    }
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The first two bytes of every MAC on the pod network (pods and bridges).
    pub const POD_NETWORK_PREFIX: [u8; 2] = [0x0a, 0x58];
    /// The first two bytes of every MAC on the LAN (nodes and clients; QEMU's prefix).
    pub const LAN_PREFIX: [u8; 2] = [0x52, 0x54];
    /// Prefix of a node's VTEP MAC (locally administered, like the
    /// random MAC the kernel gives a VXLAN device).
    pub const VTEP_PREFIX: [u8; 2] = [0x0e, 0x50];

    /// A locally administered address derived from an IPv4 address: two
    /// prefix bytes and the four address bytes, so MACs are stable and readable.
    pub fn from_ip(prefix: [u8; 2], ip: Ipv4Addr) -> MacAddr {
        let o = ip.octets();
        MacAddr([prefix[0], prefix[1], o[0], o[1], o[2], o[3]])
    }

    /// The MAC of a pod's eth0 or a node bridge with address `ip`:
    /// `0a:58` + the address, as OVN-Kubernetes derives pod MACs. The model
    /// and podnet-cni both use it, so captured frames compare byte for byte.
    pub fn on_pod_network(ip: Ipv4Addr) -> MacAddr {
        MacAddr::from_ip(MacAddr::POD_NETWORK_PREFIX, ip)
    }

    /// The MAC of a node's or client's LAN interface with address `ip`
    /// (`52:54` + the address), in the model and in the lab alike.
    pub fn on_lan(ip: Ipv4Addr) -> MacAddr {
        MacAddr::from_ip(MacAddr::LAN_PREFIX, ip)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().unwrap_or("");
            *byte = u8::from_str_radix(part, 16)
                .ok()
                .filter(|_| part.len() == 2)
                .ok_or_else(|| Error::config("mac", format!("{s:?} is not aa:bb:cc:dd:ee:ff")))?;
        }
        if parts.next().is_some() {
            return Err(Error::config(
                "mac",
                format!("{s:?} has more than six bytes"),
            ));
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ less the NUL), no `/`,
/// no whitespace, not `.` or `..` — the kernel's own rule (`dev_valid_name`).
/// Stored inline so it is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName {
    len: u8,
    bytes: [u8; IfName::MAX_LEN],
}

impl IfName {
    /// The longest name the kernel accepts.
    pub const MAX_LEN: usize = 15;

    /// Validates and stores a name.
    pub fn new(name: &str) -> Result<IfName> {
        let bad = |reason: &str| Error::config("interface name", format!("{name:?} {reason}"));
        if name.is_empty() {
            return Err(bad("is empty"));
        }
        if name.len() > Self::MAX_LEN {
            return Err(bad(&format!(
                "is {} bytes long; Linux allows at most {}",
                name.len(),
                Self::MAX_LEN
            )));
        }
        if name == "." || name == ".." {
            return Err(bad("is reserved"));
        }
        if name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
        {
            return Err(bad("contains '/', ':', a NUL or whitespace"));
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(IfName {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from a &str in `new`, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IfName::new(s)
    }
}

impl Serialize for IfName {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IfName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IfName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// FNV-1a over parts separated by NUL: a stable, dependency-free name hash.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The host end of a pod's veth pair: `veth` + 8 hex digits of a hash of the
/// attachment (container id + interface). The CNI plugin and the model both
/// use this, so the name is known without any state, and DEL finds it even
/// when everything else is gone.
pub fn host_veth_name(container_id: &str, interface: &str) -> IfName {
    let h = fnv1a(&[container_id, interface]) as u32;
    ifname(&format!("veth{h:08x}"))
}

/// Shorthand for names written in the code itself, which are known valid.
pub(crate) fn ifname(name: &str) -> IfName {
    IfName::new(name).expect("built-in interface names are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_accepts_networks_and_refuses_the_rest() {
        assert_eq!(parse_cidr("10.244.0.0/16").unwrap().prefix(), 16);
        let e = parse_cidr("10.244.0.0/33").unwrap_err().to_string();
        assert!(e.contains("/33"), "{e}");
        let e = parse_cidr("10.244.1.5/16").unwrap_err().to_string();
        assert!(e.contains("did you mean 10.244.0.0/16"), "{e}");
        assert!(parse_cidr("10.244.0.0").is_err());
        assert!(parse_cidr("10.300.0.0/16").is_err());
        assert!(parse_cidr("10.244.0.0/x").is_err());
        assert!(parse_cidr("").is_err());
    }

    #[test]
    fn ifname_follows_the_kernel_rule() {
        assert_eq!(IfName::new("eth0").unwrap().as_str(), "eth0");
        assert!(IfName::new("fifteen-chars-x").is_ok());
        assert!(IfName::new("sixteen-chars-xx").is_err());
        assert!(IfName::new("").is_err());
        assert!(IfName::new("a/b").is_err());
        assert!(IfName::new("..").is_err());
    }

    #[test]
    fn mac_round_trips_through_text() {
        let m = MacAddr::on_pod_network(Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(m.to_string(), "0a:58:0a:f4:01:02");
        assert_eq!(m.to_string().parse::<MacAddr>().unwrap(), m);
        assert!("0a:58:0a:f4:01".parse::<MacAddr>().is_err());
        assert!("0a:58:0a:f4:01:02:03".parse::<MacAddr>().is_err());
        assert!("0a:58:0a:f4:01:zz".parse::<MacAddr>().is_err());
    }
}
