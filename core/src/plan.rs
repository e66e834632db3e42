//! The desired kernel state of one node: what the agent and the CNI plugin program and the browser draws.
//!
//! A [`Plan`] is computed from a [`Cluster`] and nothing else, so the agent on
//! a real node and the simulation in [`crate::forward`] use the very same
//! routes. It lists the uplink address, the bridge and its gateway address,
//! one veth pair per pod (with the address and routes inside the pod), the
//! node's main route table — connected routes as the kernel adds them, plus
//! host-gw routes to every other node's range, tagged [`RouteProto::Podnet`]
//! — and the NAT rules kube-proxy and the bridge plugin would add.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::{ifname, IfName, MacAddr};
use crate::route::{Route, RouteProto};
use crate::topology::{vxlan, Backend, Cluster, Node, NodeId};

/// The CNI network's name (the conflist's `name`): what runtimes key a
/// pod's attachment by, and portmap hashes into its chain names.
pub const CNI_NETWORK: &str = "podnet";

/// An address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfacePlan {
    /// Device name.
    pub name: IfName,
    /// Address with prefix, e.g. 10.244.1.1/24.
    pub address: Ipv4Network,
    /// Its MAC in the model (the kernel may choose another).
    pub mac: MacAddr,
}

/// One pod's veth pair and what CNI configures inside the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethPlan {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The sandbox's container id.
    pub container_id: String,
    /// Host end, attached to the bridge.
    pub host_name: IfName,
    /// The pod end (eth0) with the pod's address.
    pub pod_if: InterfacePlan,
    /// Routes inside the pod: the connected range and a default via the gateway.
    pub pod_routes: Vec<Route>,
}

/// Address translation podnet's agent applies on a node (Services are
/// kube-proxy's: [`crate::services`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NatRule {
    /// Pod traffic leaving for anywhere but `except` gets the node's address:
    /// the bridge plugin's `ipMasq` (except the cluster range), or podnet's
    /// egress masquerade (except the cluster range and every node, so pod↔pod
    /// and pod↔node stay without NAT; flannel's `--ip-masq` with the nodes
    /// left out).
    Masquerade {
        /// Sources it applies to (this node's range).
        src: Ipv4Network,
        /// Destinations it never applies to.
        except: Vec<Ipv4Network>,
    },
}

/// A node's VXLAN tunnel endpoint and what it needs to reach each peer:
/// flannel's layout, which the kernel's VXLAN driver needs and nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepPlan {
    /// The device (`podnet.1`).
    pub name: IfName,
    /// Its VXLAN network identifier.
    pub vni: u32,
    /// UDP destination port of the outer packets.
    pub port: u16,
    /// Outer source: this node's underlay address.
    pub local: Ipv4Addr,
    /// Its address: the range's network address, /32.
    pub address: Ipv4Network,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its MTU: the underlay's less the 50 bytes of encapsulation.
    pub mtu: u16,
    /// The peers reached through it.
    pub peers: Vec<VtepPeer>,
}

/// One peer behind a VTEP: `ip route` (range via its VTEP address, onlink),
/// `ip neigh` (that address → its VTEP MAC) and `bridge fdb` (that MAC →
/// its underlay address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepPeer {
    /// The peer node.
    pub node: String,
    /// Its pod range.
    pub range: Ipv4Network,
    /// Its VTEP address: the route's gateway and the neighbour entry.
    pub vtep_ip: Ipv4Addr,
    /// Its VTEP MAC: the neighbour entry's and the FDB entry's.
    pub mac: MacAddr,
    /// Its underlay address: where the FDB entry sends the outer packets.
    pub underlay: Ipv4Addr,
}

/// A peer host-gw cannot route to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPeer {
    /// The peer node.
    pub node: String,
    /// The route host-gw would need.
    pub route: Route,
    /// Why the kernel would not take it.
    pub reason: String,
}

