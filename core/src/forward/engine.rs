//! The stepping: a frame through pod, veth, bridge, node, LAN and back, as Linux does it.
//!
//! [`Network::new`] compiles a [`Cluster`] into lookup tables — every node's
//! route table comes from its [`Plan`](crate::plan::Plan), every pod's from
//! the routes CNI puts inside it — and [`Network::trace`] walks a frame
//! through them. The walk reads like the kernel's path, as smoltcp's
//! `process_*` chain does: one `process_*` method per stage (pod egress,
//! veth, bridge, node routing, NAT, egress and ARP, the LAN, delivery), each
//! applying exactly the rule the kernel applies there and returning the next
//! place (`At`) or the end of the walk. Every step is reported to a
//! `Recorder`, which either keeps every hop (a [`Trace`]) or nothing (the
//! reachability matrix, where only the verdict matters).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnetwork::Ipv4Network;

use super::frame::{parse_packet, Encap, FrameRepr, L4Repr, ProbeKind};
use super::trace::{Conntrack, DropReason, Hop, Place, Step, Trace, Tuple, Verdict};
use crate::error::{Error, Result};
use crate::net::{ifname, IfName, MacAddr};
use crate::plan::{NatRule, VtepPlan};
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
    /// Each LAN's ARP answers and switch.
    lans: Vec<LanRt>,
    /// The router between the LANs, if there is more than one.
    router: Option<RouterRt>,
}

/// One LAN: who answers ARP for an address (first one wins, as the first
/// ARP reply does), and its switch's MAC table.
#[derive(Debug, Default)]
struct LanRt {
    arp: HashMap<Ipv4Addr, MacAddr>,
    ports: HashMap<MacAddr, LanPort>,
}

#[derive(Debug, Clone, Copy)]
enum LanPort {
    Node(usize),
    Client(usize),
    Router,
}

/// The router: .1 on every LAN, a connected route to each, nothing else
/// (it knows no pod range: the underlay of a routed lab network).
#[derive(Debug)]
struct RouterRt {
    ports: Vec<(Ipv4Addr, MacAddr)>,
    routes: RouteTable,
}

/// A node's VTEP as the kernel's VXLAN driver holds it.
#[derive(Debug)]
struct VtepRt {
    plan: VtepPlan,
    /// `ip neigh` on the device: peer VTEP address → its MAC.
    neigh: HashMap<Ipv4Addr, MacAddr>,
    /// `bridge fdb` on the device: peer VTEP MAC → its underlay address.
    fdb: HashMap<MacAddr, Ipv4Addr>,
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
    masquerade: Option<(Ipv4Network, Vec<Ipv4Network>)>,
    vtep: Option<VtepRt>,
    /// MTU of the bridge and veths; the uplink's.
    pod_mtu: u16,
    link_mtu: u16,
}

impl NodeRt<'_> {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip == self.node.underlay_ip
            || ip == self.node.ipam.gateway()
            || ip.is_loopback()
            || self
                .vtep
                .as_ref()
                .is_some_and(|v| v.plan.address.ip() == ip)
    }

    fn addr_on(&self, dev: IfName) -> Ipv4Addr {
        match &self.vtep {
            _ if dev == self.node.bridge => self.node.ipam.gateway(),
            Some(v) if dev == v.plan.name => v.plan.address.ip(),
            _ => self.node.underlay_ip,
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
    lan: usize,
    routes: RouteTable,
}

/// A sender with one link and one address.
struct Host {
    me: Endpoint,
    place: Place,
    ip: Ipv4Addr,
    mac: MacAddr,
    mtu: u16,
}

/// Where the frame is between steps.
#[derive(Debug, Clone, Copy)]
enum At {
    PodSend(usize),
    PodRecv(usize),
    Bridge(usize),
    NodeSend(usize),
    NodeRecv(usize),
    Lan(usize),
    Router,
    ClientSend(usize),
    ClientRecv(usize),
}

/// Receives each step of a walk.
pub(crate) trait Recorder {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr, outer: Option<Encap>);
}

impl Recorder for Vec<Hop> {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr, outer: Option<Encap>) {
        self.push(Hop {
            place,
            step,
            frame: *frame,
            outer,
        });
    }
}

