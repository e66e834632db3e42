//! Address allocation: the cluster range into node ranges, a node range into pod addresses.
//!
//! - [`ClusterAllocator`] is the Kubernetes node-IPAM range allocator: it splits
//!   the cluster range (default 10.244.0.0/16) into equal per-node ranges
//!   (default /24), hands the next free one out round-robin, can occupy a
//!   named range, and refuses overlaps.
//! - [`NodeIpam`] is the `host-local` IPAM of one node: it hands out pod
//!   addresses from the node's range, skipping the network, gateway and
//!   broadcast addresses, keyed by container id + interface.
//!
//! Both keep their state as a bitmap for speed and serialize to a plain,
//! sorted list (serde) that is validated again when read back, so a state
//! file edited by hand cannot smuggle in an overlap or a duplicate.

mod bitmap;
mod cluster;
mod node_ipam;

pub use cluster::{ClusterAllocator, ClusterAllocatorState};
pub use node_ipam::{AllocKey, Allocation, IpamConfig, NodeIpam, NodeIpamState};

/// Kubernetes refuses a node prefix more than 16 bits longer than the
/// cluster prefix (`clusterSubnetMaxDiff`), which bounds the bitmap at 8 KiB.
pub const MAX_PREFIX_DIFF: u8 = 16;

/// The cluster range Kubernetes tutorials (and flannel) use.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";

/// The per-node prefix kube-controller-manager uses by default.
pub const DEFAULT_NODE_PREFIX: u8 = 24;