/// The desired kernel state of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Node name.
    pub node: String,
    /// The uplink on the LAN.
    pub uplink: InterfacePlan,
    /// The pod bridge with the gateway address.
    pub bridge: InterfacePlan,
    /// MTU of bridge and veths.
    pub mtu: u16,
    /// `net.ipv4.ip_forward`.
    pub ip_forward: bool,
    /// One per pod on the node.
    pub veths: Vec<VethPlan>,
    /// The node's main route table.
    pub routes: Vec<Route>,
    /// NAT rules.
    pub nat: Vec<NatRule>,
    /// The VXLAN device, when the backend has one.
    pub vtep: Option<VtepPlan>,
    /// Peers the backend cannot reach (host-gw across a router).
    pub skipped: Vec<SkippedPeer>,
}

impl Plan {
    /// Only the routes the podnet agent owns (those it adds and may remove).
    pub fn owned_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(|r| r.proto == RouteProto::Podnet)
    }
}

/// The routes CNI puts inside a pod with `addr` behind `gateway`.
pub fn pod_routes(addr: Ipv4Network, pod_if: IfName, gateway: Ipv4Addr) -> Vec<Route> {
    vec![
        Route::connected(addr, pod_if),
        Route::via(
            Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0 is valid"),
            gateway,
            pod_if,
            RouteProto::Boot,
        ),
    ]
}

