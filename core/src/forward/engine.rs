//! The stepping: a frame through pod, veth, bridge, node, LAN and back, as Linux does it.
//!
//! [`Network::new`] compiles a [`Cluster`] into lookup tables — every node's
//! route table comes from its [`Plan`](crate::plan::Plan), every pod's from
//! the routes CNI puts inside it — and [`Network::trace`] walks a frame
//! through them. The walk is a small state machine over where the frame is
//! (`At`); each state applies exactly the rule the kernel applies there and
//! reports it to a `Recorder`, which either keeps every hop (a [`Trace`]) or
//! nothing (the reachability matrix, where only the verdict matters).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnetwork::Ipv4Network;

use super::frame::{FrameRepr, L4Repr, ProbeKind};
use super::trace::{DropReason, Hop, Place, Step, Trace, Verdict};
use crate::error::{Error, Result};
use crate::net::{IfName, MacAddr};
use crate::plan::{client_routes, NatRule};
use crate::route::{Route, RouteTable};
use crate::topology::{Client, Cluster, Endpoint, Node, Pod, Protocol, ServiceId};

/// No real path in this model is longer; a walk that gets here is a loop.
const MAX_STEPS: usize = 64;

/// A cluster compiled for forwarding.
#[derive(Debug)]
pub struct Network<'c> {
    cluster: &'c Cluster,
    nodes: Vec<NodeRt<'c>>,
    node_ix: HashMap<u32, usize>,
    pods: Vec<PodRt<'c>>,
    pod_ix: HashMap<u32, usize>,
    clients: Vec<ClientRt<'c>>,
    /// ARP on the LAN: who answers for an address (first one wins, as the
    /// first ARP reply does).
    lan_arp: HashMap<Ipv4Addr, MacAddr>,
    /// The LAN switch's MAC table.
    lan_ports: HashMap<MacAddr, LanPort>,
}

#[derive(Debug, Clone, Copy)]
enum LanPort {
    Node(usize),
    Client(usize),
}

#[derive(Debug)]
struct NodePortRule {
    service: ServiceId,
    protocol: Protocol,
    port: u16,
    endpoints: Vec<SocketAddrV4>,
    masquerade: bool,
}

#[derive(Debug)]
struct NodeRt<'c> {
    node: &'c Node,
    /// Its position in `Network::nodes`.
    index: usize,
    routes: RouteTable,
    /// ARP on the bridge: pod address → MAC.
    bridge_arp: HashMap<Ipv4Addr, MacAddr>,
    /// The bridge's forwarding database: MAC → pod index.
    fdb: HashMap<MacAddr, usize>,
    node_ports: Vec<NodePortRule>,
    masquerade: Option<(Ipv4Network, Ipv4Network)>,
}

impl NodeRt<'_> {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == self.node.underlay_ip || ip == self.node.ipam.gateway() || ip.is_loopback()
    }

    fn addr_on(&self, dev: IfName) -> Ipv4Addr {
        if dev == self.node.bridge {
            self.node.ipam.gateway()
        } else {
            self.node.underlay_ip
        }
    }

    fn arp_on_bridge(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        if ip == self.node.ipam.gateway() {
            return Some(self.node.bridge_mac);
        }
        self.bridge_arp.get(&ip).copied()
    }
}

#[derive(Debug)]
struct PodRt<'c> {
    pod: &'c Pod,
    node: usize,
    routes: RouteTable,
}

#[derive(Debug)]
struct ClientRt<'c> {
    client: &'c Client,
    routes: RouteTable,
}

/// A sender with one link and one address.
struct Host {
    me: Endpoint,
    place: Place,
    ip: Ipv4Addr,
    mac: MacAddr,
}

/// Where the frame is between steps.
#[derive(Debug, Clone, Copy)]
enum At {
    PodSend(usize),
    PodRecv(usize),
    Bridge(usize),
    NodeSend(usize),
    NodeRecv(usize),
    Lan,
    ClientSend(usize),
    ClientRecv(usize),
}

/// Receives each step of a walk.
pub(crate) trait Recorder {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr);
}

impl Recorder for Vec<Hop> {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr) {
        self.push(Hop {
            place,
            step,
            frame: *frame,
        });
    }
}

/// Keeps nothing: for callers that only need the [`Outcome`].
pub(crate) struct Quiet;

impl Recorder for Quiet {
    fn hop(&mut self, _: Place, _: Step, _: &FrameRepr) {}
}

