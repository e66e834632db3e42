//! The values a cluster is made of: nodes, pods, services, clients and
//! their ids, the backends, and the VXLAN device's numbers.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::alloc::NodeIpam;
use crate::error::{Error, Result};
use crate::net::{IfName, MacAddr};

use super::services::{ContainerPort, Labels};

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
pub enum Backend {
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

impl Backend {
    /// Every backend a cluster network can have, in menu order.
    pub const BACKENDS: [Backend; 3] = [Backend::HostGw, Backend::Vxlan, Backend::Auto];

    /// The name in a cluster file, on the command line and in a URL.
    pub fn key(self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::HostGw => "host-gw",
            Backend::Vxlan => "vxlan",
            Backend::Auto => "auto",
        }
    }

    /// The backend of a cluster that has a network, by name: host-gw, vxlan
    /// or auto. "none" is refused, with the one way to say it (a cluster
    /// without a network is `--no-cluster-network` on a command line and
    /// `"clusterNetwork": false` in a cluster file).
    pub fn of_network(s: &str) -> Result<Backend> {
        match s.parse()? {
            Backend::None => Err(Error::config(
                "backend",
                "\"none\" is not a backend: a cluster without a network is --no-cluster-network (\"clusterNetwork\": false in a cluster file)",
            )),
            b => Ok(b),
        }
    }

    /// Whether nodes have a VTEP (and pods the overlay's smaller MTU).
    pub fn has_vtep(self) -> bool {
        matches!(self, Backend::Vxlan | Backend::Auto)
    }
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Backend> {
        [Backend::None]
            .into_iter()
            .chain(Backend::BACKENDS)
            .find(|d| d.key() == s)
            .ok_or_else(|| {
                Error::config(
                    "backend",
                    format!("{s:?} is not one of host-gw, vxlan, auto, none"),
                )
            })
    }
}

impl std::fmt::Display for Backend {
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
    /// `net.bridge.bridge-nf-call-iptables`: frames crossing the pod
    /// bridge pass iptables (and conntrack), as kube-proxy needs for a
    /// Service's reply from a pod on the same node. The agent sets it.
    #[serde(default = "on")]
    pub bridge_nf: bool,
    /// Hairpin mode on the bridge's pod ports (the CNI config's
    /// `hairpinMode`): a frame may leave by the port it came in on, as a pod
    /// reaching itself through its own Service needs.
    #[serde(default = "on")]
    pub hairpin: bool,
    /// Pod ranges whose route is missing from this node's table though the
    /// backend would add it (deleted by hand, an agent not running): a fault
    /// the sandbox's challenges start from.
    #[serde(default)]
    pub missing_routes: Vec<Ipv4Network>,
    /// The machine's own default route (not podnet's: the LAN's gateway,
    /// set up with the machine). Without one a node cannot even start a
    /// connection to a ClusterIP: its kernel routes the packet before
    /// kube-proxy's DNAT rewrites it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_gateway: Option<Ipv4Addr>,
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

fn on() -> bool {
    true
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
    /// Its labels (what Service selectors match).
    #[serde(default)]
    pub labels: Labels,
    /// The ports its containers declare (named ports, hostPorts).
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
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

/// The router joining a cluster's LANs: address .1 on each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    /// Per LAN (by index): its address there and that port's MAC.
    pub ports: Vec<(Ipv4Addr, MacAddr)>,
}