impl Cluster {
    /// A LAN machine's routes: connected to its LAN and, when there is a
    /// router, every other LAN via the router's address on its own. They
    /// are the underlay's (an admin's or DHCP's), not podnet's.
    pub fn lan_routes(&self, ip: Ipv4Addr, dev: IfName) -> Vec<Route> {
        let Some(lan) = self.lan_of(ip) else {
            return Vec::new();
        };
        let lans = self.lans();
        let own = lans[usize::from(lan)];
        let mut routes = vec![Route::connected(
            Ipv4Network::new(ip, own.prefix()).expect("prefix of the LAN"),
            dev,
        )];
        if let Some(router) = self.router() {
            let gw = router.ports[usize::from(lan)].0;
            let others = lans
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != usize::from(lan));
            routes.extend(others.map(|(_, &l)| Route::via(l, gw, dev, RouteProto::Static)));
        }
        routes
    }

    /// The peers of node `id` and how its backend reaches each: host-gw
    /// (`true`, on its LAN) or the VTEP (`false`); `None` for a peer it
    /// cannot route to at all (host-gw off-LAN). A peer with this node's
    /// very range is left out: the connected route holds it.
    fn peer_paths<'a>(
        &'a self,
        node: &'a Node,
    ) -> impl Iterator<Item = (&'a Node, Option<bool>)> + 'a {
        let backend = self.backend();
        self.nodes()
            .iter()
            .filter(move |n| n.id != node.id && n.pod_range != node.pod_range)
            .map(move |n| {
                let same_lan = n.lan == node.lan && self.lan_of(n.underlay_ip).is_some();
                let path = match backend {
                    Backend::None => None,
                    Backend::HostGw => same_lan.then_some(true),
                    Backend::Vxlan => Some(false),
                    Backend::Auto => Some(same_lan),
                };
                (n, path)
            })
    }

    /// The plan of one node, in the order its parts are set up: its links,
    /// its pods' veths, its own routes and VTEP, a route (or a VTEP peer)
    /// for every other node, and its NAT rules.
    pub fn plan(&self, id: NodeId) -> Result<Plan> {
        let node = self.node(id).ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("{id:?}"),
        })?;
        let (uplink, bridge) = self.plan_links(node);
        let mut routes = self.lan_routes(node.underlay_ip, node.uplink);
        routes.insert(1, Route::connected(bridge.address, bridge.name));
        let mut peers = Peers {
            routes,
            vtep: self.plan_vtep(node),
            skipped: self.peers_with_the_same_range(node),
        };
        self.plan_peers(node, &mut peers);
        Ok(Plan {
            node: node.name.clone(),
            uplink,
            bridge,
            mtu: self.pod_mtu(),
            ip_forward: node.ip_forward,
            veths: self.plan_veths(node),
            routes: peers.routes,
            nat: self.plan_nat(node),
            vtep: peers.vtep,
            skipped: peers.skipped,
        })
    }

    /// Every route a node's table holds: its plan's, and the machine's own
    /// default route when it has one (the one route podnet does not own).
    pub fn node_routes(&self, id: NodeId) -> Result<Vec<Route>> {
        let mut routes = self.plan(id)?.routes;
        if let Some(gw) = self
            .node(id)
            .and_then(|n| n.default_gateway.map(|g| (g, n.uplink)))
        {
            let any = Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0");
            routes.push(Route::via(any, gw.0, gw.1, RouteProto::Boot));
        }
        Ok(routes)
    }

    /// The uplink on its LAN and the pod bridge with the pods' gateway.
    fn plan_links(&self, node: &Node) -> (InterfacePlan, InterfacePlan) {
        let lan = self.lans()[usize::from(node.lan)];
        let uplink = InterfacePlan {
            name: node.uplink,
            address: Ipv4Network::new(node.underlay_ip, lan.prefix()).expect("prefix of the LAN"),
            mac: node.mac,
        };
        let bridge = InterfacePlan {
            name: node.bridge,
            address: node.gateway(),
            mac: node.bridge_mac,
        };
        (uplink, bridge)
    }

    /// A veth pair per pod on the node, with the routes CNI puts in the pod.
    fn plan_veths(&self, node: &Node) -> Vec<VethPlan> {
        self.pods_on(node.id)
            .map(|p| {
                let address =
                    Ipv4Network::new(p.ip, node.pod_range.prefix()).expect("prefix of a range");
                VethPlan {
                    pod: p.full_name(),
                    container_id: p.container_id.clone(),
                    host_name: p.host_veth,
                    pod_if: InterfacePlan {
                        name: p.ifname,
                        address,
                        mac: p.mac,
                    },
                    pod_routes: pod_routes(address, p.ifname, p.gateway_on(node)),
                }
            })
            .collect()
    }

    /// The node's VTEP when the backend has one (its peers come later).
    fn plan_vtep(&self, node: &Node) -> Option<VtepPlan> {
        self.backend().has_vtep().then(|| VtepPlan {
            name: ifname(vxlan::DEVICE),
            vni: vxlan::VNI,
            port: vxlan::PORT,
            local: node.underlay_ip,
            address: Ipv4Network::new(node.vtep_ip(), 32).expect("a /32 is always valid"),
            mac: node.vtep_mac,
            mtu: self.mtu.saturating_sub(vxlan::OVERHEAD),
            peers: Vec::new(),
        })
    }

    /// Peers with this node's very range cannot be routed to: the kernel
    /// refuses the same route twice. (A peer's range that merely overlaps
    /// this one is routed; the longest prefix then decides, as in the kernel.)
    fn peers_with_the_same_range(&self, node: &Node) -> Vec<SkippedPeer> {
        if self.backend() == Backend::None {
            return Vec::new();
        }
        self.nodes()
            .iter()
            .filter(|n| n.id != node.id && n.pod_range == node.pod_range)
            .map(|n| SkippedPeer {
                node: n.name.clone(),
                route: Route::via(n.pod_range, n.underlay_ip, node.uplink, RouteProto::Podnet),
                reason: format!(
                    "{}'s range {} is {}'s own too: packets for it stay on this node's bridge (the connected route), and the kernel refuses the same route twice (\"File exists\")",
                    n.name, n.pod_range, node.name
                ),
            })
            .collect()
    }

    /// A route to every other node's range, direct (host-gw) or through the
    /// VTEP, as the backend reaches that peer; a peer it cannot reach is
    /// skipped with the kernel's reason.
    fn plan_peers(&self, node: &Node, peers: &mut Peers) {
        let lan = self.lans()[usize::from(node.lan)];
        for (n, path) in self.peer_paths(node) {
            let direct = Route::via(n.pod_range, n.underlay_ip, node.uplink, RouteProto::Podnet);
            if node.missing_routes.contains(&n.pod_range) {
                continue;
            }
            // Two peers with one range: the kernel takes the first route
            // and refuses the second.
            if let Some(first) = peers
                .routes
                .iter()
                .find(|r| r.dst == n.pod_range && r.proto == RouteProto::Podnet)
            {
                peers.skipped.push(SkippedPeer {
                    node: n.name.clone(),
                    route: direct,
                    reason: format!(
                        "{}'s range {} is another node's too: {} already has the route via {}, and the kernel refuses a second (\"File exists\")",
                        n.name, n.pod_range, node.name, first.via.map_or_else(|| first.dev.to_string(), |g| g.to_string())
                    ),
                });
                continue;
            }
            match (path, peers.vtep.as_mut()) {
                (Some(true), _) => peers.routes.push(direct),
                (Some(false), Some(v)) => {
                    peers.routes.push(
                        Route::via(n.pod_range, n.vtep_ip(), v.name, RouteProto::Podnet).onlink(),
                    );
                    v.peers.push(VtepPeer {
                        node: n.name.clone(),
                        range: n.pod_range,
                        vtep_ip: n.vtep_ip(),
                        mac: n.vtep_mac,
                        underlay: n.underlay_ip,
                    });
                }
                _ if self.backend() == Backend::HostGw => peers.skipped.push(SkippedPeer {
                    node: n.name.clone(),
                    route: direct,
                    reason: format!(
                        "{} is not on {}'s LAN {lan}: a host-gw next hop must be on-link, and the kernel refuses this route (\"Nexthop has invalid gateway\")",
                        n.underlay_ip, node.name
                    ),
                }),
                _ => {}
            }
        }
    }

    /// The pods' masquerade.
    fn plan_nat(&self, node: &Node) -> Vec<NatRule> {
        let mut nat = Vec::new();
        if self.ip_masq {
            nat.push(NatRule::Masquerade {
                src: node.pod_range,
                except: vec![self.cidr()],
            });
        } else if self.egress_masq {
            let nodes = self
                .nodes()
                .iter()
                .map(|n| Ipv4Network::new(n.underlay_ip, 32).expect("a /32 is always valid"));
            nat.push(NatRule::Masquerade {
                src: node.pod_range,
                except: std::iter::once(self.cidr()).chain(nodes).collect(),
            });
        }
        nat
    }
}