/// How a walk ended, without the hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Delivered or dropped.
    pub verdict: Verdict,
    /// The frame as it left the sender.
    pub sent: Option<FrameRepr>,
    /// The frame as the receiver got it.
    pub received: Option<FrameRepr>,
}

fn protocol_of(l4: &L4Repr) -> Option<Protocol> {
    match l4 {
        L4Repr::Tcp { .. } => Some(Protocol::Tcp),
        L4Repr::Udp { .. } => Some(Protocol::Udp),
        _ => None,
    }
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
            lan_arp: HashMap::new(),
            lan_ports: HashMap::new(),
        };
        for node in cluster.nodes() {
            let plan = cluster.plan(node.id)?;
            let node_ports = plan
                .nat
                .iter()
                .filter_map(|rule| match rule {
                    NatRule::NodePort {
                        service,
                        protocol,
                        node_port,
                        endpoints,
                        masquerade,
                    } => Some(NodePortRule {
                        service: cluster.services().iter().find(|s| &s.name == service)?.id,
                        protocol: *protocol,
                        port: *node_port,
                        endpoints: endpoints.clone(),
                        masquerade: *masquerade,
                    }),
                    NatRule::Masquerade { .. } => None,
                })
                .collect();
            let masquerade = plan.nat.iter().find_map(|rule| match rule {
                NatRule::Masquerade { src, except_dst } => Some((*src, *except_dst)),
                NatRule::NodePort { .. } => None,
            });
            let index = net.nodes.len();
            net.node_ix.insert(node.id.0, index);
            net.lan_arp.entry(node.underlay_ip).or_insert(node.mac);
            net.lan_ports
                .entry(node.mac)
                .or_insert(LanPort::Node(index));
            net.nodes.push(NodeRt {
                node,
                index,
                routes: RouteTable::new(plan.routes),
                bridge_arp: HashMap::new(),
                fdb: HashMap::new(),
                node_ports,
                masquerade,
            });
        }
        for pod in cluster.pods() {
            let Some(&node) = net.node_ix.get(&pod.node.0) else {
                return Err(Error::Unknown {
                    kind: "node",
                    name: format!("{:?} of pod {}", pod.node, pod.full_name()),
                });
            };
            let rt = &mut net.nodes[node];
            let addr =
                Ipv4Network::new(pod.ip, rt.node.pod_range.prefix()).expect("prefix of a range");
            let index = net.pods.len();
            rt.bridge_arp.insert(pod.ip, pod.mac);
            rt.fdb.insert(pod.mac, index);
            net.pod_ix.insert(pod.id.0, index);
            net.pods.push(PodRt {
                pod,
                node,
                routes: RouteTable::new(crate::plan::pod_routes(
                    addr,
                    pod.ifname,
                    rt.node.ipam.gateway(),
                )),
            });
        }
        for client in cluster.clients() {
            let index = net.clients.len();
            net.lan_arp.entry(client.ip).or_insert(client.mac);
            net.lan_ports
                .entry(client.mac)
                .or_insert(LanPort::Client(index));
            net.clients.push(ClientRt {
                client,
                routes: RouteTable::new(client_routes(client.ip, cluster.underlay())),
            });
        }
        Ok(net)
    }

    /// The cluster this was compiled from.
    pub fn cluster(&self) -> &'c Cluster {
        self.cluster
    }

    /// Walks a real frame (bytes) sent by `from`.
    pub fn trace(&self, from: Endpoint, frame: &[u8]) -> Result<Trace> {
        let (repr, payload) = FrameRepr::parse(frame)?;
        self.trace_repr(from, repr, payload.to_vec())
    }

    /// Walks a frame given as headers plus payload.
    pub fn trace_repr(&self, from: Endpoint, frame: FrameRepr, payload: Vec<u8>) -> Result<Trace> {
        let mut hops = Vec::with_capacity(16);
        let out = self.walk(from, frame, &mut hops)?;
        Ok(Trace {
            from,
            injected: frame,
            sent: out.sent,
            payload,
            hops,
            verdict: out.verdict,
        })
    }

    /// Sends a test packet from `from` to `to`, the source chosen by the sender's kernel.
    pub fn probe(&self, from: Endpoint, to: Ipv4Addr, kind: ProbeKind) -> Result<Trace> {
        self.trace_repr(from, kind.frame(Ipv4Addr::UNSPECIFIED, to), Vec::new())
    }

    /// Like [`Network::probe`] but keeps only the outcome (no hop list).
    pub fn probe_outcome(&self, from: Endpoint, to: Ipv4Addr, kind: ProbeKind) -> Result<Outcome> {
        self.walk(from, kind.frame(Ipv4Addr::UNSPECIFIED, to), &mut Quiet)
    }

    fn start(&self, from: Endpoint) -> Result<At> {
        let unknown = |kind, id: String| Error::Unknown { kind, name: id };
        Ok(match from {
            Endpoint::Pod(p) => At::PodSend(
                *self
                    .pod_ix
                    .get(&p.0)
                    .ok_or_else(|| unknown("pod", format!("{p:?}")))?,
            ),
            Endpoint::Node(n) => At::NodeSend(
                *self
                    .node_ix
                    .get(&n.0)
                    .ok_or_else(|| unknown("node", format!("{n:?}")))?,
            ),
            Endpoint::Client(c) => At::ClientSend(
                self.clients
                    .iter()
                    .position(|r| r.client.id == c)
                    .ok_or_else(|| unknown("client", format!("{c:?}")))?,
            ),
        })
    }

    pub(crate) fn walk<R: Recorder>(
        &self,
        from: Endpoint,
        mut f: FrameRepr,
        rec: &mut R,
    ) -> Result<Outcome> {
        let mut at = self.start(from)?;
        let mut sent = None;
        // kube-proxy's "masquerade me" mark, set by a NodePort DNAT.
        let mut mark_masq = false;
        macro_rules! finish {
            ($place:expr, $verdict:expr) => {{
                let verdict = $verdict;
                let step = match verdict {
                    Verdict::Delivered { .. } => Step::Deliver,
                    Verdict::Dropped { reason, .. } => Step::Drop(reason),
                };
                rec.hop($place, step, &f);
                let received = matches!(verdict, Verdict::Delivered { .. }).then_some(f);
                return Ok(Outcome {
                    verdict,
                    sent,
                    received,
                });
            }};
        }
        macro_rules! drop_at {
            ($place:expr, $reason:expr) => {
                finish!(
                    $place,
                    Verdict::Dropped {
                        at: $place,
                        reason: $reason
                    }
                )
            };
        }
        for _ in 0..MAX_STEPS {
            at = match at {
                At::PodSend(p) => {
                    let rt = &self.pods[p];
                    let node = &self.nodes[rt.node];
                    let host = Host {
                        me: Endpoint::Pod(rt.pod.id),
                        place: Place::Pod(rt.pod.id),
                        ip: rt.pod.ip,
                        mac: rt.pod.mac,
                    };
                    if let Err(end) =
                        self.host_send(&host, &rt.routes, |ip| node.arp_on_bridge(ip), &mut f, rec)
                    {
                        if matches!(end, Verdict::Delivered { .. }) {
                            sent = Some(f);
                        }
                        finish!(host.place, end)
                    }
                    sent = Some(f);
                    rec.hop(Place::Veth(rt.pod.id), Step::CrossVeth, &f);
                    At::Bridge(rt.node)
                }
                At::Bridge(n) => {
                    let rt = &self.nodes[n];
                    let place = Place::Bridge(rt.node.id);
                    if f.dst_mac == rt.node.bridge_mac {
                        rec.hop(place, Step::BridgeUp, &f);
                        At::NodeRecv(n)
                    } else if let Some(&p) = rt.fdb.get(&f.dst_mac) {
                        let pod = self.pods[p].pod;
                        rec.hop(
                            place,
                            Step::BridgeForward {
                                port: pod.host_veth,
                            },
                            &f,
                        );
                        rec.hop(Place::Veth(pod.id), Step::CrossVeth, &f);
                        At::PodRecv(p)
                    } else {
                        drop_at!(place, DropReason::UnknownMac { mac: f.dst_mac })
                    }
                }
                At::PodRecv(p) => {
                    let pod = self.pods[p].pod;
                    if f.dst == pod.ip {
                        finish!(
                            Place::Pod(pod.id),
                            Verdict::Delivered {
                                to: Endpoint::Pod(pod.id)
                            }
                        )
                    }
                    drop_at!(
                        Place::Pod(pod.id),
                        DropReason::NotForThisHost { dst: f.dst }
                    )
                }
                At::NodeSend(n) | At::NodeRecv(n) => {
                    let local = matches!(at, At::NodeSend(_));
                    let rt = &self.nodes[n];
                    let place = Place::Node(rt.node.id);
                    if rt.is_local(f.dst) {
                        match self.node_port_dnat(rt, &mut f, rec) {
                            Ok(Some(masq)) => mark_masq = masq,
                            Ok(None) => {}
                            Err(reason) => drop_at!(place, reason),
                        }
                    }
                    if rt.is_local(f.dst) {
                        if f.src.is_unspecified() {
                            f.src = f.dst;
                            sent = Some(f);
                        }
                        finish!(
                            place,
                            Verdict::Delivered {
                                to: Endpoint::Node(rt.node.id)
                            }
                        )
                    }
                    if !local && !rt.node.ip_forward {
                        drop_at!(place, DropReason::ForwardingDisabled)
                    }
                    let Some(route) = rt.routes.lookup(f.dst) else {
                        drop_at!(place, DropReason::NoRoute { dst: f.dst })
                    };
                    if local {
                        if f.src.is_unspecified() {
                            f.src = route.src.unwrap_or_else(|| rt.addr_on(route.dev));
                        }
                        rec.hop(place, Step::Send { route: *route }, &f);
                    } else {
                        if f.ttl <= 1 {
                            drop_at!(place, DropReason::TtlExceeded)
                        }
                        f.ttl -= 1;
                        rec.hop(place, Step::Forward { route: *route }, &f);
                    }
                    self.postrouting(rt, route, mark_masq, &mut f, rec);
                    match self.egress(rt, route, &mut f, rec) {
                        Ok(next) => {
                            if local {
                                sent = Some(f);
                            }
                            next
                        }
                        Err(reason) => drop_at!(place, reason),
                    }
                }
                At::Lan => {
                    // The mark lives in this node's skb; it does not cross the wire.
                    mark_masq = false;
                    match self.lan_ports.get(&f.dst_mac) {
                        Some(&LanPort::Node(m)) => {
                            let node = self.nodes[m].node;
                            rec.hop(
                                Place::Lan,
                                Step::Switch {
                                    to: Endpoint::Node(node.id),
                                },
                                &f,
                            );
                            rec.hop(
                                Place::Uplink(node.id),
                                Step::Receive { dev: node.uplink },
                                &f,
                            );
                            At::NodeRecv(m)
                        }
                        Some(&LanPort::Client(c)) => {
                            rec.hop(
                                Place::Lan,
                                Step::Switch {
                                    to: Endpoint::Client(self.clients[c].client.id),
                                },
                                &f,
                            );
                            At::ClientRecv(c)
                        }
                        None => drop_at!(Place::Lan, DropReason::UnknownMac { mac: f.dst_mac }),
                    }
                }
                At::ClientSend(c) => {
                    let rt = &self.clients[c];
                    let host = Host {
                        me: Endpoint::Client(rt.client.id),
                        place: Place::Client(rt.client.id),
                        ip: rt.client.ip,
                        mac: rt.client.mac,
                    };
                    if let Err(end) = self.host_send(
                        &host,
                        &rt.routes,
                        |ip| self.lan_arp.get(&ip).copied(),
                        &mut f,
                        rec,
                    ) {
                        if matches!(end, Verdict::Delivered { .. }) {
                            sent = Some(f);
                        }
                        finish!(host.place, end)
                    }
                    sent = Some(f);
                    At::Lan
                }
                At::ClientRecv(c) => {
                    let client = self.clients[c].client;
                    let place = Place::Client(client.id);
                    if f.dst == client.ip {
                        finish!(
                            place,
                            Verdict::Delivered {
                                to: Endpoint::Client(client.id)
                            }
                        )
                    }
                    drop_at!(place, DropReason::NotForThisHost { dst: f.dst })
                }
            };
        }
        let place = Place::Lan;
        drop_at!(place, DropReason::HopLimit)
    }

    /// How a host with one link sends (a pod, an outside client): its own
    /// address as source, itself and loopback delivered at once, else its
    /// route table and ARP on its link. `Err` is where the walk ends: the
    /// local delivery, or the drop.
    fn host_send<R: Recorder>(
        &self,
        host: &Host,
        routes: &RouteTable,
        arp: impl Fn(Ipv4Addr) -> Option<MacAddr>,
        f: &mut FrameRepr,
        rec: &mut R,
    ) -> Result<(), Verdict> {
        let drop = |reason| Verdict::Dropped {
            at: host.place,
            reason,
        };
        if f.src.is_unspecified() {
            f.src = host.ip;
        }
        if f.dst == host.ip || f.dst.is_loopback() {
            return Err(Verdict::Delivered { to: host.me });
        }
        let route = routes
            .lookup(f.dst)
            .ok_or(drop(DropReason::NoRoute { dst: f.dst }))?;
        rec.hop(host.place, Step::Send { route: *route }, f);
        let next = route.next_hop(f.dst);
        let mac = arp(next).ok_or(drop(DropReason::NoArpReply { ip: next }))?;
        (f.src_mac, f.dst_mac) = (host.mac, mac);
        rec.hop(
            host.place,
            Step::Arp {
                ip: next,
                mac,
                dev: route.dev,
            },
            f,
        );
        Ok(())
    }

    /// kube-proxy's node port rule: `Ok(None)` when no rule matches,
    /// `Ok(Some(masquerade))` when the destination was rewritten.
    fn node_port_dnat<R: Recorder>(
        &self,
        rt: &NodeRt,
        f: &mut FrameRepr,
        rec: &mut R,
    ) -> Result<Option<bool>, DropReason> {
        let (Some((src_port, dst_port)), Some(proto)) = (f.l4.ports(), protocol_of(&f.l4)) else {
            return Ok(None);
        };
        let Some(rule) = rt
            .node_ports
            .iter()
            .find(|r| r.protocol == proto && r.port == dst_port)
        else {
            return Ok(None);
        };
        if rule.endpoints.is_empty() {
            return Err(DropReason::NoEndpoints {
                service: rule.service,
            });
        }
        // kube-proxy picks at random; a hash of the flow keeps the model
        // deterministic and a flow's packets on one endpoint, as conntrack does.
        let flow = u32::from(f.src) ^ u32::from(src_port).wrapping_mul(2_654_435_761);
        let to = rule.endpoints[flow as usize % rule.endpoints.len()];
        let from = SocketAddrV4::new(f.dst, dst_port);
        f.dst = *to.ip();
        f.l4.set_ports(src_port, to.port());
        rec.hop(
            Place::Node(rt.node.id),
            Step::Dnat {
                service: rule.service,
                from,
                to,
            },
            f,
        );
        Ok(Some(rule.masquerade))
    }

    /// Masquerade on the way out: kube-proxy's mark, or the bridge plugin's ipMasq.
    fn postrouting<R: Recorder>(
        &self,
        rt: &NodeRt,
        route: &Route,
        marked: bool,
        f: &mut FrameRepr,
        rec: &mut R,
    ) {
        let ip_masq = rt.masquerade.is_some_and(|(src, except)| {
            src.contains(f.src) && !except.contains(f.dst) && route.dev != rt.node.bridge
        });
        let to = rt.addr_on(route.dev);
        if (marked || ip_masq) && f.src != to {
            let from = f.src;
            f.src = to;
            rec.hop(Place::Node(rt.node.id), Step::Snat { from, to }, f);
        }
    }

    /// ARP for the next hop on the route's device and put the frame on that link.
    fn egress<R: Recorder>(
        &self,
        rt: &NodeRt,
        route: &Route,
        f: &mut FrameRepr,
        rec: &mut R,
    ) -> Result<At, DropReason> {
        let next = route.next_hop(f.dst);
        let place = Place::Node(rt.node.id);
        let index = rt.index;
        if route.dev == rt.node.bridge {
            let mac = rt
                .arp_on_bridge(next)
                .ok_or(DropReason::NoArpReply { ip: next })?;
            (f.src_mac, f.dst_mac) = (rt.node.bridge_mac, mac);
            rec.hop(
                place,
                Step::Arp {
                    ip: next,
                    mac,
                    dev: route.dev,
                },
                f,
            );
            Ok(At::Bridge(index))
        } else if route.dev == rt.node.uplink {
            let mac = *self
                .lan_arp
                .get(&next)
                .ok_or(DropReason::NoArpReply { ip: next })?;
            (f.src_mac, f.dst_mac) = (rt.node.mac, mac);
            rec.hop(
                place,
                Step::Arp {
                    ip: next,
                    mac,
                    dev: route.dev,
                },
                f,
            );
            rec.hop(
                Place::Uplink(rt.node.id),
                Step::Transmit { dev: route.dev },
                f,
            );
            Ok(At::Lan)
        } else {
            Err(DropReason::NoRoute { dst: f.dst })
        }
    }
}
