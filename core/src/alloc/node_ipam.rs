//! A node range → pod addresses, as the CNI `host-local` IPAM plugin does.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::bitmap::Bitmap;
use crate::error::{Error, Result};

/// Who holds an address: the CNI key (container id + interface name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AllocKey {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
}

impl AllocKey {
    /// A key from its two parts.
    pub fn new(container_id: impl Into<String>, ifname: impl Into<String>) -> AllocKey {
        AllocKey {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }
}

/// One address and its holder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Allocation {
    /// The pod address.
    pub ip: Ipv4Addr,
    /// Its holder.
    #[serde(flatten)]
    pub key: AllocKey,
}

/// What a node's IPAM hands out; field names follow host-local's range config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpamConfig {
    /// The node's pod range.
    pub subnet: Ipv4Network,
    /// The bridge's address; defaults to the first host address (.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// First address to hand out; defaults to the first host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<Ipv4Addr>,
    /// Last address to hand out; defaults to the last host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<Ipv4Addr>,
    /// Addresses never handed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<Ipv4Addr>,
}

impl IpamConfig {
    /// Defaults for a subnet: gateway .1, the whole host range.
    pub fn new(subnet: Ipv4Network) -> IpamConfig {
        IpamConfig {
            subnet,
            gateway: None,
            range_start: None,
            range_end: None,
            reserved: Vec::new(),
        }
    }

    /// The bridge's address: the one given, else the subnet's first host (.1).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
            .unwrap_or_else(|| Ipv4Addr::from(u32::from(self.subnet.network()).wrapping_add(1)))
    }
}

/// Pod address allocation within one node range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NodeIpamState", into = "NodeIpamState")]
pub struct NodeIpam {
    config: IpamConfig,
    gateway: Ipv4Addr,
    /// First address of the window `used` covers.
    base: u32,
    /// One bit per address in range_start..=range_end; gateway and reserved
    /// addresses are set from the start so the search never lands on them.
    used: Bitmap,
    blocked: u32,
    /// FxHash: container ids are not attacker-chosen on a node, and SipHash
    /// over 64-byte ids was most of the cost of allocating at scale.
    by_key: FxHashMap<AllocKey, Ipv4Addr>,
    /// host-local's "last reserved IP": the search resumes after it, so a
    /// freed address is not reused at once (a recreated pod gets a new one).
    last: Option<u32>,
}