/// Keeps nothing: for callers that only need the [`Outcome`].
pub(crate) struct Quiet;

impl Recorder for Quiet {
    fn hop(&mut self, _: Place, _: Step, _: &FrameRepr, _: Option<Encap>) {}
}

/// How a walk ended, without the hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Delivered or dropped.
    pub verdict: Verdict,
    /// The frame as it left the sender.
    pub sent: Option<FrameRepr>,
    /// The frame as the receiver got it.
    pub received: Option<FrameRepr>,
    /// The conntrack entry of each node it passed, for the reply.
    pub conntrack: Vec<Conntrack>,
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
            lans: cluster.lans().iter().map(|_| LanRt::default()).collect(),
            router: None,
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
        let mut node_ports = Vec::new();
        let mut masquerade = None;
        for rule in &plan.nat {
            match rule {
                NatRule::NodePort {
                    service,
                    protocol,
                    node_port,
                    endpoints,
                    masquerade,
                } => node_ports.extend(self.cluster.service_named(service).map(|s| NodePortRule {
                    service: s.id,
                    protocol: *protocol,
                    port: *node_port,
                    endpoints: endpoints.clone(),
                    masquerade: *masquerade,
                })),
                NatRule::Masquerade { src, except } => {
                    masquerade = masquerade.or_else(|| Some((*src, except.clone())));
                }
            }
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
        self.nodes.push(NodeRt {
            node,
            index,
            routes: RouteTable::new(plan.routes),
            bridge_arp: HashMap::new(),
            fdb: HashMap::new(),
            node_ports,
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

    /// Walks a real frame (bytes) sent by `from`; a VXLAN-encapsulated
    /// one is sent as it is, its inner frame carried inside.
    pub fn trace(&self, from: Endpoint, frame: &[u8]) -> Result<Trace> {
        let (repr, encap, payload) = parse_packet(frame)?;
        let mut hops = Vec::with_capacity(16);
        let len = repr.ip_len(payload.len());
        let out = self.walk_from(from, repr, encap, len, &[], &mut hops)?;
        Ok(Trace {
            from,
            injected: encap.map_or(repr, |e| e.outer),
            sent: out.sent,
            payload: payload.to_vec(),
            hops,
            verdict: out.verdict,
            conntrack: out.conntrack,
        })
    }

    /// Walks a frame given as headers plus payload.
    pub fn trace_repr(&self, from: Endpoint, frame: FrameRepr, payload: Vec<u8>) -> Result<Trace> {
        self.trace_answer(from, frame, payload, &[])
    }

    /// [`Network::trace_repr`] for a packet that answers a connection whose
    /// NAT `conntrack` holds: nodes undo it on the way.
    fn trace_answer(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        payload: Vec<u8>,
        conntrack: &[Conntrack],
    ) -> Result<Trace> {
        let mut hops = Vec::with_capacity(16);
        let len = frame.ip_len(payload.len());
        let out = self.walk_from(from, frame, None, len, conntrack, &mut hops)?;
        Ok(Trace {
            from,
            injected: frame,
            sent: out.sent,
            payload,
            hops,
            verdict: out.verdict,
            conntrack: out.conntrack,
        })
    }

    /// The answer to a delivered request (echo reply, SYN-ACK, UDP back),
    /// hop by hop from whoever got it to whoever it says sent it; nodes
    /// that translated the request undo that on the reply, as conntrack does.
    pub fn reply(&self, request: &Trace) -> Result<Option<Trace>> {
        match (request.verdict, request.received()) {
            (Verdict::Delivered { to }, Some(got)) => self
                .trace_answer(to, got.reply(), Vec::new(), &request.conntrack)
                .map(Some),
            _ => Ok(None),
        }
    }

    /// [`Network::reply`] keeping only the outcome.
    pub fn reply_outcome(&self, request: &Outcome) -> Result<Option<Outcome>> {
        match (request.verdict, request.received) {
            (Verdict::Delivered { to }, Some(got)) => {
                let len = got.ip_len(0);
                self.walk_from(to, got.reply(), None, len, &request.conntrack, &mut Quiet)
                    .map(Some)
            }
            _ => Ok(None),
        }
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

    /// Walks a frame from `from` until it is delivered or dropped. Each
    /// `process_*` stage applies the one rule the kernel applies there and
    /// returns where the frame goes next, or how the walk ends.
    pub(crate) fn walk<R: Recorder>(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        rec: &mut R,
    ) -> Result<Outcome> {
        let len = frame.ip_len(0);
        self.walk_from(from, frame, None, len, &[], rec)
    }

    /// [`Network::walk`] for a frame `len` bytes long (IPv4 total length),
    /// inside `encap` if given.
    fn walk_from<R: Recorder>(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        encap: Option<Encap>,
        len: usize,
        undo: &[Conntrack],
        rec: &mut R,
    ) -> Result<Outcome> {
        let mut at = self.start(from)?;
        let (f, inner) = match encap {
            Some(e) => (e.outer, Some((frame, e.vni))),
            None => (frame, None),
        };
        let mut w = Walk {
            f,
            inner,
            len,
            sent: None,
            mark_masq: false,
            conntrack: Vec::new(),
            undo,
            rec,
        };
        for _ in 0..MAX_STEPS {
            let next = match at {
                At::PodSend(p) => self.process_pod_egress(p, &mut w),
                At::Bridge(n) => self.process_bridge(n, &mut w),
                At::PodRecv(p) => Err(self.process_pod_ingress(p, &w)),
                At::NodeSend(n) => self.process_node(n, true, &mut w),
                At::NodeRecv(n) => self.process_node(n, false, &mut w),
                At::Lan(k) => self.process_lan(k, &mut w),
                At::Router => self.process_router(&mut w),
                At::ClientSend(c) => self.process_client_egress(c, &mut w),
                At::ClientRecv(c) => Err(self.process_client_ingress(c, &w)),
            };
            match next {
                Ok(next) => at = next,
                Err(end) => return Ok(w.finish(end)),
            }
        }
        Ok(w.finish(End::drop(Place::Router, DropReason::HopLimit)))
    }

    /// A pod sends: its own route table and ARP on eth0, then across its veth.
    fn process_pod_egress<R: Recorder>(&self, p: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.pods[p];
        let node = &self.nodes[rt.node];
        let host = Host {
            me: Endpoint::Pod(rt.pod.id),
            place: Place::Pod(rt.pod.id),
            ip: rt.pod.ip,
            mac: rt.pod.mac,
            mtu: node.pod_mtu,
        };
        self.host_send(&host, &rt.routes, |ip| node.arp_on_bridge(ip), w)?;
        Ok(self.process_veth_to_bridge(p, w))
    }

    /// The pod's frame comes out of the veth's host end, a port of the bridge.
    fn process_veth_to_bridge<R: Recorder>(&self, p: usize, w: &mut Walk<R>) -> At {
        let rt = &self.pods[p];
        w.hop(Place::Veth(rt.pod.id), Step::CrossVeth);
        At::Bridge(rt.node)
    }

    /// The bridge: its own MAC goes up to the node, a pod's out of that pod's port.
    fn process_bridge<R: Recorder>(&self, n: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.nodes[n];
        let place = Place::Bridge(rt.node.id);
        if w.f.dst_mac == rt.node.bridge_mac {
            w.hop(place, Step::BridgeUp);
            return Ok(At::NodeRecv(n));
        }
        let Some(&p) = rt.fdb.get(&w.f.dst_mac) else {
            return Err(End::drop(
                place,
                DropReason::UnknownMac { mac: w.f.dst_mac },
            ));
        };
        let pod = self.pods[p].pod;
        w.hop(
            place,
            Step::BridgeForward {
                port: pod.host_veth,
            },
        );
        w.hop(Place::Veth(pod.id), Step::CrossVeth);
        Ok(At::PodRecv(p))
    }

    /// A pod receives: its socket takes the packet only if it carries its address.
    fn process_pod_ingress<R: Recorder>(&self, p: usize, w: &Walk<R>) -> End {
        let pod = self.pods[p].pod;
        End::receive(Place::Pod(pod.id), Endpoint::Pod(pod.id), pod.ip, w.f.dst)
    }

    /// A node's IP stack, for a packet it sends (`local`) or receives:
    /// NodePort DNAT, local delivery, routing, masquerade, then out.
    fn process_node<R: Recorder>(&self, n: usize, local: bool, w: &mut Walk<R>) -> Next {
        let rt = &self.nodes[n];
        if !local && rt.is_local(w.f.dst) && w.inner.is_some() {
            if let Some(v) = &rt.vtep {
                return self.process_decap(rt, v, w);
            }
        }
        let before = Tuple::of(&w.f);
        let answered = w.inner.is_none() && !w.undo.is_empty() && self.process_conntrack(rt, w);
        if rt.is_local(w.f.dst) && !answered {
            self.process_dnat(rt, w)?;
        }
        if rt.is_local(w.f.dst) {
            w.track(rt, before, answered);
            return Err(self.process_node_delivery(rt, w));
        }
        let route = self.process_routing(rt, local, w)?;
        if !answered {
            self.process_snat(rt, route, w);
        }
        w.track(rt, before, answered);
        let next = self.process_egress(rt, route, w)?;
        if local {
            w.sent = Some(w.inner.map_or(w.f, |(inner, _)| inner));
        }
        Ok(next)
    }

    /// A reply to a connection this node saw: conntrack rewrites back what
    /// it translated (destination, then source), and no NAT rule is asked
    /// again, as for any packet of an established connection. A node that
    /// never saw the request takes the reply as a new connection.
    fn process_conntrack<R: Recorder>(&self, rt: &NodeRt, w: &mut Walk<R>) -> bool {
        let now = Tuple::of(&w.f);
        let Some(ct) = w
            .undo
            .iter()
            .find(|c| c.node == rt.node.id && c.translated.reversed() == now)
            .copied()
        else {
            return false;
        };
        let back = ct.original.reversed();
        let place = Place::Node(rt.node.id);
        if back.dst != now.dst {
            w.f.dst = *back.dst.ip();
            w.hop(
                place,
                Step::UnSnat {
                    from: *now.dst.ip(),
                    to: *back.dst.ip(),
                },
            );
        }
        if back.src != now.src {
            w.f.src = *back.src.ip();
            w.hop(
                place,
                Step::UnDnat {
                    from: now.src,
                    to: back.src,
                },
            );
        }
        if w.f.l4.ports().is_some() {
            w.f.l4.set_ports(back.src.port(), back.dst.port());
        }
        true
    }

    /// Delivered to the node itself; a node that pinged itself gets its own
    /// address as the source.
    fn process_node_delivery<R: Recorder>(&self, rt: &NodeRt, w: &mut Walk<R>) -> End {
        if w.f.src.is_unspecified() {
            w.f.src = w.f.dst;
            w.sent = Some(w.f);
        }
        End::deliver(Place::Node(rt.node.id), Endpoint::Node(rt.node.id))
    }

    /// The route lookup (longest-prefix match): a node's own packet takes the
    /// route's source; a forwarded one needs `ip_forward` and loses one TTL.
    fn process_routing<'n, R: Recorder>(
        &self,
        rt: &'n NodeRt,
        local: bool,
        w: &mut Walk<R>,
    ) -> Result<&'n Route, End> {
        let place = Place::Node(rt.node.id);
        if !local && !rt.node.ip_forward {
            return Err(End::drop(place, DropReason::ForwardingDisabled));
        }
        let Some(route) = rt.routes.lookup(w.f.dst) else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        if local {
            if w.f.src.is_unspecified() {
                w.f.src = route.src.unwrap_or_else(|| rt.addr_on(route.dev));
            }
            w.hop(place, Step::Send { route: *route });
        } else {
            if w.f.ttl <= 1 {
                return Err(End::drop(place, DropReason::TtlExceeded));
            }
            w.f.ttl -= 1;
            w.hop(place, Step::Forward { route: *route });
        }
        Ok(route)
    }

    /// The VXLAN socket on the node's UDP port takes an encapsulated frame
    /// for the node's address: VNI and inner destination MAC must be the
    /// VTEP's, then the inner frame comes in through `podnet.1`.
    fn process_decap<R: Recorder>(&self, rt: &NodeRt, v: &VtepRt, w: &mut Walk<R>) -> Next {
        let place = Place::Vtep(rt.node.id);
        let Some((inner, vni)) = w.inner else {
            return Ok(At::NodeRecv(rt.index));
        };
        let port_ok = matches!(w.f.l4, L4Repr::Udp { dst_port, .. } if dst_port == v.plan.port);
        if !port_ok || vni != v.plan.vni {
            return Err(End::drop(
                Place::Node(rt.node.id),
                DropReason::NotForThisHost { dst: inner.dst },
            ));
        }
        w.hop(place, Step::Decap { vni });
        (w.f, w.inner) = (inner, None);
        if w.f.dst_mac != v.plan.mac {
            return Err(End::drop(
                place,
                DropReason::UnknownMac { mac: w.f.dst_mac },
            ));
        }
        w.hop(place, Step::Receive { dev: v.plan.name });
        Ok(At::NodeRecv(rt.index))
    }

    /// A LAN's switch: to the node, client or router port whose MAC the frame carries.
    fn process_lan<R: Recorder>(&self, k: usize, w: &mut Walk<R>) -> Next {
        // The mark lives in one node's skb; it does not cross the wire.
        w.mark_masq = false;
        let place = Place::Lan(k as u8);
        let port = self.lans.get(k).and_then(|l| l.ports.get(&w.f.dst_mac));
        match port {
            Some(&LanPort::Node(m)) => {
                let node = self.nodes[m].node;
                w.hop(
                    place,
                    Step::Switch {
                        to: Endpoint::Node(node.id),
                    },
                );
                w.hop(Place::Uplink(node.id), Step::Receive { dev: node.uplink });
                Ok(At::NodeRecv(m))
            }
            Some(&LanPort::Client(c)) => {
                w.hop(
                    place,
                    Step::Switch {
                        to: Endpoint::Client(self.clients[c].client.id),
                    },
                );
                Ok(At::ClientRecv(c))
            }
            Some(LanPort::Router) => {
                w.hop(place, Step::SwitchToRouter);
                Ok(At::Router)
            }
            None => Err(End::drop(
                place,
                DropReason::UnknownMac { mac: w.f.dst_mac },
            )),
        }
    }

    /// The router forwards between LANs: TTL, its connected routes, ARP on
    /// the outgoing LAN. It has no route to any pod range.
    fn process_router<R: Recorder>(&self, w: &mut Walk<R>) -> Next {
        let place = Place::Router;
        let Some(r) = &self.router else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        if r.ports.iter().any(|&(ip, _)| ip == w.f.dst) {
            return Err(End::drop(
                place,
                DropReason::NotForThisHost { dst: w.f.dst },
            ));
        }
        let Some(route) = r.routes.lookup(w.f.dst) else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        if w.f.ttl <= 1 {
            return Err(End::drop(place, DropReason::TtlExceeded));
        }
        w.f.ttl -= 1;
        w.hop(place, Step::Forward { route: *route });
        let k = r
            .routes
            .routes()
            .iter()
            .position(|x| x == route)
            .unwrap_or(0);
        let Some(&mac) = self.lans.get(k).and_then(|l| l.arp.get(&w.f.dst)) else {
            return Err(End::drop(place, DropReason::NoArpReply { ip: w.f.dst }));
        };
        (w.f.src_mac, w.f.dst_mac) = (r.ports[k].1, mac);
        w.hop(
            place,
            Step::Arp {
                ip: w.f.dst,
                mac,
                dev: route.dev,
            },
        );
        Ok(At::Lan(k))
    }

    /// An outside client sends: its route table and ARP on the LAN.
    fn process_client_egress<R: Recorder>(&self, c: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.clients[c];
        let host = Host {
            me: Endpoint::Client(rt.client.id),
            place: Place::Client(rt.client.id),
            ip: rt.client.ip,
            mac: rt.client.mac,
            mtu: self.cluster.mtu,
        };
        let lan = &self.lans[rt.lan];
        self.host_send(&host, &rt.routes, |ip| lan.arp.get(&ip).copied(), w)?;
        Ok(At::Lan(rt.lan))
    }

    /// An outside client receives: only what carries its address.
    fn process_client_ingress<R: Recorder>(&self, c: usize, w: &Walk<R>) -> End {
        let client = self.clients[c].client;
        End::receive(
            Place::Client(client.id),
            Endpoint::Client(client.id),
            client.ip,
            w.f.dst,
        )
    }

    /// How a host with one link sends (a pod, an outside client): its own
    /// address as source, itself and loopback delivered at once, else its
    /// route table and ARP on its link.
    fn host_send<R: Recorder>(
        &self,
        host: &Host,
        routes: &RouteTable,
        arp: impl Fn(Ipv4Addr) -> Option<MacAddr>,
        w: &mut Walk<R>,
    ) -> Result<(), End> {
        if w.f.src.is_unspecified() {
            w.f.src = host.ip;
        }
        if w.f.dst == host.ip || w.f.dst.is_loopback() {
            w.sent = Some(w.f);
            return Err(End::deliver(host.place, host.me));
        }
        let drop = |reason| End::drop(host.place, reason);
        let route = routes
            .lookup(w.f.dst)
            .ok_or(drop(DropReason::NoRoute { dst: w.f.dst }))?;
        // The source MAC is the sender's own from the start; the destination
        // is known once ARP answers (the next hop).
        w.f.src_mac = host.mac;
        w.hop(host.place, Step::Send { route: *route });
        w.check_mtu(host.place, host.mtu)?;
        let next = route.next_hop(w.f.dst);
        let mac = arp(next).ok_or(drop(DropReason::NoArpReply { ip: next }))?;
        (w.f.src_mac, w.f.dst_mac) = (host.mac, mac);
        w.hop(
            host.place,
            Step::Arp {
                ip: next,
                mac,
                dev: route.dev,
            },
        );
        w.sent = Some(w.f);
        Ok(())
    }

    /// kube-proxy's NodePort rule (DNAT) for a packet addressed to the node;
    /// a match also sets the masquerade mark when the service asks for it.
    fn process_dnat<R: Recorder>(&self, rt: &NodeRt, w: &mut Walk<R>) -> Result<(), End> {
        let f = &mut w.f;
        let (Some((src_port, dst_port)), Some(proto)) = (f.l4.ports(), protocol_of(&f.l4)) else {
            return Ok(());
        };
        let Some(rule) = rt
            .node_ports
            .iter()
            .find(|r| r.protocol == proto && r.port == dst_port)
        else {
            return Ok(());
        };
        let place = Place::Node(rt.node.id);
        if rule.endpoints.is_empty() {
            let service = rule.service;
            return Err(End::drop(place, DropReason::NoEndpoints { service }));
        }
        // kube-proxy picks at random; a hash of the flow keeps the model
        // deterministic and a flow's packets on one endpoint, as conntrack does.
        let flow = u32::from(f.src) ^ u32::from(src_port).wrapping_mul(2_654_435_761);
        let to = rule.endpoints[flow as usize % rule.endpoints.len()];
        let from = SocketAddrV4::new(f.dst, dst_port);
        f.dst = *to.ip();
        f.l4.set_ports(src_port, to.port());
        w.mark_masq = rule.masquerade;
        w.hop(
            place,
            Step::Dnat {
                service: rule.service,
                from,
                to,
            },
        );
        Ok(())
    }

    /// Masquerade on the way out: kube-proxy's mark, or the node's pod masquerade rule.
    fn process_snat<R: Recorder>(&self, rt: &NodeRt, route: &Route, w: &mut Walk<R>) {
        let f = &mut w.f;
        let ip_masq = rt.masquerade.as_ref().is_some_and(|(src, except)| {
            src.contains(f.src)
                && !except.iter().any(|n| n.contains(f.dst))
                && route.dev != rt.node.bridge
        });
        let to = rt.addr_on(route.dev);
        if (w.mark_masq || ip_masq) && f.src != to {
            let from = f.src;
            f.src = to;
            w.hop(Place::Node(rt.node.id), Step::Snat { from, to });
        }
    }

    /// ARP for the next hop on the route's device and put the frame on that
    /// link: the bridge (to a pod), the uplink (to the LAN) or the VTEP
    /// (into VXLAN, then out of the uplink).
    fn process_egress<R: Recorder>(&self, rt: &NodeRt, route: &Route, w: &mut Walk<R>) -> Next {
        let next = route.next_hop(w.f.dst);
        let place = Place::Node(rt.node.id);
        let no_reply = || End::drop(place, DropReason::NoArpReply { ip: next });
        let (mac, src_mac, at) = if route.dev == rt.node.bridge {
            w.check_mtu(place, rt.pod_mtu)?;
            let mac = rt.arp_on_bridge(next).ok_or_else(no_reply)?;
            (mac, rt.node.bridge_mac, At::Bridge(rt.index))
        } else if route.dev == rt.node.uplink {
            if w.inner.is_none() {
                w.check_mtu(place, rt.link_mtu)?;
            }
            let lan = self.lans.get(usize::from(rt.node.lan));
            let mac = *lan.and_then(|l| l.arp.get(&next)).ok_or_else(no_reply)?;
            (mac, rt.node.mac, At::Lan(usize::from(rt.node.lan)))
        } else if let Some(v) = rt.vtep.as_ref().filter(|v| v.plan.name == route.dev) {
            return self.process_encap(rt, v, next, w);
        } else {
            return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
        };
        (w.f.src_mac, w.f.dst_mac) = (src_mac, mac);
        w.hop(
            place,
            Step::Arp {
                ip: next,
                mac,
                dev: route.dev,
            },
        );
        if matches!(at, At::Lan(_)) {
            w.hop(Place::Uplink(rt.node.id), Step::Transmit { dev: route.dev });
        }
        Ok(at)
    }

    /// The VXLAN driver: the neighbour entry gives the peer VTEP's MAC, the
    /// MTU is the device's, the FDB entry for that MAC gives the peer's
    /// underlay address; the frame goes inside UDP from this node's
    /// address, and that outer packet is routed like any the node sends.
    fn process_encap<R: Recorder>(
        &self,
        rt: &NodeRt,
        v: &VtepRt,
        next: Ipv4Addr,
        w: &mut Walk<R>,
    ) -> Next {
        let place = Place::Vtep(rt.node.id);
        w.check_mtu(place, v.plan.mtu)?;
        let Some(&mac) = v.neigh.get(&next) else {
            return Err(End::drop(place, DropReason::NoArpReply { ip: next }));
        };
        (w.f.src_mac, w.f.dst_mac) = (v.plan.mac, mac);
        w.hop(
            place,
            Step::Arp {
                ip: next,
                mac,
                dev: v.plan.name,
            },
        );
        let Some(&remote) = v.fdb.get(&mac) else {
            return Err(End::drop(place, DropReason::UnknownMac { mac }));
        };
        let outer = FrameRepr {
            src_mac: rt.node.mac,
            dst_mac: MacAddr::default(),
            src: v.plan.local,
            dst: remote,
            ttl: 64,
            ident: w.f.ident,
            // The kernel's VXLAN default (`df unset`): outer DF clear.
            dont_fragment: false,
            l4: L4Repr::Udp {
                src_port: flow_port(&w.f),
                dst_port: v.plan.port,
            },
        };
        w.inner = Some((w.f, v.plan.vni));
        w.f = outer;
        w.hop(
            place,
            Step::Encap {
                vni: v.plan.vni,
                remote,
            },
        );
        let node = Place::Node(rt.node.id);
        let Some(route) = rt.routes.lookup(remote).filter(|r| r.dev == rt.node.uplink) else {
            return Err(End::drop(node, DropReason::NoRoute { dst: remote }));
        };
        w.hop(node, Step::Send { route: *route });
        self.process_egress(rt, route, w)
    }
}

/// The outer UDP source port: the kernel hashes the inner flow into the
/// ephemeral range so ECMP and RSS spread flows; the model's hash is its
/// own (captures are compared without it).
fn flow_port(f: &FrameRepr) -> u16 {
    let (a, b) = f.l4.ports().unwrap_or((0, 0));
    let h =
        u32::from(f.src) ^ u32::from(f.dst).rotate_left(7) ^ (u32::from(a) << 16 | u32::from(b));
    32768 + (h.wrapping_mul(2_654_435_761) >> 16) as u16 % (61000 - 32768)
}

/// What a stage returns: where the frame goes next, or how the walk ends.
type Next = std::result::Result<At, End>;

/// The end of a walk: the last place and the verdict there.
#[derive(Debug, Clone, Copy)]
struct End {
    place: Place,
    verdict: Verdict,
}

impl End {
    fn drop(at: Place, reason: DropReason) -> End {
        End {
            place: at,
            verdict: Verdict::Dropped { at, reason },
        }
    }

    fn deliver(place: Place, to: Endpoint) -> End {
        End {
            place,
            verdict: Verdict::Delivered { to },
        }
    }

    /// A host that does not forward takes a packet only for its own address.
    fn receive(place: Place, me: Endpoint, ip: Ipv4Addr, dst: Ipv4Addr) -> End {
        if dst == ip {
            End::deliver(place, me)
        } else {
            End::drop(place, DropReason::NotForThisHost { dst })
        }
    }
}

/// One walk's packet: the frame as it is now, and what the kernel keeps with it.
struct Walk<'r, R> {
    /// The outermost headers: the outer ones while encapsulated.
    f: FrameRepr,
    /// The frame inside VXLAN and the VNI, while encapsulated.
    inner: Option<(FrameRepr, u32)>,
    /// The (inner) packet's IPv4 total length.
    len: usize,
    /// The frame as it left the sender, once it has.
    sent: Option<FrameRepr>,
    /// kube-proxy's "masquerade me" mark, set by a NodePort DNAT.
    mark_masq: bool,
    /// The conntrack entry of each node passed so far.
    conntrack: Vec<Conntrack>,
    /// The request's, when this packet is its reply.
    undo: &'r [Conntrack],
    rec: &'r mut R,
}

