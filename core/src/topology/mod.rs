//! The cluster as data: nodes, pods, services and outside clients.
//!
//! A [`Cluster`] owns the allocators, so every address in it was handed out
//! by [`crate::alloc`] exactly as the real control plane and CNI would: node
//! ranges by the [`ClusterAllocator`], pod addresses by each node's
//! [`NodeIpam`], node and client addresses from the underlay LAN's own IPAM.
//! What the kernel of each node must hold follows from it in
//! [`Cluster::plan`](crate::plan); how a packet moves through it, in
//! [`crate::forward`]. [`scenario`] builds the seed's teaching scenarios.

pub mod scenario;
pub mod spec;

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::alloc::{AllocKey, ClusterAllocator, IpamConfig, NodeIpam};
use crate::error::{Error, Result};
use crate::net::{fnv1a, host_veth_name, ifname, parse_cidr, IfName, MacAddr};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u32);
    };
}

id_type!(
    /// A node's id; stable while the node exists, never reused.
    NodeId
);
id_type!(
    /// A pod's id; a recreated pod gets a new one.
    PodId
);
id_type!(
    /// A service's id.
    ServiceId
);
id_type!(
    /// An outside client's id.
    ClientId
);

/// Something that sends or receives packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// A pod (its network namespace).
    Pod(PodId),
    /// A node's host network namespace.
    Node(NodeId),
    /// A machine on the underlay LAN that is not part of the cluster.
    Client(ClientId),
}

/// How nodes reach each other's pod ranges (a CNI plugin's backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Dataplane {
    /// No cluster network: each node knows only its own pods.
    None,
    /// host-gw: a route on every node to every other node's range via that
    /// node's underlay IP. Only a peer on the same LAN can be a next hop.
    #[default]
    HostGw,
    /// VXLAN: every other node's range through the VTEP, pod frames inside
    /// UDP on the underlay (flannel's default backend).
    Vxlan,
    /// host-gw to peers on the same LAN, VXLAN to the rest (flannel's
    /// `DirectRouting`).
    Auto,
}

impl Dataplane {
    /// Every backend a cluster network can have, in menu order.
    pub const BACKENDS: [Dataplane; 3] = [Dataplane::HostGw, Dataplane::Vxlan, Dataplane::Auto];

    /// The name in a cluster file, on the command line and in a URL.
    pub fn key(self) -> &'static str {
        match self {
            Dataplane::None => "none",
            Dataplane::HostGw => "host-gw",
            Dataplane::Vxlan => "vxlan",
            Dataplane::Auto => "auto",
        }
    }

    /// Whether nodes have a VTEP (and pods the overlay's smaller MTU).
    pub fn has_vtep(self) -> bool {
        matches!(self, Dataplane::Vxlan | Dataplane::Auto)
    }
}

impl std::str::FromStr for Dataplane {
    type Err = Error;
    fn from_str(s: &str) -> Result<Dataplane> {
        [Dataplane::None]
            .into_iter()
            .chain(Dataplane::BACKENDS)
            .find(|d| d.key() == s)
            .ok_or_else(|| {
                Error::config(
                    "backend",
                    format!("{s:?} is not one of host-gw, vxlan, auto, none"),
                )
            })
    }
}

impl std::fmt::Display for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// The VXLAN device podnet creates on every node: flannel's numbers (VNI 1,
/// UDP 8472, the Linux kernel's original VXLAN port; IANA's is 4789), and a
/// name in flannel's `flannel.<VNI>` style.
pub mod vxlan {
    /// The device name.
    pub const DEVICE: &str = "podnet.1";
    /// The VXLAN network identifier.
    pub const VNI: u32 = 1;
    /// The UDP destination port.
    pub const PORT: u16 = 8472;
    /// The IANA port, which Wireshark decodes as VXLAN by default.
    pub const IANA_PORT: u16 = 4789;
    /// What encapsulation adds to an IP packet: the inner Ethernet header
    /// 14, VXLAN 8, outer UDP 8 and outer IPv4 20.
    pub const OVERHEAD: u16 = 50;
    /// The underlay's MTU (Ethernet).
    pub const UNDERLAY_MTU: u16 = 1500;
}

