//! A cluster compiled for forwarding.
//!
//! [`Network::new`] compiles a [`Cluster`] into lookup tables — every
//! node's route table comes from its [`Plan`](crate::plan::Plan), every
//! pod's from the routes CNI puts inside it, each LAN's ARP answers and
//! switch ports from who is plugged in. Sending a frame through them is
//! [`super::walk`].

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::error::{Error, Result};
use crate::net::{ifname, IfName, MacAddr};
use crate::plan::{NatRule, VtepPlan};
use crate::route::{Route, RouteTable};
use crate::services::rules::Table;
use crate::services::KubeProxy;
use crate::topology::{Client, Cluster, Node, Pod};

/// A cluster compiled for forwarding.
#[derive(Debug)]
pub struct Network<'c> {
    pub(crate) cluster: &'c Cluster,
    pub(crate) nodes: Vec<NodeRt<'c>>,
    pub(crate) node_ix: HashMap<u32, usize>,
    pub(crate) pods: Vec<PodRt<'c>>,
    pub(crate) pod_ix: HashMap<u32, usize>,
    pub(crate) clients: Vec<ClientRt<'c>>,
    /// Each LAN's ARP answers and switch.
    pub(crate) lans: Vec<LanRt>,
    /// The router between the LANs, if there is more than one.
    pub(crate) router: Option<RouterRt>,
    /// The cluster's NetworkPolicies over its pods; none: nothing isolated.
    pub(crate) policy: Option<crate::policy::PolicySet>,
}

/// One LAN: who answers ARP for an address (first one wins, as the first
/// ARP reply does), and its switch's MAC table.
#[derive(Debug, Default)]
pub(crate) struct LanRt {
    pub(crate) arp: HashMap<Ipv4Addr, MacAddr>,
    pub(crate) ports: HashMap<MacAddr, LanPort>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum LanPort {
    Node(usize),
    Client(usize),
    Router,
}

/// The router: .1 on every LAN, a connected route to each, nothing else
/// (it knows no pod range: the underlay of a routed lab network).
#[derive(Debug)]
pub(crate) struct RouterRt {
    pub(crate) ports: Vec<(Ipv4Addr, MacAddr)>,
    pub(crate) routes: RouteTable,
}

/// A node's VTEP as the kernel's VXLAN driver holds it.
#[derive(Debug)]
pub(crate) struct VtepRt {
    pub(crate) plan: VtepPlan,
    /// `ip neigh` on the device: peer VTEP address → its MAC.
    pub(crate) neigh: HashMap<Ipv4Addr, MacAddr>,
    /// `bridge fdb` on the device: peer VTEP MAC → its underlay address.
    pub(crate) fdb: HashMap<MacAddr, Ipv4Addr>,
}

#[derive(Debug)]
pub(crate) struct NodeRt<'c> {
    pub(crate) node: &'c Node,
    /// Its position in `Network::nodes`.
    pub(crate) index: usize,
    pub(crate) routes: RouteTable,
    /// ARP on the bridge: pod address → MAC.
    pub(crate) bridge_arp: HashMap<Ipv4Addr, MacAddr>,
    /// The bridge's forwarding database: MAC → pod index.
    pub(crate) fdb: HashMap<MacAddr, usize>,
    /// kube-proxy's rules on this node.
    pub(crate) kube_proxy: KubeProxy,
    /// portmap's rules on this node (its pods' hostPorts).
    pub(crate) portmap: Table,
    pub(crate) masquerade: Option<(Ipv4Network, Vec<Ipv4Network>)>,
    pub(crate) vtep: Option<VtepRt>,
    /// MTU of the bridge and veths; the uplink's.
    pub(crate) pod_mtu: u16,
    pub(crate) link_mtu: u16,
}

impl NodeRt<'_> {
    pub(crate) fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == self.node.underlay_ip
            || ip == self.node.ipam.gateway()
            || ip.is_loopback()
            || self
                .vtep
                .as_ref()
                .is_some_and(|v| v.plan.address.ip() == ip)
    }

    pub(crate) fn addr_on(&self, dev: IfName) -> Ipv4Addr {
        match &self.vtep {
            _ if dev == self.node.bridge => self.node.ipam.gateway(),
            Some(v) if dev == v.plan.name => v.plan.address.ip(),
            _ => self.node.underlay_ip,
        }
    }

    /// The MAC of the node's device `dev`: what a frame the node sends
    /// there carries as its source.
    pub(crate) fn mac_on(&self, dev: IfName) -> MacAddr {
        match &self.vtep {
            _ if dev == self.node.bridge => self.node.bridge_mac,
            Some(v) if dev == v.plan.name => v.plan.mac,
            _ => self.node.mac,
        }
    }

    pub(crate) fn arp_on_bridge(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        if ip == self.node.ipam.gateway() {
            return Some(self.node.bridge_mac);
        }
        self.bridge_arp.get(&ip).copied()
    }
}

#[derive(Debug)]
pub(crate) struct PodRt<'c> {
    pub(crate) pod: &'c Pod,
    pub(crate) node: usize,
    pub(crate) routes: RouteTable,
}