/// The serialized form of a [`NodeIpam`]: config plus a sorted list, validated on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIpamState {
    /// The range configuration.
    pub config: IpamConfig,
    /// Every allocation, by address.
    pub allocations: Vec<Allocation>,
    /// The address handed out last.
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl NodeIpam {
    /// Validates the config and starts with nothing allocated.
    pub fn new(config: IpamConfig) -> Result<NodeIpam> {
        let subnet = config.subnet;
        if subnet.ip() != subnet.network() {
            return Err(Error::config(
                "subnet",
                format!(
                    "{subnet} has host bits set; did you mean {}/{}?",
                    subnet.network(),
                    subnet.prefix()
                ),
            ));
        }
        if subnet.prefix() > 30 {
            return Err(Error::config(
                "subnet",
                format!("{subnet} leaves no room for a gateway and a pod (use /30 or shorter)"),
            ));
        }
        let network = u32::from(subnet.network());
        let broadcast = u32::from(subnet.broadcast());
        let host = |field: &str, ip: Ipv4Addr| -> Result<u32> {
            let v = u32::from(ip);
            if v <= network || v >= broadcast {
                Err(Error::config(
                    field,
                    format!(
                        "{ip} is not a host address of {subnet} ({}..{})",
                        Ipv4Addr::from(network + 1),
                        Ipv4Addr::from(broadcast - 1)
                    ),
                ))
            } else {
                Ok(v)
            }
        };
        let gateway = config.gateway();
        host("gateway", gateway)?;
        let start = match config.range_start {
            Some(ip) => host("rangeStart", ip)?,
            None => network + 1,
        };
        let end = match config.range_end {
            Some(ip) => host("rangeEnd", ip)?,
            None => broadcast - 1,
        };
        if start > end {
            return Err(Error::config(
                "rangeStart",
                format!(
                    "{} is after rangeEnd {}",
                    Ipv4Addr::from(start),
                    Ipv4Addr::from(end)
                ),
            ));
        }
        let mut used = Bitmap::new(end - start + 1);
        let mut blocked = 0;
        for ip in std::iter::once(gateway).chain(config.reserved.iter().copied()) {
            let v = u32::from(ip);
            if !subnet.contains(ip) {
                return Err(Error::config(
                    "reserved",
                    format!("{ip} is outside {subnet}"),
                ));
            }
            if (start..=end).contains(&v) && used.set(v - start) {
                blocked += 1;
            }
        }
        if blocked == used.len() {
            return Err(Error::config(
                "rangeStart",
                format!(
                    "{}..{} holds no address besides the gateway and reserved ones",
                    Ipv4Addr::from(start),
                    Ipv4Addr::from(end)
                ),
            ));
        }
        let room = (used.len() - blocked).min(128) as usize;
        Ok(NodeIpam {
            config,
            gateway,
            base: start,
            used,
            blocked,
            // Kubernetes' default max-pods is 110: reserve that much up front
            // (never more than the range holds) to skip the rehashes.
            by_key: FxHashMap::with_capacity_and_hasher(room, Default::default()),
            last: None,
        })
    }

    /// Defaults for a subnet (gateway .1, whole host range).
    pub fn for_subnet(subnet: Ipv4Network) -> Result<NodeIpam> {
        NodeIpam::new(IpamConfig::new(subnet))
    }

    /// The configuration it was made from.
    pub fn config(&self) -> &IpamConfig {
        &self.config
    }

    /// The node range.
    pub fn subnet(&self) -> Ipv4Network {
        self.config.subnet
    }

    /// The gateway (bridge) address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// How many addresses can be handed out in all.
    pub fn capacity(&self) -> u32 {
        self.used.len() - self.blocked
    }

    /// How many are handed out.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when nothing is handed out.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Hands the next free address to `key`.
    pub fn allocate(&mut self, key: AllocKey) -> Result<Ipv4Addr> {
        self.refuse_repeat(&key)?;
        let from = self.last.map_or(0, |l| l + 1);
        let index = self.used.next_clear(from).ok_or(Error::RangeExhausted {
            range: self.config.subnet,
            capacity: self.capacity(),
        })?;
        self.used.set(index);
        self.last = Some(index);
        let ip = Ipv4Addr::from(self.base + index);
        self.by_key.insert(key, ip);
        Ok(ip)
    }

    /// Hands a chosen address to `key` (CNI `ips` argument, or a restore).
    pub fn allocate_ip(&mut self, key: AllocKey, ip: Ipv4Addr) -> Result<()> {
        self.refuse_repeat(&key)?;
        let index = self.index_of(ip)?;
        if let Some(holder) = self.holder(ip) {
            return Err(Error::AddressInUse {
                ip,
                container_id: holder.container_id.clone(),
            });
        }
        if !self.used.set(index) {
            let reason = if ip == self.gateway {
                "it is the gateway"
            } else {
                "it is reserved"
            };
            return Err(Error::Unusable {
                ip,
                reason: reason.into(),
            });
        }
        self.by_key.insert(key, ip);
        Ok(())
    }

    fn refuse_repeat(&self, key: &AllocKey) -> Result<()> {
        match self.by_key.get(key) {
            Some(&ip) => Err(Error::AlreadyAllocated {
                container_id: key.container_id.clone(),
                ifname: key.ifname.clone(),
                ip,
            }),
            None => Ok(()),
        }
    }

    fn index_of(&self, ip: Ipv4Addr) -> Result<u32> {
        let v = u32::from(ip);
        if v < self.base || v - self.base >= self.used.len() {
            return Err(Error::Unusable {
                ip,
                reason: format!(
                    "outside the allocatable range {}..{} of {}",
                    Ipv4Addr::from(self.base),
                    Ipv4Addr::from(self.base + self.used.len() - 1),
                    self.config.subnet
                ),
            });
        }
        Ok(v - self.base)
    }

    /// Frees the address held by `key` and returns it.
    pub fn release(&mut self, key: &AllocKey) -> Result<Ipv4Addr> {
        let ip = self.by_key.remove(key).ok_or_else(|| Error::NotAllocated {
            what: format!(
                "container {:?} interface {:?}",
                key.container_id, key.ifname
            ),
        })?;
        let index = self.index_of(ip)?;
        self.used.clear(index);
        Ok(ip)
    }

    /// Frees an address by value and returns its holder.
    pub fn release_ip(&mut self, ip: Ipv4Addr) -> Result<AllocKey> {
        let key = self
            .holder(ip)
            .cloned()
            .ok_or_else(|| Error::NotAllocated {
                what: ip.to_string(),
            })?;
        self.release(&key)?;
        Ok(key)
    }

    /// The address `key` holds.
    pub fn get(&self, key: &AllocKey) -> Option<Ipv4Addr> {
        self.by_key.get(key).copied()
    }

    /// Who holds `ip`. Linear: only lookups by key are on a hot path.
    pub fn holder(&self, ip: Ipv4Addr) -> Option<&AllocKey> {
        self.by_key.iter().find(|(_, &v)| v == ip).map(|(k, _)| k)
    }

    /// Every allocation, by address.
    pub fn allocations(&self) -> Vec<Allocation> {
        let mut all: Vec<Allocation> = self
            .by_key
            .iter()
            .map(|(key, &ip)| Allocation {
                ip,
                key: key.clone(),
            })
            .collect();
        all.sort();
        all
    }
}

impl From<NodeIpam> for NodeIpamState {
    fn from(n: NodeIpam) -> Self {
        NodeIpamState {
            allocations: n.allocations(),
            last: n.last.map(|l| Ipv4Addr::from(n.base + l)),
            config: n.config,
        }
    }
}

