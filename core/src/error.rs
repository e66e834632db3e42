//! The one error type of podnet-core.
//!
//! Every fallible operation returns [`Error`]; the variants carry the values
//! involved so a caller (the CNI plugin, the browser) can print a precise
//! message or map the error to a protocol code without parsing strings.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// A CIDR string could not be read.
    #[error("invalid CIDR {input:?}: {reason}")]
    InvalidCidr {
        /// What the user gave.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// The per-node prefix cannot split the cluster range.
    #[error("node prefix /{node_prefix} cannot split cluster range {cluster}: {reason}")]
    BadNodePrefix {
        /// The cluster range.
        cluster: Ipv4Network,
        /// The requested per-node prefix length.
        node_prefix: u8,
        /// Why it was refused.
        reason: String,
    },
    /// A node range does not have the prefix length the cluster hands out.
    #[error("range {range} has prefix /{}, but this cluster gives each node a /{expected}", range.prefix())]
    WrongPrefix {
        /// The range given.
        range: Ipv4Network,
        /// The cluster's node prefix.
        expected: u8,
    },
    /// A range or address lies outside the range it must belong to.
    #[error("{what} is outside {outer}")]
    Outside {
        /// The value that is outside, printed.
        what: String,
        /// The range it should be in.
        outer: Ipv4Network,
    },
    /// A node range overlaps one that is already in use.
    #[error("range {range} overlaps {existing}, which is already allocated")]
    Overlap {
        /// The range asked for.
        range: Ipv4Network,
        /// The range already in use.
        existing: Ipv4Network,
    },
    /// Every node range of the cluster is in use.
    #[error("cluster range {cluster} is exhausted: all {capacity} /{node_prefix} node ranges are allocated")]
    ClusterExhausted {
        /// The cluster range.
        cluster: Ipv4Network,
        /// The per-node prefix.
        node_prefix: u8,
        /// How many node ranges exist in all.
        capacity: u32,
    },
    /// Every pod address of a node range is in use.
    #[error("no free address in {range}: all {capacity} usable addresses are allocated")]
    RangeExhausted {
        /// The node's pod range.
        range: Ipv4Network,
        /// How many addresses it can hand out.
        capacity: u32,
    },
    /// A range or address was released or queried but is not allocated.
    #[error("{what} is not allocated")]
    NotAllocated {
        /// The value, printed.
        what: String,
    },
    /// An address cannot be handed out (network, broadcast, gateway, reserved, outside start/end).
    #[error("{ip} cannot be allocated: {reason}")]
    Unusable {
        /// The address.
        ip: Ipv4Addr,
        /// Why.
        reason: String,
    },
    /// The key (container id + interface) already holds an address.
    #[error("container {container_id:?} interface {ifname:?} already has {ip}")]
    AlreadyAllocated {
        /// Container id of the key.
        container_id: String,
        /// Interface name of the key.
        ifname: String,
        /// The address it holds.
        ip: Ipv4Addr,
    },
    /// The address is held by another key.
    #[error("{ip} is already allocated to container {container_id:?}")]
    AddressInUse {
        /// The address.
        ip: Ipv4Addr,
        /// Who holds it.
        container_id: String,
    },
    /// A configuration value is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The field name as the user wrote it.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A name refers to nothing in the cluster.
    #[error("unknown {kind} {name:?}")]
    Unknown {
        /// "node", "pod", "service", ...
        kind: &'static str,
        /// The name or id given.
        name: String,
    },
    /// A name is already taken.
    #[error("{kind} {name:?} already exists")]
    Duplicate {
        /// "node", "pod", ...
        kind: &'static str,
        /// The clashing name.
        name: String,
    },
    /// A frame could not be parsed or emitted.
    #[error("malformed frame: {0}")]
    MalformedFrame(String),
    /// A frame is well formed but of a kind the model does not carry.
    #[error("unsupported frame: {0}")]
    UnsupportedFrame(String),
}

impl Error {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}