#[derive(Debug)]
pub(crate) struct ClientRt<'c> {
    pub(crate) client: &'c Client,
    pub(crate) lan: usize,
    pub(crate) routes: RouteTable,
}

impl<'c> Network<'c> {
    /// Compiles a cluster: route tables from the node plans, ARP and FDB tables from the pods.
    pub fn new(cluster: &'c Cluster) -> Result<Network<'c>> {
        let mut net = Network {
            cluster,
            nodes: Vec::with_capacity(cluster.nodes().len()),
            node_ix: HashMap::with_capacity(cluster.nodes().len()),
            pods: Vec::with_capacity(cluster.pods().len()),
            pod_ix: HashMap::with_capacity(cluster.pods().len()),
            clients: Vec::new(),
            lans: cluster.lans().iter().map(|_| LanRt::default()).collect(),
            router: None,
            policy: if cluster.policies().is_empty() {
                None
            } else {
                Some(cluster.policy_set()?)
            },
        };
        if let Some(r) = cluster.router() {
            for (k, &(ip, mac)) in r.ports.iter().enumerate() {
                net.lans[k].arp.insert(ip, mac);
                net.lans[k].ports.insert(mac, LanPort::Router);
            }
            let lans = cluster.lans();
            let routes = r
                .ports
                .iter()
                .zip(&lans)
                .enumerate()
                .map(|(k, (&(ip, _), lan))| {
                    let dev = ifname(&format!("lan{k}"));
                    Route::connected(
                        Ipv4Network::new(ip, lan.prefix()).expect("prefix of a LAN"),
                        dev,
                    )
                });
            let routes = RouteTable::new(routes);
            net.router = Some(RouterRt {
                ports: r.ports,
                routes,
            });
        }
        for node in cluster.nodes() {
            net.compile_node(node)?;
        }
        for pod in cluster.pods() {
            net.compile_pod(pod)?;
        }
        for client in cluster.clients() {
            net.compile_client(client);
        }
        Ok(net)
    }

    /// A node: its plan's routes and NAT rules, and its place on the LAN.
    fn compile_node(&mut self, node: &'c Node) -> Result<()> {
        let plan = self.cluster.plan(node.id)?;
        let mut masquerade = None;
        for rule in &plan.nat {
            let NatRule::Masquerade { src, except } = rule;
            masquerade = masquerade.or_else(|| Some((*src, except.clone())));
        }
        let index = self.nodes.len();
        self.node_ix.insert(node.id.0, index);
        if let Some(lan) = self.lans.get_mut(usize::from(node.lan)) {
            lan.arp.entry(node.underlay_ip).or_insert(node.mac);
            lan.ports.entry(node.mac).or_insert(LanPort::Node(index));
        }
        let vtep = plan.vtep.map(|v| VtepRt {
            neigh: v.peers.iter().map(|p| (p.vtep_ip, p.mac)).collect(),
            fdb: v.peers.iter().map(|p| (p.mac, p.underlay)).collect(),
            plan: v,
        });
        let routes = RouteTable::new(self.cluster.node_routes(node.id)?);
        self.nodes.push(NodeRt {
            node,
            index,
            routes,
            bridge_arp: HashMap::new(),
            fdb: HashMap::new(),
            kube_proxy: crate::services::render(self.cluster, node),
            portmap: crate::services::hostport::render(self.cluster, node),
            masquerade,
            vtep,
            pod_mtu: plan.mtu,
            link_mtu: self.cluster.mtu,
        });
        Ok(())
    }

    /// A pod: the routes CNI puts inside it, and its entries in its node's ARP and FDB.
    fn compile_pod(&mut self, pod: &'c Pod) -> Result<()> {
        let Some(&node) = self.node_ix.get(&pod.node.0) else {
            return Err(Error::Unknown {
                kind: "node",
                name: format!("{:?} of pod {}", pod.node, pod.full_name()),
            });
        };
        let rt = &mut self.nodes[node];
        let addr = Ipv4Network::new(pod.ip, rt.node.pod_range.prefix()).expect("prefix of a range");
        let index = self.pods.len();
        rt.bridge_arp.insert(pod.ip, pod.mac);
        rt.fdb.insert(pod.mac, index);
        self.pod_ix.insert(pod.id.0, index);
        let routes = crate::plan::pod_routes(addr, pod.ifname, pod.gateway_on(rt.node));
        self.pods.push(PodRt {
            pod,
            node,
            routes: RouteTable::new(routes),
        });
        Ok(())
    }

    /// An outside client: its place on the LAN and its one route.
    fn compile_client(&mut self, client: &'c Client) {
        let index = self.clients.len();
        let lan = usize::from(self.cluster.lan_of(client.ip).unwrap_or(0));
        if let Some(l) = self.lans.get_mut(lan) {
            l.arp.entry(client.ip).or_insert(client.mac);
            l.ports.entry(client.mac).or_insert(LanPort::Client(index));
        }
        self.clients.push(ClientRt {
            client,
            lan,
            routes: RouteTable::new(self.cluster.lan_routes(client.ip, ifname("eth0"))),
        });
    }

    /// The cluster this was compiled from.
    pub fn cluster(&self) -> &'c Cluster {
        self.cluster
    }
}
