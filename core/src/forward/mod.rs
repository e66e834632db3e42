//! Forwarding: a real frame through the modelled kernel, hop by hop.
//!
//! Contract: given a [`Cluster`](crate::topology::Cluster) compiled into a
//! [`Network`] and an Ethernet/IPv4 frame sent by a pod, node or outside
//! client, [`Network::trace`] returns the [`Trace`] Linux would produce: the
//! sender's route lookup and ARP, the veth, the bridge's FDB, the node's
//! route table (longest-prefix match), kube-proxy's NodePort DNAT and
//! masquerade, the LAN, the peer node, and delivery or a drop with its
//! reason. It is deterministic, never panics on any frame, and allocates
//! only the hop list. [`Matrix`] checks the CNI requirements for a cluster.
//!
//! - [`frame`]: bytes ↔ [`FrameRepr`] (etherparse underneath)
//! - [`trace`]: [`Trace`], [`Hop`], [`Place`], [`Step`], [`Verdict`]
//! - [`network`]: [`Network`], a cluster compiled into lookup tables, and
//!   the entry points; [`walk`]: the loop from stage to stage
//! - the stages, one file per layer as the kernel has them, each a
//!   `process_*` that takes the frame one place further: [`host`] (a pod or
//!   an outside client sending and receiving, the veth), [`bridge`],
//!   [`node`] (local delivery, routing, ARP and out), [`netfilter`]
//!   (conntrack, DNAT, masquerade), [`policy`] (NetworkPolicy in the
//!   forward hook), [`vxlan`], [`lan`] (switch and router)
//! - [`reach`]: [`Matrix`], the requirement check
//! - [`pcap`]: a trace as a capture file
//! - [`capture`]: captured frames as a trace, and model vs kernel

pub mod bridge;
pub mod capture;
pub mod frame;
pub mod host;
pub mod lan;
pub mod netfilter;
pub mod network;
pub mod node;
pub mod pcap;
pub mod plain;
pub mod policy;
pub mod reach;
pub mod trace;
pub mod vxlan;
pub mod walk;

pub use frame::{parse_packet, Encap, FrameRepr, L4Repr, ProbeKind, Proto};
pub use network::Network;
pub use plain::{plain, GLOSSARY};
pub use reach::{Cell, Matrix, Requirements, ServiceCell, Tally};
pub use trace::{
    describe, DropReason, Grade, Hop, Place, Prediction, Step, Summary, Trace, Verdict,
};
pub use walk::Outcome;

/// A ping from one named pod to another, as the tests of what reads a
/// trace (plain words, pcapng) start.
#[cfg(test)]
pub(crate) fn ping(c: &crate::topology::Cluster, from: &str, to: &str) -> Trace {
    let (a, b) = (c.pod_named(from).unwrap(), c.pod_named(to).unwrap());
    Network::new(c)
        .unwrap()
        .probe(crate::topology::Endpoint::Pod(a.id), b.ip, ProbeKind::Ping)
        .unwrap()
}