impl<R: Recorder> Walk<'_, R> {
    /// Keeps this node's conntrack entry for the packet: the tuple as it
    /// came (`before`) and as it leaves, the same where no NAT applied. A
    /// packet conntrack already knew as a reply (`answered`) adds none.
    fn track(&mut self, rt: &NodeRt, before: Tuple, answered: bool) {
        if answered || self.inner.is_some() {
            return;
        }
        let after = Tuple::of(&self.f);
        // A node's own packet gets its source from the route: not NAT.
        let before = match before.src.ip().is_unspecified() {
            true => Tuple {
                src: SocketAddrV4::new(*after.src.ip(), before.src.port()),
                ..before
            },
            false => before,
        };
        if !self.conntrack.iter().any(|c| c.node == rt.node.id) {
            self.conntrack.push(Conntrack {
                node: rt.node.id,
                original: before,
                translated: after,
            });
        }
    }

    fn hop(&mut self, place: Place, step: Step) {
        match self.inner {
            Some((inner, vni)) => {
                let outer = Encap { outer: self.f, vni };
                self.rec.hop(place, step, &inner, Some(outer));
            }
            None => self.rec.hop(place, step, &self.f, None),
        }
    }

    /// A packet over a device's MTU: dropped if DF is set (or the sender's
    /// own socket is told "message too long"), else fragmented.
    fn check_mtu(&mut self, place: Place, mtu: u16) -> Result<(), End> {
        let mtu_len = usize::from(mtu);
        if self.len <= mtu_len {
            return Ok(());
        }
        let f = self.inner.map_or(self.f, |(i, _)| i);
        let len = u16::try_from(self.len).unwrap_or(u16::MAX);
        if f.dont_fragment || mtu_len < 28 {
            return Err(End::drop(place, DropReason::TooBig { mtu, len }));
        }
        // Each fragment carries up to (mtu - 20) rounded down to 8 bytes.
        let per = (mtu_len - 20) / 8 * 8;
        let count = (self.len - 20).div_ceil(per);
        self.hop(
            place,
            Step::Fragment {
                mtu,
                count: u16::try_from(count).unwrap_or(u16::MAX),
            },
        );
        self.len = mtu_len;
        Ok(())
    }

    /// Records the last hop and returns the outcome.
    fn finish(mut self, end: End) -> Outcome {
        let step = match end.verdict {
            Verdict::Delivered { .. } => Step::Deliver,
            Verdict::Dropped { reason, .. } => Step::Drop(reason),
        };
        self.hop(end.place, step);
        let f = self.inner.map_or(self.f, |(i, _)| i);
        let received = matches!(end.verdict, Verdict::Delivered { .. }).then_some(f);
        Outcome {
            verdict: end.verdict,
            sent: self.sent,
            received,
            conntrack: self.conntrack,
        }
    }
}
