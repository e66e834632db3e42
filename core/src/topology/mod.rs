//! The cluster as data: nodes, pods, services and outside clients.
//!
//! A [`Cluster`] owns the allocators, so every address in it was handed out
//! by [`crate::alloc`] exactly as the real control plane and CNI would: node
//! ranges by the [`ClusterAllocator`], pod addresses by each node's
//! [`NodeIpam`], node and client addresses from their LAN's own IPAM.
//! What the kernel of each node must hold follows from it in
//! [`Cluster::plan`](crate::plan); how a packet moves through it, in
//! [`crate::forward`].
//!
//! One file per job: the value types ([`types`]), reading a cluster
//! ([`queries`]), changing it ([`edits`]), its LANs and router ([`lans`]),
//! its NetworkPolicies ([`policies`]);
//! the cluster file ([`spec`]) and the seed's teaching scenarios
//! ([`scenario`]).

pub mod edits;
pub mod lans;
pub mod policies;
pub mod queries;
pub mod scenario;
pub mod services;
pub mod spec;
pub mod types;

pub use edits::{NodeOptions, RangeFrom};
pub use lans::MAX_LANS;
pub use services::{
    ContainerPort, Labels, NewService, PortEndpoint, Service, ServicePort, ServiceType,
    SessionAffinity, TargetPort,
};
pub use types::*;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::alloc::{ClusterAllocator, NodeIpam};
use crate::error::{Error, Result};
use crate::net::parse_cidr;

/// A whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    allocator: ClusterAllocator,
    /// The LANs nodes and clients sit on; the first is the underlay, the
    /// others are joined to it by one router.
    lans: Vec<NodeIpam>,
    backend: Backend,
    /// Masquerade pod traffic leaving the cluster range (the bridge plugin's `ipMasq`).
    pub ip_masq: bool,
    /// Masquerade pod traffic to anything but the cluster range and the
    /// nodes (egress: a pod reaching the outside leaves with its node's
    /// address; pod↔pod and pod↔node stay without NAT).
    pub egress_masq: bool,
    /// MTU of the links (the underlay's); pods get [`Cluster::pod_mtu`].
    pub mtu: u16,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    services: Vec<Service>,
    /// Namespaces with labels (what policies' namespace selectors see);
    /// a pod's namespace not listed here has no labels.
    #[serde(default)]
    namespaces: Vec<crate::policy::Namespace>,
    /// NetworkPolicies, each validated when set.
    #[serde(default)]
    policies: Vec<crate::policy::NetworkPolicy>,
    /// Where ClusterIPs come from.
    #[serde(default = "default_service_cidr")]
    service_cidr: Ipv4Network,
    clients: Vec<Client>,
    next_id: u32,
}

fn default_service_cidr() -> Ipv4Network {
    parse_cidr(services::DEFAULT_SERVICE_CIDR).expect("a valid range")
}

/// The LAN nodes and clients sit on unless told otherwise.
pub const DEFAULT_UNDERLAY: &str = "192.168.1.0/24";

/// The largest range (smallest prefix) a node's range set by hand may have.
pub const MIN_HAND_PREFIX: u8 = 16;

/// Valid node ports, as kube-apiserver's default `--service-node-port-range`.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A Kubernetes object name (DNS-1123 subdomain): dot-separated labels of
/// lowercase letters, digits and '-', each starting and ending with a letter
/// or digit, 253 bytes in all at most. Real Node names are often FQDNs.
pub(crate) fn check_name(kind: &'static str, name: &str) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Error::config(
            kind,
            format!("{name:?} must be dot-separated labels of 1-63 lowercase letters, digits or '-', each starting and ending with a letter or digit (a Kubernetes name)"),
        ))
    }
}

impl Cluster {
    /// An empty cluster: the cluster range, each node's prefix, and the LAN the nodes share.
    pub fn new(cidr: Ipv4Network, node_prefix: u8, underlay: Ipv4Network) -> Result<Cluster> {
        let allocator = ClusterAllocator::new(cidr, node_prefix)?;
        if underlay.overlaps(cidr) {
            return Err(Error::config(
                "underlay",
                format!("{underlay} overlaps the cluster range {cidr}"),
            ));
        }
        Ok(Cluster {
            allocator,
            lans: vec![lans::lan_ipam(underlay)?],
            backend: Backend::HostGw,
            ip_masq: false,
            egress_masq: false,
            mtu: 1500,
            nodes: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            namespaces: Vec::new(),
            policies: Vec::new(),
            service_cidr: default_service_cidr(),
            clients: Vec::new(),
            next_id: 0,
        })
    }

    /// An empty cluster from text: `cidr` like "10.244.0.0/16", prefix like 24.
    pub fn parse(cidr: &str, node_prefix: u8, underlay: &str) -> Result<Cluster> {
        Cluster::new(parse_cidr(cidr)?, node_prefix, parse_cidr(underlay)?)
    }