/// What service traffic from outside may be sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TrafficPolicy {
    /// Any endpoint on any node; the node masquerades so replies come back through it.
    #[default]
    Cluster,
    /// Only endpoints on the receiving node; the client's address is kept.
    Local,
}

/// Transport protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The lowercase name, as in a Service spec, iptables and nft.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Protocol> {
        [Protocol::Tcp, Protocol::Udp]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::config("protocol", format!("{s:?} is not tcp or udp")))
    }
}

/// A node: its host namespace, its uplink and its pod bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Id.
    pub id: NodeId,
    /// Name (unique in the cluster).
    pub name: String,
    /// Address on the underlay LAN (eth0).
    pub underlay_ip: Ipv4Addr,
    /// MAC of eth0.
    pub mac: MacAddr,
    /// Name of the uplink device.
    pub uplink: IfName,
    /// The LAN it is on: an index into [`Cluster::lans`].
    pub lan: u8,
    /// MAC of its VTEP (used when the backend has one).
    pub vtep_mac: MacAddr,
    /// This node's pod range (`spec.podCIDR`).
    pub pod_range: Ipv4Network,
    /// Pod address allocation in that range.
    pub ipam: NodeIpam,
    /// The pod bridge (`cni0`).
    pub bridge: IfName,
    /// MAC of the bridge.
    pub bridge_mac: MacAddr,
    /// `net.ipv4.ip_forward`.
    pub ip_forward: bool,
    /// Set up on its own rather than given a range by the cluster allocator.
    pub standalone: bool,
    /// Pod ranges whose route is missing from this node's table though the
    /// backend would add it (deleted by hand, an agent not running): a fault
    /// the sandbox's challenges start from.
    #[serde(default)]
    pub missing_routes: Vec<Ipv4Network>,
}

impl Node {
    /// The bridge's address and prefix (the pods' gateway).
    pub fn gateway(&self) -> Ipv4Network {
        Ipv4Network::new(self.ipam.gateway(), self.pod_range.prefix()).expect("prefix of a range")
    }

    /// Its VTEP's address: the range's network address, as flannel gives
    /// `flannel.1` (10.244.1.0 for 10.244.1.0/24; IPAM never hands it out).
    pub fn vtep_ip(&self) -> Ipv4Addr {
        self.pod_range.network()
    }
}

/// A pod: containers sharing one network namespace and one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// Id.
    pub id: PodId,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Name (unique within its namespace).
    pub name: String,
    /// The node it runs on.
    pub node: NodeId,
    /// Its address, from the node's range.
    pub ip: Ipv4Addr,
    /// MAC of its eth0.
    pub mac: MacAddr,
    /// The containers sharing the address.
    pub containers: Vec<String>,
    /// The sandbox's container id (the IPAM key).
    pub container_id: String,
    /// Interface name inside the pod.
    pub ifname: IfName,
    /// Host end of the veth pair, attached to the bridge.
    pub host_veth: IfName,
    /// A default route via another address than the node's bridge (a
    /// hand-written or broken CNI config): a sandbox fault.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
}

impl Pod {
    /// The address its default route goes via: its node's bridge, unless a fault says otherwise.
    pub fn gateway_on(&self, node: &Node) -> Ipv4Addr {
        self.gateway.unwrap_or_else(|| node.ipam.gateway())
    }

    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A service reachable on a node port (and optionally a cluster IP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Id.
    pub id: ServiceId,
    /// Name.
    pub name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on every node (30000–32767).
    pub node_port: u16,
    /// The port the pods listen on.
    pub target_port: u16,
    /// The pods behind it.
    pub endpoints: Vec<PodId>,
    /// Whether outside traffic may go to another node's pod.
    pub traffic_policy: TrafficPolicy,
    /// Whether kube-proxy masquerades what its NodePort rule translates
    /// under policy Cluster (to any endpoint, this node's or another's). It
    /// always does; turning it off is a sandbox fault that shows why: a pod
    /// on another node answers the client directly, from an address the
    /// client never talked to.
    #[serde(default = "yes")]
    pub masquerade: bool,
}

fn yes() -> bool {
    true
}

/// A machine outside the cluster on the underlay LAN (a laptop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Id.
    pub id: ClientId,
    /// Name.
    pub name: String,
    /// Its address on the LAN.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
}