impl TryFrom<NodeIpamState> for NodeIpam {
    type Error = Error;
    fn try_from(s: NodeIpamState) -> Result<Self> {
        let mut n = NodeIpam::new(s.config)?;
        for a in s.allocations {
            n.allocate_ip(a.key, a.ip)?;
        }
        n.last = match s.last {
            Some(ip) => Some(n.index_of(ip)?),
            None => None,
        };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_cidr;

    fn ipam(s: &str) -> NodeIpam {
        NodeIpam::for_subnet(parse_cidr(s).unwrap()).unwrap()
    }

    fn key(id: &str) -> AllocKey {
        AllocKey::new(id, "eth0")
    }

    #[test]
    fn skips_network_gateway_and_broadcast() {
        let mut n = ipam("10.244.1.0/30");
        assert_eq!(n.capacity(), 1);
        assert_eq!(n.allocate(key("a")).unwrap(), Ipv4Addr::new(10, 244, 1, 2));
        assert!(matches!(
            n.allocate(key("b")),
            Err(Error::RangeExhausted { .. })
        ));
        let mut n = ipam("10.244.1.0/24");
        assert_eq!(n.capacity(), 253);
        let all: Vec<_> = (0..253)
            .map(|i| n.allocate(key(&i.to_string())).unwrap())
            .collect();
        assert!(!all.contains(&Ipv4Addr::new(10, 244, 1, 0)));
        assert!(!all.contains(&Ipv4Addr::new(10, 244, 1, 1)));
        assert!(!all.contains(&Ipv4Addr::new(10, 244, 1, 255)));
    }

    #[test]
    fn a_repeat_is_detected_and_release_is_by_key() {
        let mut n = ipam("10.244.1.0/24");
        let ip = n.allocate(key("a")).unwrap();
        assert!(
            matches!(n.allocate(key("a")), Err(Error::AlreadyAllocated { ip: got, .. }) if got == ip)
        );
        assert!(n.allocate(AllocKey::new("a", "net1")).is_ok());
        assert_eq!(n.release(&key("a")).unwrap(), ip);
        assert!(matches!(
            n.release(&key("a")),
            Err(Error::NotAllocated { .. })
        ));
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn a_recreated_pod_gets_a_new_address() {
        let mut n = ipam("10.244.0.0/24");
        let first = n.allocate(key("web-1")).unwrap();
        n.release(&key("web-1")).unwrap();
        let again = n.allocate(key("web-2")).unwrap();
        assert_ne!(first, again);
    }

    #[test]
    fn honours_start_end_and_reserved() {
        let mut cfg = IpamConfig::new(parse_cidr("10.244.1.0/24").unwrap());
        cfg.range_start = Some(Ipv4Addr::new(10, 244, 1, 10));
        cfg.range_end = Some(Ipv4Addr::new(10, 244, 1, 12));
        cfg.reserved = vec![Ipv4Addr::new(10, 244, 1, 11)];
        let mut n = NodeIpam::new(cfg).unwrap();
        assert_eq!(n.capacity(), 2);
        assert_eq!(n.allocate(key("a")).unwrap(), Ipv4Addr::new(10, 244, 1, 10));
        assert_eq!(n.allocate(key("b")).unwrap(), Ipv4Addr::new(10, 244, 1, 12));
        assert!(n.allocate(key("c")).is_err());
        assert!(matches!(
            n.allocate_ip(key("d"), Ipv4Addr::new(10, 244, 1, 11)),
            Err(Error::Unusable { .. })
        ));
    }

    #[test]
    fn refuses_bad_configs() {
        let sub = parse_cidr("10.244.1.0/24").unwrap();
        let with = |f: fn(&mut IpamConfig)| {
            let mut c = IpamConfig::new(sub);
            f(&mut c);
            NodeIpam::new(c)
        };
        assert!(with(|c| c.range_start = Some(Ipv4Addr::new(10, 244, 2, 1))).is_err());
        assert!(with(|c| c.range_start = Some(Ipv4Addr::new(10, 244, 1, 0))).is_err());
        assert!(with(|c| {
            c.range_start = Some(Ipv4Addr::new(10, 244, 1, 9));
            c.range_end = Some(Ipv4Addr::new(10, 244, 1, 5));
        })
        .is_err());
        assert!(with(|c| c.gateway = Some(Ipv4Addr::new(10, 244, 1, 255))).is_err());
        assert!(NodeIpam::for_subnet(parse_cidr("10.244.1.0/31").unwrap()).is_err());
    }

    #[test]
    fn state_round_trips_exactly() {
        let mut n = ipam("10.244.1.0/24");
        for i in 0..5 {
            n.allocate(key(&format!("c{i}"))).unwrap();
        }
        n.release(&key("c2")).unwrap();
        let json = serde_json::to_string(&n).unwrap();
        let mut back: NodeIpam = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        assert_eq!(
            back.allocate(key("x")).unwrap(),
            n.clone().allocate(key("x")).unwrap()
        );
        let dup = json.replace("10.244.1.3", "10.244.1.2");
        assert!(serde_json::from_str::<NodeIpam>(&dup).is_err());
    }
}