    pub(crate) fn next_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// The cluster range.
    pub fn cidr(&self) -> Ipv4Network {
        self.allocator.cluster()
    }

    /// The prefix of every node range.
    pub fn node_prefix(&self) -> u8 {
        self.allocator.node_prefix()
    }

    /// The MTU of the bridge, the veths and the pods: the link MTU, less
    /// the 50 bytes of VXLAN encapsulation when the backend has a VTEP
    /// (flannel's rule, even for peers `auto` reaches directly).
    pub fn pod_mtu(&self) -> u16 {
        if self.backend.has_vtep() {
            self.mtu.saturating_sub(vxlan::OVERHEAD)
        } else {
            self.mtu
        }
    }

    /// The range allocator's state.
    pub fn allocator(&self) -> &ClusterAllocator {
        &self.allocator
    }

    /// How nodes reach each other's pods.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Turns the cluster network on or off (what a CNI plugin adds).
    pub fn set_backend(&mut self, backend: Backend) {
        self.backend = backend;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn nodes_get_distinct_ranges_and_pods_addresses_from_them() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        let n1 = c.add_node("node1", NodeOptions::default()).unwrap();
        let n2 = c.add_node("node2", NodeOptions::default()).unwrap();
        assert_ne!(c.node(n1).unwrap().pod_range, c.node(n2).unwrap().pod_range);
        assert_eq!(
            c.node(n1).unwrap().underlay_ip,
            Ipv4Addr::new(192, 168, 1, 11)
        );
        let p = c.add_pod(n2, "web").unwrap();
        let pod = c.pod(p).unwrap();
        assert!(c.node(n2).unwrap().pod_range.contains(pod.ip));
        assert_eq!(pod.host_veth.as_str().len(), 12);
    }

    #[test]
    fn names_are_kubernetes_names() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        // Node names are DNS subdomains: FQDNs are common.
        assert!(c
            .add_node("worker-1.lab.example", NodeOptions::default())
            .is_ok());
        for bad in ["a..b", ".a", "a.", "-a.b", "a.b-", "", "A.b", "a_b"] {
            assert!(c.add_node(bad, NodeOptions::default()).is_err(), "{bad:?}");
        }
        let long = vec!["abc"; 64].join(".");
        assert_eq!(long.len(), 255);
        assert!(
            c.add_node(&long, NodeOptions::default()).is_err(),
            "over 253 bytes"
        );
        assert!(
            c.add_node(&vec!["abc"; 63].join("."), NodeOptions::default())
                .is_ok(),
            "251 bytes"
        );
    }

    #[test]
    fn bad_input_changes_nothing() {
        let mut c = Cluster::parse("10.244.0.0/30", 30, DEFAULT_UNDERLAY).unwrap();
        let n = c.add_node("a", NodeOptions::default()).unwrap();
        let before = c.clone();
        assert!(
            c.add_node("b", NodeOptions::default()).is_err(),
            "a /30 holds one node range"
        );
        assert!(c.add_node("a", NodeOptions::default()).is_err());
        assert!(c.add_node("Bad_Name", NodeOptions::default()).is_err());
        c.add_pod(n, "p1").unwrap();
        let after_one = c.clone();
        assert!(c.add_pod(n, "p2").is_err(), "a /30 holds one pod");
        assert!(c.add_pod(n, "p1").is_err());
        assert!(c.add_pod(NodeId(99), "p3").is_err());
        assert_eq!(c, after_one);
        assert!(c
            .add_service(NewService::node_port("svc", Protocol::Tcp, 80, 8080))
            .is_err());
        assert_eq!(c.nodes().len(), before.nodes().len());
    }

    #[test]
    fn removing_a_node_frees_its_range_and_pods() {
        let mut c = Cluster::parse("10.244.0.0/23", 24, DEFAULT_UNDERLAY).unwrap();
        let a = c.add_node("a", NodeOptions::default()).unwrap();
        c.add_node("b", NodeOptions::default()).unwrap();
        let p = c.add_pod(a, "p").unwrap();
        c.add_service(NewService::node_port("svc", Protocol::Tcp, 30080, 80).with_endpoints(&[p]))
            .unwrap();
        assert!(c.add_node("c", NodeOptions::default()).is_err());
        c.remove_node(a).unwrap();
        assert!(c.pods().is_empty());
        assert!(c.services()[0].endpoints.is_empty());
        c.add_node("c", NodeOptions::default()).unwrap();
    }

    #[test]
    fn standalone_nodes_may_share_a_range() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        let r = parse_cidr("10.244.0.0/24").unwrap();
        c.add_node("a", NodeOptions::range(RangeFrom::Standalone(r)))
            .unwrap();
        c.add_node("b", NodeOptions::range(RangeFrom::Standalone(r)))
            .unwrap();
        assert_eq!(c.nodes()[0].pod_range, c.nodes()[1].pod_range);
    }
}