/// A whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    allocator: ClusterAllocator,
    /// The LANs nodes and clients sit on; the first is the underlay, the
    /// others are joined to it by one router.
    lans: Vec<NodeIpam>,
    dataplane: Dataplane,
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
    clients: Vec<Client>,
    next_id: u32,
}

/// The LAN nodes and clients sit on unless told otherwise.
pub const DEFAULT_UNDERLAY: &str = "192.168.1.0/24";

/// The largest range (smallest prefix) a node's range set by hand may have.
pub const MIN_HAND_PREFIX: u8 = 16;

/// At most this many LANs: a lab router's ports, a sandbox's rows.
pub const MAX_LANS: usize = 16;

/// The router joining a cluster's LANs: address .1 on each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    /// Per LAN (by index): its address there and that port's MAC.
    pub ports: Vec<(Ipv4Addr, MacAddr)>,
}

/// The automatic address range of a LAN: .11 on, like the seed's pictures
/// (.1 is the router's).
fn lan_ipam(lan: Ipv4Network) -> Result<NodeIpam> {
    let mut cfg = IpamConfig::new(lan);
    if lan.size() > 16 {
        cfg.range_start = Some(Ipv4Addr::from(u32::from(lan.network()) + 11));
    }
    NodeIpam::new(cfg)
}