/// What a node's plan says about its peers, built up peer by peer.
struct Peers {
    routes: Vec<Route>,
    vtep: Option<VtepPlan>,
    skipped: Vec<SkippedPeer>,
}

/// The route table of a machine on the LAN that is not a node.
pub fn client_routes(ip: Ipv4Addr, lan: Ipv4Network) -> Vec<Route> {
    vec![Route::connected(
        Ipv4Network::new(ip, lan.prefix()).expect("prefix of the LAN"),
        ifname("eth0"),
    )]
}

#[cfg(test)]
mod tests {
    use crate::topology::scenario;

    #[test]
    fn demo_node1_plan_matches_host_gw() {
        let c = scenario::demo();
        let plan = c.plan(c.node_named("node1").unwrap().id).unwrap();
        let routes: Vec<String> = plan.routes.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            routes,
            [
                "192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.11",
                "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1",
                "10.244.2.0/24 via 192.168.1.12 dev eth0 proto podnet",
            ]
        );
        assert_eq!(plan.bridge.address.to_string(), "10.244.1.1/24");
        assert_eq!(plan.veths.len(), 2);
        let inside: Vec<String> = plan.veths[0]
            .pod_routes
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            inside,
            [
                "10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2",
                "default via 10.244.1.1 dev eth0"
            ]
        );
        assert_eq!(plan.owned_routes().count(), 1);
    }

    #[test]
    fn no_cluster_network_means_no_peer_routes() {
        let c = scenario::unconnected_nodes();
        for n in c.nodes() {
            assert_eq!(c.plan(n.id).unwrap().owned_routes().count(), 0);
        }
    }
}
