//! Cluster range → per-node ranges, as kube-controller-manager's range allocator does.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use super::bitmap::Bitmap;
use super::MAX_PREFIX_DIFF;
use crate::error::{Error, Result};
use crate::net::ensure_within;

/// Splits a cluster range into equal node ranges and tracks which are in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClusterAllocatorState", into = "ClusterAllocatorState")]
pub struct ClusterAllocator {
    cluster: Ipv4Network,
    node_prefix: u8,
    used: Bitmap,
    /// Round-robin cursor: a released range is not handed out again at once,
    /// so a node that comes back does not collide with stale routes.
    next: u32,
}

/// The serialized form of a [`ClusterAllocator`]: plain, sorted, validated on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterAllocatorState {
    /// The cluster range.
    pub cluster: Ipv4Network,
    /// Prefix length of every node range.
    pub node_prefix: u8,
    /// Allocated node ranges, ascending.
    pub allocated: Vec<Ipv4Network>,
    /// Index of the range the next allocation tries first.
    #[serde(default)]
    pub next: u32,
}

impl ClusterAllocator {
    /// An allocator with nothing allocated.
    pub fn new(cluster: Ipv4Network, node_prefix: u8) -> Result<ClusterAllocator> {
        let bad = |reason: String| Error::BadNodePrefix {
            cluster,
            node_prefix,
            reason,
        };
        if cluster.network() != cluster.ip() {
            return Err(Error::InvalidCidr {
                input: cluster.to_string(),
                reason: format!(
                    "host bits are set; did you mean {}/{}?",
                    cluster.network(),
                    cluster.prefix()
                ),
            });
        }
        if node_prefix < cluster.prefix() {
            return Err(bad(format!(
                "a node range must be smaller than the cluster range (prefix /{} or longer)",
                cluster.prefix()
            )));
        }
        if node_prefix > 30 {
            return Err(bad("a node range must leave room for a gateway and at least one pod (prefix /30 or shorter)".into()));
        }
        if node_prefix - cluster.prefix() > MAX_PREFIX_DIFF {
            return Err(bad(format!(
                "at most {MAX_PREFIX_DIFF} bits between cluster and node prefix (Kubernetes' limit); use /{} or shorter",
                cluster.prefix() + MAX_PREFIX_DIFF
            )));
        }
        let count = 1u32 << (node_prefix - cluster.prefix());
        Ok(ClusterAllocator {
            cluster,
            node_prefix,
            used: Bitmap::new(count),
            next: 0,
        })
    }

    /// The cluster range.
    pub fn cluster(&self) -> Ipv4Network {
        self.cluster
    }

    /// Prefix length of every node range.
    pub fn node_prefix(&self) -> u8 {
        self.node_prefix
    }

    /// How many node ranges the cluster range holds.
    pub fn capacity(&self) -> u32 {
        self.used.len()
    }

    /// How many are allocated.
    pub fn len(&self) -> u32 {
        self.used.ones()
    }

    /// True when nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`-th range of the cluster range (from 0), taken or not:
    /// the numbering the demo and the lab give their nodes (node K has range
    /// K, like the seed's pictures), or `None` past the last one.
    pub fn nth_range(&self, index: u32) -> Option<Ipv4Network> {
        (index < self.capacity()).then(|| self.range_at(index))
    }

    fn range_at(&self, index: u32) -> Ipv4Network {
        let size = 1u32 << (32 - self.node_prefix);
        let base = u32::from(self.cluster.network());
        Ipv4Network::new(Ipv4Addr::from(base + index * size), self.node_prefix)
            .expect("prefix validated in new")
    }

    fn index_of(&self, range: Ipv4Network) -> Result<u32> {
        ensure_within(range, self.cluster)?;
        if range.prefix() != self.node_prefix {
            return Err(Error::WrongPrefix {
                range,
                expected: self.node_prefix,
            });
        }
        if range.network() != range.ip() {
            return Err(Error::InvalidCidr {
                input: range.to_string(),
                reason: format!(
                    "host bits are set; did you mean {}/{}?",
                    range.network(),
                    range.prefix()
                ),
            });
        }
        let offset = u32::from(range.network()) - u32::from(self.cluster.network());
        Ok(offset >> (32 - self.node_prefix))
    }

    /// Hands out the next free node range.
    pub fn allocate(&mut self) -> Result<Ipv4Network> {
        let index = self
            .used
            .next_clear(self.next)
            .ok_or(Error::ClusterExhausted {
                cluster: self.cluster,
                node_prefix: self.node_prefix,
                capacity: self.capacity(),
            })?;
        self.used.set(index);
        self.next = (index + 1) % self.capacity();
        Ok(self.range_at(index))
    }