/// Valid node ports, as kube-apiserver's default `--service-node-port-range`.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A Kubernetes object name (DNS-1123 subdomain): dot-separated labels of
/// lowercase letters, digits and '-', each starting and ending with a letter
/// or digit, 253 bytes in all at most. Real Node names are often FQDNs.
fn check_name(kind: &'static str, name: &str) -> Result<()> {
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
            lans: vec![lan_ipam(underlay)?],
            dataplane: Dataplane::HostGw,
            ip_masq: false,
            egress_masq: false,
            mtu: 1500,
            nodes: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            clients: Vec::new(),
            next_id: 0,
        })
    }

    /// An empty cluster from text: `cidr` like "10.244.0.0/16", prefix like 24.
    pub fn parse(cidr: &str, node_prefix: u8, underlay: &str) -> Result<Cluster> {
        Cluster::new(parse_cidr(cidr)?, node_prefix, parse_cidr(underlay)?)
    }

    fn next_id(&mut self) -> u32 {
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

    /// The first LAN (the only one unless [`Cluster::add_lan`] added more).
    pub fn underlay(&self) -> Ipv4Network {
        self.lans[0].subnet()
    }

    /// Every LAN, by index.
    pub fn lans(&self) -> Vec<Ipv4Network> {
        self.lans.iter().map(NodeIpam::subnet).collect()
    }

    /// The index of the LAN an address is on.
    pub fn lan_of(&self, ip: Ipv4Addr) -> Option<u8> {
        self.lans
            .iter()
            .position(|l| l.subnet().contains(ip))
            .map(|i| i as u8)
    }

    /// Adds a LAN behind the router (which has .1 on every LAN); returns its index.
    pub fn add_lan(&mut self, subnet: Ipv4Network) -> Result<u8> {
        let subnet = Ipv4Network::new(subnet.network(), subnet.prefix()).expect("a network");
        if self.lans.len() >= MAX_LANS {
            return Err(Error::config(
                "LAN",
                format!("at most {MAX_LANS} LANs: {subnet} would be one more"),
            ));
        }
        if subnet.prefix() > 29 {
            return Err(Error::config(
                "LAN",
                format!("{subnet} is too small for a router and a node (at most /29)"),
            ));
        }
        if let Some(other) = self
            .lans()
            .into_iter()
            .chain([self.cidr()])
            .find(|l| l.overlaps(subnet))
        {
            return Err(Error::config("LAN", format!("{subnet} overlaps {other}")));
        }
        self.lans.push(lan_ipam(subnet)?);
        Ok((self.lans.len() - 1) as u8)
    }

    /// The router between the LANs, when there is more than one.
    pub fn router(&self) -> Option<Router> {
        (self.lans.len() > 1).then(|| Router {
            ports: self
                .lans
                .iter()
                .map(|l| {
                    let ip = Ipv4Addr::from(u32::from(l.subnet().network()) + 1);
                    (ip, MacAddr::on_lan(ip))
                })
                .collect(),
        })
    }

    /// The MTU of the bridge, the veths and the pods: the link MTU, less
    /// the 50 bytes of VXLAN encapsulation when the backend has a VTEP
    /// (flannel's rule, even for peers `auto` reaches directly).
    pub fn pod_mtu(&self) -> u16 {
        if self.dataplane.has_vtep() {
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
    pub fn dataplane(&self) -> Dataplane {
        self.dataplane
    }

    /// Turns the cluster network on or off (what a CNI plugin adds).
    pub fn set_dataplane(&mut self, dataplane: Dataplane) {
        self.dataplane = dataplane;
    }

    /// All nodes, oldest first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All pods, oldest first.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// All services.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// All outside clients.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// A pod by id.
    pub fn pod(&self, id: PodId) -> Option<&Pod> {
        self.pods
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.pods[i])
    }

    /// A service by id.
    pub fn service(&self, id: ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// A service by name.
    pub fn service_named(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A client by id.
    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// A node by name.
    pub fn node_named(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// A pod by `name` or `namespace/name`.
    pub fn pod_named(&self, name: &str) -> Option<&Pod> {
        let (ns, name) = name.split_once('/').unwrap_or(("default", name));
        self.pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
    }

    /// A client by name.
    pub fn client_named(&self, name: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// A pod (`name` or `namespace/name`), node or client by name; the error
    /// lists every name the cluster has, so a typo is easy to mend.
    pub fn endpoint_named(&self, name: &str) -> Result<Endpoint> {
        let found = self
            .pod_named(name)
            .map(|p| Endpoint::Pod(p.id))
            .or_else(|| self.node_named(name).map(|n| Endpoint::Node(n.id)))
            .or_else(|| self.client_named(name).map(|c| Endpoint::Client(c.id)));
        found.ok_or_else(|| {
            let names: Vec<String> = self
                .endpoints()
                .into_iter()
                .map(|e| self.name_of(e))
                .collect();
            Error::Unknown {
                kind: "pod, node or client",
                name: format!("{name} (this cluster has: {})", names.join(", ")),
            }
        })
    }

    /// The pods on one node.
    pub fn pods_on(&self, node: NodeId) -> impl Iterator<Item = &Pod> {
        self.pods.iter().filter(move |p| p.node == node)
    }

    /// Every endpoint: nodes, then pods, then clients.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let nodes = self.nodes.iter().map(|n| Endpoint::Node(n.id));
        let pods = self.pods.iter().map(|p| Endpoint::Pod(p.id));
        let clients = self.clients.iter().map(|c| Endpoint::Client(c.id));
        nodes.chain(pods).chain(clients).collect()
    }

    /// The address other machines use to reach an endpoint.
    pub fn address_of(&self, e: Endpoint) -> Option<Ipv4Addr> {
        match e {
            Endpoint::Pod(p) => self.pod(p).map(|p| p.ip),
            Endpoint::Node(n) => self.node(n).map(|n| n.underlay_ip),
            Endpoint::Client(c) => self.client(c).map(|c| c.ip),
        }
    }

    /// A readable name: `node1`, `default/web`, `laptop`.
    pub fn name_of(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Pod(p) => self.pod(p).map(Pod::full_name),
            Endpoint::Node(n) => self.node(n).map(|n| n.name.clone()),
            Endpoint::Client(c) => self.client(c).map(|c| c.name.clone()),
        }
        .unwrap_or_else(|| format!("{e:?} (gone)"))
    }

    /// [`Cluster::name_of`] without the `default/` namespace pods are in
    /// unless told otherwise: what a table or a menu shows.
    pub fn short_name_of(&self, e: Endpoint) -> String {
        let name = self.name_of(e);
        match name.strip_prefix("default/") {
            Some(short) => short.to_string(),
            None => name,
        }
    }

    fn unique_node_name(&self, name: &str) -> Result<()> {
        check_name("node name", name)?;
        if self.node_named(name).is_some() || self.clients.iter().any(|c| c.name == name) {
            return Err(Error::Duplicate {
                kind: "node",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Adds a node with the next free range from the cluster allocator.
    pub fn add_node(&mut self, name: &str) -> Result<NodeId> {
        self.add_node_at(name, None, None)
    }

    /// Adds a node on LAN `lan` with the next free range and address there.
    pub fn add_node_on(&mut self, name: &str, lan: u8) -> Result<NodeId> {
        let ip = self.next_lan_address(name, lan)?;
        self.add_node_at(name, None, Some(ip))
    }

    /// The address LAN `lan` would hand node `name` next (nothing is taken yet).
    fn next_lan_address(&self, name: &str, lan: u8) -> Result<Ipv4Addr> {
        let ipam = self
            .lans
            .get(usize::from(lan))
            .ok_or_else(|| Error::Unknown {
                kind: "LAN",
                name: format!("#{lan} (this cluster has {})", self.lans.len()),
            })?;
        ipam.clone()
            .allocate(AllocKey::new(format!("node/{name}"), "eth0"))
    }

    /// Adds a node on LAN `lan` whose range was set by hand (kubelet's
    /// `--pod-cidr`, a `podCIDR` written in): claimed from the allocator
    /// when it is free there, else taken as it is, even when it overlaps
    /// another node's, as nothing on a real node would stop it.
    pub fn add_node_by_hand(&mut self, name: &str, lan: u8, range: Ipv4Network) -> Result<NodeId> {
        self.unique_node_name(name)?;
        // The IPAM keeps a bit per address: a /16 is 8 KiB, a /0 half a GiB.
        if range.prefix() < MIN_HAND_PREFIX {
            return Err(Error::config(
                "pod range",
                format!("{range} is larger than a /{MIN_HAND_PREFIX}, the most one node's range may hold here"),
            ));
        }
        if let Some(l) = self.lans().into_iter().find(|l| l.overlaps(range)) {
            return Err(Error::config(
                "pod range",
                format!("{range} overlaps the LAN {l}: pods would take the nodes' own addresses"),
            ));
        }
        let ip = self.next_lan_address(name, lan)?;
        if self.allocator.occupy(range).is_ok() {
            return self
                .push_node(name, range, false, Some(ip))
                .inspect_err(|_| {
                    let _ = self.allocator.release(range);
                });
        }
        self.push_node(name, range, true, Some(ip))
    }

    /// Adds a node whose range is already decided (its `spec.podCIDR`).
    pub fn add_node_with_range(&mut self, name: &str, range: Ipv4Network) -> Result<NodeId> {
        self.add_node_at(name, Some(range), None)
    }

    /// Adds a node with, optionally, a given range and LAN address (a real
    /// node's `spec.podCIDR` and InternalIP); what is not given is allocated.
    pub fn add_node_at(
        &mut self,
        name: &str,
        range: Option<Ipv4Network>,
        ip: Option<Ipv4Addr>,
    ) -> Result<NodeId> {
        self.unique_node_name(name)?;
        let range = match range {
            Some(r) => self.allocator.occupy(r).map(|()| r)?,
            None => self.allocator.allocate()?,
        };
        self.push_node(name, range, false, ip).inspect_err(|_| {
            let _ = self.allocator.release(range);
        })
    }

    /// Adds a node set up on its own, outside any cluster network: its range
    /// is not checked against other nodes (two such nodes may share one).
    pub fn add_standalone_node(&mut self, name: &str, range: Ipv4Network) -> Result<NodeId> {
        self.unique_node_name(name)?;
        self.push_node(name, range, true, None)
    }

    fn push_node(
        &mut self,
        name: &str,
        range: Ipv4Network,
        standalone: bool,
        ip: Option<Ipv4Addr>,
    ) -> Result<NodeId> {
        let ipam = NodeIpam::for_subnet(range)?;
        let key = AllocKey::new(format!("node/{name}"), "eth0");
        let underlay_ip = match ip {
            Some(ip) => self.claim_lan_address(key, ip)?,
            None => self.lans[0].allocate(key)?,
        };
        let id = NodeId(self.next_id());
        self.nodes.push(Node {
            id,
            name: name.to_string(),
            underlay_ip,
            mac: MacAddr::on_lan(underlay_ip),
            uplink: ifname("eth0"),
            lan: self.lan_of(underlay_ip).unwrap_or(0),
            vtep_mac: MacAddr::from_ip(MacAddr::VTEP_PREFIX, underlay_ip),
            pod_range: range,
            bridge_mac: MacAddr::on_pod_network(ipam.gateway()),
            ipam,
            bridge: ifname("cni0"),
            ip_forward: true,
            standalone,
            missing_routes: Vec::new(),
        });
        Ok(id)
    }

    /// Takes a LAN address a real machine already has. Automatic addresses
    /// start at .11 (the seed's pictures); a given one may be anywhere in
    /// the LAN, but never the network or broadcast address or a taken one.
    fn claim_lan_address(&mut self, key: AllocKey, ip: Ipv4Addr) -> Result<Ipv4Addr> {
        let Some(index) = self.lan_of(ip) else {
            let lans: Vec<String> = self.lans().iter().map(|l| l.to_string()).collect();
            return Err(Error::Unusable {
                ip,
                reason: format!("not on the LAN {}", lans.join(" or ")),
            });
        };
        let lan = self.lans[usize::from(index)].subnet();
        let router = Ipv4Addr::from(u32::from(lan.network()) + 1);
        if ip == lan.network() || ip == lan.broadcast() || (self.lans.len() > 1 && ip == router) {
            return Err(Error::Unusable {
                ip,
                reason: format!("not a host address of the LAN {lan}"),
            });
        }
        let taken = self
            .nodes
            .iter()
            .map(|n| (n.underlay_ip, n.name.as_str()))
            .chain(self.clients.iter().map(|c| (c.ip, c.name.as_str())));
        if let Some((_, holder)) = taken.into_iter().find(|(a, _)| *a == ip) {
            return Err(Error::AddressInUse {
                ip,
                container_id: holder.to_string(),
            });
        }
        match self.lans[usize::from(index)].allocate_ip(key, ip) {
            // Below the automatic range: nothing there to collide with but the checks above.
            Err(Error::Unusable { .. }) => Ok(ip),
            r => r.map(|()| ip),
        }
    }

    /// Removes a node, its pods, its range and its LAN address.
    pub fn remove_node(&mut self, id: NodeId) -> Result<()> {
        let node = self.node(id).ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("{id:?}"),
        })?;
        let (name, range, standalone) = (node.name.clone(), node.pod_range, node.standalone);
        let gone: Vec<PodId> = self.pods_on(id).map(|p| p.id).collect();
        for pod in gone {
            self.remove_pod(pod)?;
        }
        if !standalone {
            self.allocator.release(range)?;
        }
        // A claimed address below the automatic range was never in the IPAM.
        let key = AllocKey::new(format!("node/{name}"), "eth0");
        for lan in &mut self.lans {
            let _ = lan.release(&key);
        }
        self.nodes.retain(|n| n.id != id);
        Ok(())
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        let node = self.nodes.iter_mut().find(|n| n.id == id);
        node.ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("{id:?}"),
        })
    }

    fn pod_mut(&mut self, id: PodId) -> Result<&mut Pod> {
        let pod = self.pods.iter_mut().find(|p| p.id == id);
        pod.ok_or_else(|| Error::Unknown {
            kind: "pod",
            name: format!("{id:?}"),
        })
    }

    fn service_mut(&mut self, id: ServiceId) -> Result<&mut Service> {
        let s = self.services.iter_mut().find(|s| s.id == id);
        s.ok_or_else(|| Error::Unknown {
            kind: "service",
            name: format!("{id:?}"),
        })
    }

    /// Sets a node's `ip_forward`.
    pub fn set_ip_forward(&mut self, id: NodeId, on: bool) -> Result<()> {
        self.node_mut(id)?.ip_forward = on;
        Ok(())
    }

    /// Takes the route to `range` out of a node's table (`ip route del` by
    /// hand, a sandbox fault), or with `missing` false puts it back.
    pub fn set_route_missing(
        &mut self,
        id: NodeId,
        range: Ipv4Network,
        missing: bool,
    ) -> Result<()> {
        let node = self.node_mut(id)?;
        node.missing_routes.retain(|&r| r != range);
        if missing {
            node.missing_routes.push(range);
        }
        Ok(())
    }

    /// Sets the address a pod's default route goes via (`None`: its node's bridge).
    pub fn set_pod_gateway(&mut self, id: PodId, gateway: Option<Ipv4Addr>) -> Result<()> {
        self.pod_mut(id)?.gateway = gateway;
        Ok(())
    }

    /// Sets whether kube-proxy masquerades a service's traffic to other nodes' pods.
    pub fn set_masquerade(&mut self, id: ServiceId, on: bool) -> Result<()> {
        self.service_mut(id)?.masquerade = on;
        Ok(())
    }

    /// Starts a pod with one container named "app" in namespace "default".
    pub fn add_pod(&mut self, node: NodeId, name: &str) -> Result<PodId> {
        self.add_pod_in(node, "default", name, &["app"])
    }

    /// Starts a pod: the CNI ADD of a sandbox, with an address from the node's IPAM.
    pub fn add_pod_in(
        &mut self,
        node: NodeId,
        namespace: &str,
        name: &str,
        containers: &[&str],
    ) -> Result<PodId> {
        self.add_pod_at(node, namespace, name, containers, None)
    }

    /// Like [`Cluster::add_pod_in`], with the address given (one a real CNI plugin handed out).
    pub fn add_pod_at(
        &mut self,
        node: NodeId,
        namespace: &str,
        name: &str,
        containers: &[&str],
        ip: Option<Ipv4Addr>,
    ) -> Result<PodId> {
        check_name("namespace", namespace)?;
        check_name("pod name", name)?;
        for c in containers {
            check_name("container name", c)?;
        }
        if self.pod_named(&format!("{namespace}/{name}")).is_some() {
            return Err(Error::Duplicate {
                kind: "pod",
                name: format!("{namespace}/{name}"),
            });
        }
        let id = PodId(self.next_id + 1);
        let container_id = format!("{:016x}", fnv1a(&[namespace, name, &id.0.to_string()]));
        let host_veth = host_veth_name(&container_id, "eth0");
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.id == node)
            .ok_or_else(|| Error::Unknown {
                kind: "node",
                name: format!("{node:?}"),
            })?;
        let key = AllocKey::new(container_id.clone(), "eth0");
        let ip = match ip {
            Some(ip) => n.ipam.allocate_ip(key, ip).map(|()| ip)?,
            None => n.ipam.allocate(key)?,
        };
        self.next_id();
        self.pods.push(Pod {
            id,
            namespace: namespace.to_string(),
            name: name.to_string(),
            node,
            ip,
            mac: MacAddr::on_pod_network(ip),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            container_id,
            ifname: ifname("eth0"),
            host_veth,
            gateway: None,
        });
        Ok(id)
    }

    /// Deletes a pod: the CNI DEL, releasing its address.
    pub fn remove_pod(&mut self, id: PodId) -> Result<()> {
        let pod = self.pod(id).ok_or_else(|| Error::Unknown {
            kind: "pod",
            name: format!("{id:?}"),
        })?;
        let key = AllocKey::new(pod.container_id.clone(), pod.ifname.as_str());
        let node = pod.node;
        if let Some(n) = self.nodes.iter_mut().find(|n| n.id == node) {
            n.ipam.release(&key)?;
        }
        self.pods.retain(|p| p.id != id);
        for s in &mut self.services {
            s.endpoints.retain(|&e| e != id);
        }
        Ok(())
    }

    /// Adds a NodePort service in front of some pods.
    pub fn add_node_port(
        &mut self,
        name: &str,
        protocol: Protocol,
        node_port: u16,
        target_port: u16,
        endpoints: &[PodId],
    ) -> Result<ServiceId> {
        check_name("service name", name)?;
        if !NODE_PORT_RANGE.contains(&node_port) {
            return Err(Error::config(
                "nodePort",
                format!(
                    "{node_port} is outside the node port range {}-{}",
                    NODE_PORT_RANGE.start(),
                    NODE_PORT_RANGE.end()
                ),
            ));
        }
        if self.services.iter().any(|s| s.name == name) {
            return Err(Error::Duplicate {
                kind: "service",
                name: name.into(),
            });
        }
        if let Some(s) = self
            .services
            .iter()
            .find(|s| s.node_port == node_port && s.protocol == protocol)
        {
            return Err(Error::config(
                "nodePort",
                format!("{node_port} is already used by service {:?}", s.name),
            ));
        }
        if let Some(missing) = endpoints.iter().find(|&&p| self.pod(p).is_none()) {
            return Err(Error::Unknown {
                kind: "pod",
                name: format!("{missing:?}"),
            });
        }
        let id = ServiceId(self.next_id());
        self.services.push(Service {
            id,
            name: name.to_string(),
            protocol,
            node_port,
            target_port,
            endpoints: endpoints.to_vec(),
            traffic_policy: TrafficPolicy::Cluster,
            masquerade: true,
        });
        Ok(id)
    }

    /// Sets a service's external traffic policy.
    pub fn set_traffic_policy(&mut self, id: ServiceId, policy: TrafficPolicy) -> Result<()> {
        self.service_mut(id)?.traffic_policy = policy;
        Ok(())
    }

    /// Adds a machine on the LAN that is not a node; `ip` is chosen if not given.
    pub fn add_client(&mut self, name: &str, ip: Option<Ipv4Addr>) -> Result<ClientId> {
        self.unique_node_name(name)?;
        let key = AllocKey::new(format!("client/{name}"), "eth0");
        let ip = match ip {
            Some(ip) => self.claim_lan_address(key, ip)?,
            None => self.lans[0].allocate(key)?,
        };
        let id = ClientId(self.next_id());
        self.clients.push(Client {
            id,
            name: name.to_string(),
            ip,
            mac: MacAddr::on_lan(ip),
        });
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_distinct_ranges_and_pods_addresses_from_them() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        let n1 = c.add_node("node1").unwrap();
        let n2 = c.add_node("node2").unwrap();
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
        assert!(c.add_node("worker-1.lab.example").is_ok());
        for bad in ["a..b", ".a", "a.", "-a.b", "a.b-", "", "A.b", "a_b"] {
            assert!(c.add_node(bad).is_err(), "{bad:?}");
        }
        let long = vec!["abc"; 64].join(".");
        assert_eq!(long.len(), 255);
        assert!(c.add_node(&long).is_err(), "over 253 bytes");
        assert!(c.add_node(&vec!["abc"; 63].join(".")).is_ok(), "251 bytes");
    }

    #[test]
    fn bad_input_changes_nothing() {
        let mut c = Cluster::parse("10.244.0.0/30", 30, DEFAULT_UNDERLAY).unwrap();
        let n = c.add_node("a").unwrap();
        let before = c.clone();
        assert!(c.add_node("b").is_err(), "a /30 holds one node range");
        assert!(c.add_node("a").is_err());
        assert!(c.add_node("Bad_Name").is_err());
        c.add_pod(n, "p1").unwrap();
        let after_one = c.clone();
        assert!(c.add_pod(n, "p2").is_err(), "a /30 holds one pod");
        assert!(c.add_pod(n, "p1").is_err());
        assert!(c.add_pod(NodeId(99), "p3").is_err());
        assert_eq!(c, after_one);
        assert!(c
            .add_node_port("svc", Protocol::Tcp, 80, 8080, &[])
            .is_err());
        assert_eq!(c.nodes().len(), before.nodes().len());
    }

    #[test]
    fn removing_a_node_frees_its_range_and_pods() {
        let mut c = Cluster::parse("10.244.0.0/23", 24, DEFAULT_UNDERLAY).unwrap();
        let a = c.add_node("a").unwrap();
        c.add_node("b").unwrap();
        let p = c.add_pod(a, "p").unwrap();
        c.add_node_port("svc", Protocol::Tcp, 30080, 80, &[p])
            .unwrap();
        assert!(c.add_node("c").is_err());
        c.remove_node(a).unwrap();
        assert!(c.pods().is_empty());
        assert!(c.services()[0].endpoints.is_empty());
        c.add_node("c").unwrap();
    }

    #[test]
    fn standalone_nodes_may_share_a_range() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        let r = parse_cidr("10.244.0.0/24").unwrap();
        c.add_standalone_node("a", r).unwrap();
        c.add_standalone_node("b", r).unwrap();
        assert_eq!(c.nodes()[0].pod_range, c.nodes()[1].pod_range);
    }
}