    /// Marks a given range as used (a node that already has `spec.podCIDR`).
    pub fn occupy(&mut self, range: Ipv4Network) -> Result<()> {
        let index = self.index_of(range)?;
        if !self.used.set(index) {
            return Err(Error::Overlap {
                range,
                existing: self.range_at(index),
            });
        }
        Ok(())
    }

    /// Frees a range.
    pub fn release(&mut self, range: Ipv4Network) -> Result<()> {
        let index = self.index_of(range)?;
        if !self.used.clear(index) {
            return Err(Error::NotAllocated {
                what: format!("node range {range}"),
            });
        }
        Ok(())
    }

    /// Whether `range` is allocated.
    pub fn is_allocated(&self, range: Ipv4Network) -> bool {
        self.index_of(range).is_ok_and(|i| self.used.get(i))
    }

    /// The allocated ranges, ascending.
    pub fn allocated(&self) -> impl Iterator<Item = Ipv4Network> + '_ {
        self.used.iter_ones().map(|i| self.range_at(i))
    }
}

impl From<ClusterAllocator> for ClusterAllocatorState {
    fn from(a: ClusterAllocator) -> Self {
        ClusterAllocatorState {
            cluster: a.cluster,
            node_prefix: a.node_prefix,
            allocated: a.allocated().collect(),
            next: a.next,
        }
    }
}

impl TryFrom<ClusterAllocatorState> for ClusterAllocator {
    type Error = Error;
    fn try_from(s: ClusterAllocatorState) -> Result<Self> {
        let mut a = ClusterAllocator::new(s.cluster, s.node_prefix)?;
        for range in s.allocated {
            a.occupy(range)?;
        }
        a.next = if s.next < a.capacity() { s.next } else { 0 };
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_cidr;

    fn net(s: &str) -> Ipv4Network {
        parse_cidr(s).unwrap()
    }

    #[test]
    fn splits_the_default_range_into_slash_24s() {
        let mut a = ClusterAllocator::new(net("10.244.0.0/16"), 24).unwrap();
        assert_eq!(a.capacity(), 256);
        assert_eq!(a.allocate().unwrap(), net("10.244.0.0/24"));
        assert_eq!(a.allocate().unwrap(), net("10.244.1.0/24"));
        a.occupy(net("10.244.5.0/24")).unwrap();
        assert_eq!(
            a.allocated().collect::<Vec<_>>(),
            vec![
                net("10.244.0.0/24"),
                net("10.244.1.0/24"),
                net("10.244.5.0/24")
            ]
        );
    }

    #[test]
    fn refuses_overlap_outside_and_wrong_prefix() {
        let mut a = ClusterAllocator::new(net("10.244.0.0/16"), 24).unwrap();
        a.occupy(net("10.244.1.0/24")).unwrap();
        assert!(matches!(
            a.occupy(net("10.244.1.0/24")),
            Err(Error::Overlap { .. })
        ));
        assert!(matches!(
            a.occupy(net("10.245.1.0/24")),
            Err(Error::Outside { .. })
        ));
        assert!(matches!(
            a.occupy(net("10.244.1.0/25")),
            Err(Error::WrongPrefix { .. })
        ));
        assert!(matches!(
            a.release(net("10.244.9.0/24")),
            Err(Error::NotAllocated { .. })
        ));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn reports_exhaustion_and_reuses_released_ranges_round_robin() {
        let mut a = ClusterAllocator::new(net("10.244.0.0/22"), 24).unwrap();
        let got: Vec<_> = (0..4).map(|_| a.allocate().unwrap()).collect();
        let e = a.allocate().unwrap_err();
        assert!(e.to_string().contains("exhausted"), "{e}");
        a.release(got[1]).unwrap();
        assert_eq!(a.allocate().unwrap(), got[1]);
    }

    #[test]
    fn refuses_impossible_prefixes() {
        assert!(ClusterAllocator::new(net("10.244.0.0/16"), 8).is_err());
        assert!(ClusterAllocator::new(net("10.244.0.0/16"), 31).is_err());
        assert!(ClusterAllocator::new(net("10.0.0.0/8"), 25).is_err());
        assert!(ClusterAllocator::new(net("10.0.0.0/8"), 24).is_ok());
    }

    #[test]
    fn state_round_trips_and_is_validated() {
        let mut a = ClusterAllocator::new(net("10.244.0.0/16"), 24).unwrap();
        a.allocate().unwrap();
        a.occupy(net("10.244.7.0/24")).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        let b: ClusterAllocator = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        let dup = json.replace("10.244.0.0/24", "10.244.7.0/24");
        assert!(serde_json::from_str::<ClusterAllocator>(&dup).is_err());
    }
}
