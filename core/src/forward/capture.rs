//! Captured frames as a [`Trace`], and the model set beside the kernel.
//!
//! The live lab captures each frame wherever a packet socket can see it (a
//! [`Tap`]: a pod's eth0, a host veth, a bridge, an uplink, a LAN port) and
//! hands the frames of one packet to [`assemble`], which orders them along
//! the path and turns them into the same [`Trace`] the simulation produces.
//! [`compare`] then lines up the places both traces pass through and names
//! every header field that differs.
//!
//! Not every modelled hop can be captured: routing decisions happen inside a
//! node's IP stack ([`Place::Node`]) and a bridge forwarding between two of
//! its own ports never shows on the bridge device. [`observable`] keeps only
//! the hops a capture can see, so the two sides compare like with like.

use std::cmp::Reverse;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use super::frame::{Encap, FrameRepr, L4Repr};
use super::network::Network;
use super::trace::{DropReason, Hop, Place, Step, Trace, Verdict};
use crate::error::Result;
use crate::net::IfName;
use crate::topology::{ClientId, Cluster, Endpoint, NodeId, PodId, TrafficPolicy};

/// A device a capture socket listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tap {
    /// A pod's own interface (eth0, inside the pod).
    PodEth(PodId),
    /// The host end of a pod's veth pair.
    HostVeth(PodId),
    /// A node's pod bridge device (cni0).
    Bridge(NodeId),
    /// A node's uplink (eth0).
    Uplink(NodeId),
    /// The LAN switch's port towards a machine.
    LanPort(Endpoint),
    /// A client's interface.
    ClientEth(ClientId),
    /// The router's port on a LAN (by index).
    RouterPort(u8),
}

/// Which way a frame crossed a tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// Received by the device.
    In,
    /// Sent by the device.
    Out,
}

/// One frame seen at one tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// Where.
    pub tap: Tap,
    /// Which way.
    pub dir: Dir,
    /// When, in microseconds since the Unix epoch (the kernel's timestamp).
    pub at_us: u64,
    /// The headers (the inner ones of a VXLAN packet).
    pub frame: FrameRepr,
    /// The outer headers of a VXLAN packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<Encap>,
}

/// What identifies one packet along its path, whatever routers and NAT do
/// to it: see [`PacketKey::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PacketKey {
    /// A packet its sender numbered (IP identification not 0): the number,
    /// the protocol and the payload, none of which routers or NAT rewrite.
    Numbered {
        /// IPv4 identification.
        ident: u16,
        /// IP protocol.
        protocol: u8,
        /// FNV-1a of the payload's first bytes.
        payload: u64,
    },
    /// An unnumbered packet (identification 0, as Linux sends unconnected
    /// datagrams with don't-fragment): its addresses and transport header.
    /// NAT splits such a packet into two.
    Flow(FlowKey),
}

impl PacketKey {
    /// The key of a frame with (the start of) its payload.
    pub fn of(f: &FrameRepr, payload: &[u8]) -> PacketKey {
        if f.ident == 0 {
            return PacketKey::Flow(FlowKey::of(f));
        }
        // FNV-1a: stable, tiny, and collisions only merge two traces.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in payload {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        PacketKey::Numbered {
            ident: f.ident,
            protocol: f.l4.protocol(),
            payload: h,
        }
    }
}

/// The fields of one flow's packet that no router rewrites (TTL and MACs
/// change at every hop), with the transport detail that tells packets apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub protocol: u8,
    /// Ports, ICMP id and sequence, or TCP sequence: whatever tells packets apart.
    pub detail: (u32, u32),
    /// IPv4 identification.
    pub ident: u16,
}

impl FlowKey {
    /// The key of a frame.
    pub fn of(f: &FrameRepr) -> FlowKey {
        let detail = match f.l4 {
            L4Repr::IcmpEcho { request, id, seq } => {
                (u32::from(request) << 16 | u32::from(id), u32::from(seq))
            }
            L4Repr::Icmp {
                icmp_type, code, ..
            } => (u32::from(icmp_type) << 8 | u32::from(code), 0),
            L4Repr::Udp { src_port, dst_port } => (u32::from(src_port), u32::from(dst_port)),
            L4Repr::Tcp {
                src_port,
                dst_port,
                seq,
                ..
            } => (u32::from(src_port) << 16 | u32::from(dst_port), seq),
            L4Repr::Unknown { protocol } => (u32::from(protocol), 0),
        };
        FlowKey {
            src: f.src,
            dst: f.dst,
            protocol: f.l4.protocol(),
            detail,
            ident: f.ident,
        }
    }
}

/// The order of taps between two routers. TTL orders the segments (each
/// router lowers it); within a segment the path always runs this way.
fn stage(tap: Tap, dir: Dir) -> u8 {
    match (tap, dir) {
        (Tap::PodEth(_), Dir::Out) => 0,
        (Tap::HostVeth(_), Dir::In) => 1,
        (Tap::Bridge(_), Dir::In) => 2,
        (Tap::Uplink(_) | Tap::ClientEth(_), Dir::Out) => 3,
        (Tap::LanPort(_) | Tap::RouterPort(_), Dir::In) => 4,
        (Tap::LanPort(_) | Tap::RouterPort(_), Dir::Out) => 5,
        (Tap::Uplink(_) | Tap::ClientEth(_), Dir::In) => 6,
        (Tap::Bridge(_), Dir::Out) => 7,
        (Tap::HostVeth(_), Dir::Out) => 8,
        (Tap::PodEth(_), Dir::In) => 9,
    }
}

fn eth0() -> IfName {
    IfName::new("eth0").expect("a valid name")
}

/// A frame arriving at a machine's eth0: delivered if it is for that machine.
fn arrive(for_this_machine: bool) -> Step {
    if for_this_machine {
        Step::Deliver
    } else {
        Step::Receive { dev: eth0() }
    }
}

/// Orders the captures of one packet along its path and builds its [`Trace`].
/// `payload` is the transport payload as first captured. Returns `None` when
/// nothing was captured.
pub fn assemble(cluster: &Cluster, captures: &[Capture], payload: Vec<u8>) -> Option<Trace> {
    let mut caps: Vec<&Capture> = captures.iter().collect();
    // Inside VXLAN the inner TTL holds across the underlay and the outer
    // one falls at each router; frames outside VXLAN sort first in a segment.
    caps.sort_by_key(|c| {
        let outer_ttl = c.outer.map_or(u8::MAX, |e| e.outer.ttl);
        (
            Reverse(c.frame.ttl),
            Reverse(outer_ttl),
            stage(c.tap, c.dir),
            c.at_us,
        )
    });
    let mut hops: Vec<Hop> = Vec::with_capacity(caps.len());
    for (i, c) in caps.iter().enumerate() {
        let f = c.frame;
        let (place, step) = match (c.tap, c.dir) {
            (Tap::PodEth(p), Dir::Out) => (Place::Pod(p), Step::Transmit { dev: eth0() }),
            (Tap::PodEth(p), Dir::In) => (
                Place::Pod(p),
                arrive(cluster.pod(p).is_some_and(|pod| pod.ip == f.dst)),
            ),
            (Tap::HostVeth(p), _) => (Place::Veth(p), Step::CrossVeth),
            (Tap::Bridge(n), Dir::In) => (Place::Bridge(n), Step::BridgeUp),
            (Tap::Bridge(n), Dir::Out) => {
                // The port shows at the next tap: the veth the frame leaves by.
                let port = caps[i + 1..]
                    .iter()
                    .find_map(|c| match (c.tap, c.dir) {
                        (Tap::HostVeth(p), Dir::Out) => cluster.pod(p).map(|p| p.host_veth),
                        _ => None,
                    })
                    .unwrap_or_else(|| IfName::new("?").expect("a valid name"));
                (Place::Bridge(n), Step::BridgeForward { port })
            }
            (Tap::Uplink(n), Dir::Out) => (Place::Uplink(n), Step::Transmit { dev: eth0() }),
            (Tap::Uplink(n), Dir::In) => (Place::Uplink(n), Step::Receive { dev: eth0() }),
            (Tap::LanPort(_) | Tap::RouterPort(_), Dir::In) => continue,
            (Tap::LanPort(to), Dir::Out) => {
                let ip = cluster.address_of(to).unwrap_or(Ipv4Addr::UNSPECIFIED);
                (
                    Place::Lan(cluster.lan_of(ip).unwrap_or(0)),
                    Step::Switch { to },
                )
            }
            (Tap::RouterPort(k), Dir::Out) => (Place::Lan(k), Step::SwitchToRouter),
            (Tap::ClientEth(c), Dir::Out) => (Place::Client(c), Step::Transmit { dev: eth0() }),
            (Tap::ClientEth(c), Dir::In) => (
                Place::Client(c),
                arrive(cluster.client(c).is_some_and(|cl| cl.ip == f.dst)),
            ),
        };
        hops.push(Hop {
            place,
            step,
            frame: f,
            outer: c.outer,
        });
    }
    let first = hops.first()?;
    let sent = first.frame;
    let from = match first.place {
        Place::Pod(p) | Place::Veth(p) => Endpoint::Pod(p),
        Place::Bridge(n) | Place::Node(n) | Place::Uplink(n) | Place::Vtep(n) => Endpoint::Node(n),
        Place::Client(c) => Endpoint::Client(c),
        Place::Lan(_) | Place::Router => owner(cluster, sent.src)?,
    };
    let verdict = verdict(cluster, hops.last()?);
    Some(Trace {
        from,
        injected: sent,
        sent: Some(sent),
        payload,
        hops,
        verdict,
        conntrack: Vec::new(),
        rules: Vec::new(),
    })
}

/// The endpoint that owns an address.
fn owner(cluster: &Cluster, ip: Ipv4Addr) -> Option<Endpoint> {
    cluster
        .endpoints()
        .into_iter()
        .find(|&e| cluster.address_of(e) == Some(ip))
}

/// Delivered if the last place seen belongs to the destination; otherwise the
/// capture lost sight of the packet there.
fn verdict(cluster: &Cluster, last: &Hop) -> Verdict {
    let dst = last.frame.dst;
    let node_has = |n: NodeId| {
        cluster
            .node(n)
            .is_some_and(|node| node.underlay_ip == dst || node.ipam.gateway() == dst)
    };
    let to = match (last.place, last.step) {
        (Place::Pod(p), Step::Deliver) => Some(Endpoint::Pod(p)),
        (Place::Client(c), Step::Deliver) => Some(Endpoint::Client(c)),
        (Place::Bridge(n), Step::BridgeUp) | (Place::Uplink(n), Step::Receive { .. })
            if node_has(n) =>
        {
            Some(Endpoint::Node(n))
        }
        _ => None,
    };
    match to {
        Some(to) => Verdict::Delivered { to },
        None => Verdict::Dropped {
            at: last.place,
            reason: DropReason::Vanished,
        },
    }
}

/// A place a packet passed, with its headers there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Where.
    pub place: Place,
    /// The headers as they left that place.
    pub frame: FrameRepr,
    /// The outer headers, inside VXLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<Encap>,
}

/// The hops of a modelled trace that a capture can see, one per place: a
/// node's IP stack is invisible, and so is a bridge forwarding between two of
/// its own ports (only frames to or from the bridge's own stack show on it),
/// even when its netfilter rewrote them on the way (a Service's hairpin).
pub fn observable(model: &Trace) -> Vec<Seen> {
    observable_from(model).into_iter().map(|(s, _)| s).collect()
}

/// [`observable`], each with the index of the last hop it stands for.
fn observable_from(model: &Trace) -> Vec<(Seen, usize)> {
    let hops = &model.hops;
    let is_bridge = |i: usize| matches!(hops[i].place, Place::Bridge(_));
    let is_node = |i: Option<usize>| i.is_some_and(|i| matches!(hops[i].place, Place::Node(_)));
    // Each run of hops on one bridge: seen if the run hands the frame up
    // to the node's stack or takes it from there.
    let mut stack_side = vec![false; hops.len()];
    let mut i = 0;
    while i < hops.len() {
        if !is_bridge(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < hops.len() && hops[i].place == hops[start].place {
            i += 1;
        }
        let from_stack = is_node(start.checked_sub(1));
        let to_stack = is_node(Some(i).filter(|&n| n < hops.len()));
        for (j, seen) in stack_side.iter_mut().enumerate().take(i).skip(start) {
            *seen = match hops[j].step {
                Step::BridgeForward { .. } => from_stack,
                _ => from_stack || to_stack,
            };
        }
    }
    let visible = hops.iter().enumerate().filter(|(i, h)| match h.place {
        Place::Node(_) | Place::Vtep(_) | Place::Router => false,
        Place::Bridge(_) => stack_side[*i],
        _ => true,
    });
    by_place_indexed(visible)
}

/// One [`Seen`] per run of hops at the same place, with the run's last headers.
fn by_place<'a>(hops: impl Iterator<Item = &'a Hop>) -> Vec<Seen> {
    by_place_indexed(hops.enumerate())
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// [`by_place`], each with the index of the run's last hop.
fn by_place_indexed<'a>(hops: impl Iterator<Item = (usize, &'a Hop)>) -> Vec<(Seen, usize)> {
    let mut out: Vec<(Seen, usize)> = Vec::new();
    for (i, h) in hops {
        match out.last_mut() {
            Some((last, at)) if last.place == h.place => {
                (last.frame, last.outer) = (h.frame, h.outer);
                *at = i;
            }
            _ => out.push((
                Seen {
                    place: h.place,
                    frame: h.frame,
                    outer: h.outer,
                },
                i,
            )),
        }
    }
    out
}

/// A header field (or the place itself) where model and kernel differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// Only one side passed this place.
    Place,
    /// IPv4 source.
    Src,
    /// IPv4 destination.
    Dst,
    /// Time to live.
    Ttl,
    /// Ethernet source.
    SrcMac,
    /// Ethernet destination.
    DstMac,
    /// Transport header (ports, ICMP id and sequence).
    L4,
    /// The VXLAN outer headers: present on one side only, or a different
    /// outer address, TTL, MAC, UDP port or VNI (the outer UDP source
    /// port is the kernel's hash and not compared).
    Outer,
}

impl Field {
    /// The field's name as the header view labels it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Place => "place",
            Field::Src => "src",
            Field::Dst => "dst",
            Field::Ttl => "ttl",
            Field::SrcMac => "src mac",
            Field::DstMac => "dst mac",
            Field::L4 => "l4",
            Field::Outer => "outer",
        }
    }
}

/// One place in the side-by-side view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// What the model says happens here (None: the model never comes here).
    pub model: Option<Seen>,
    /// What the capture saw here (None: the kernel never came here).
    pub kernel: Option<Seen>,
    /// What differs.
    pub differs: Vec<Field>,
}

impl Row {
    /// Model and kernel agree here.
    pub fn agrees(&self) -> bool {
        self.model.is_some() && self.kernel.is_some() && self.differs.is_empty()
    }
}

/// The model set beside the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Every place either side passed, in path order.
    pub rows: Vec<Row>,
    /// Whether both delivered to the same endpoint (or both lost the packet).
    pub verdicts_agree: bool,
}

impl Comparison {
    /// Every row and the verdict agree.
    pub fn agrees(&self) -> bool {
        self.verdicts_agree && self.rows.iter().all(Row::agrees)
    }

    /// The rows that differ.
    pub fn differences(&self) -> usize {
        self.rows.iter().filter(|r| !r.agrees()).count()
    }
}

/// The fields in which a modelled and a captured frame differ; with
/// `any_src_port`, not the transport source port (a masquerade with
/// `--random-fully`, kube-proxy's, picks it at random in the kernel).
fn differs(a: &Seen, b: &Seen, any_src_port: bool) -> Vec<Field> {
    let outer_differs = match (a.outer, b.outer) {
        (None, None) => false,
        (Some(x), Some(y)) => {
            let port = |e: Encap| e.outer.l4.ports().map(|p| p.1);
            let (o, p) = (x.outer, y.outer);
            x.vni != y.vni
                || port(x) != port(y)
                || (o.src, o.dst, o.ttl, o.src_mac, o.dst_mac)
                    != (p.src, p.dst, p.ttl, p.src_mac, p.dst_mac)
        }
        _ => true,
    };
    let (a, b) = (&a.frame, &b.frame);
    [
        (Field::Outer, outer_differs),
        (Field::Src, a.src != b.src),
        (Field::Dst, a.dst != b.dst),
        (Field::Ttl, a.ttl != b.ttl),
        (Field::SrcMac, a.src_mac != b.src_mac),
        (Field::DstMac, a.dst_mac != b.dst_mac),
        (Field::L4, {
            let mut kernel = b.l4;
            if let (true, Some((src, _)), Some((_, dst))) =
                (any_src_port, a.l4.ports(), b.l4.ports())
            {
                kernel.set_ports(src, dst);
            }
            a.l4 != kernel
        }),
    ]
    .into_iter()
    .filter_map(|(f, different)| different.then_some(f))
    .collect()
}

/// Lines up the places of a modelled and a captured trace (longest common
/// subsequence of places) and compares the headers at each.
pub fn compare(model: &Trace, kernel: &Trace) -> Comparison {
    let (m, k) = (observable_from(model), by_place(kernel.hops.iter()));
    // From kube-proxy's masquerade on, the kernel's source port is its own.
    let random_from = model
        .rules
        .iter()
        .find(|r| r.line.contains("MASQUERADE --random-fully"))
        .map_or(usize::MAX, |r| r.hop);
    let (m, after): (Vec<Seen>, Vec<bool>) =
        m.into_iter().map(|(s, at)| (s, at >= random_from)).unzip();
    // lcs[i][j]: the longest common run of places in m[i..] and k[j..].
    let mut lcs = vec![vec![0usize; k.len() + 1]; m.len() + 1];
    for i in (0..m.len()).rev() {
        for j in (0..k.len()).rev() {
            lcs[i][j] = if m[i].place == k[j].place {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut rows) = (0, 0, Vec::new());
    while i < m.len() || j < k.len() {
        if i < m.len() && j < k.len() && m[i].place == k[j].place {
            rows.push(Row {
                model: Some(m[i]),
                kernel: Some(k[j]),
                differs: differs(&m[i], &k[j], after[i]),
            });
            i += 1;
            j += 1;
        } else if j >= k.len() || (i < m.len() && lcs[i + 1][j] >= lcs[i][j + 1]) {
            rows.push(Row {
                model: Some(m[i]),
                kernel: None,
                differs: vec![Field::Place],
            });
            i += 1;
        } else {
            rows.push(Row {
                model: None,
                kernel: Some(k[j]),
                differs: vec![Field::Place],
            });
            j += 1;
        }
    }
    let verdicts_agree = match (model.verdict, kernel.verdict) {
        (Verdict::Delivered { to: a }, Verdict::Delivered { to: b }) => a == b,
        (Verdict::Dropped { .. }, Verdict::Dropped { .. }) => true,
        _ => false,
    };
    Comparison {
        rows,
        verdicts_agree,
    }
}

/// Runs the captured packet through the model: the same frame, sent by the
/// same endpoint, so any difference is the model's or the kernel's. A
/// packet to a Service follows the endpoint the kernel's dice chose (where
/// the capture saw its destination rewritten), so the model's DNAT hop
/// names the same pod.
pub fn replay(network: &Network, kernel: &Trace) -> Result<Trace> {
    let frame = kernel.sent.unwrap_or(kernel.injected);
    let payload = kernel.payload.clone();
    match kernel_pick(network.cluster(), frame, kernel) {
        Some(pick) => network.trace_picking(kernel.from, frame, payload, pick),
        None => network.trace_repr(kernel.from, frame, payload),
    }
}

/// Which of the Service's endpoints (in kube-proxy's order) the kernel
/// sent `sent` to: the first captured destination that differs from the
/// one sent, looked up among the endpoints of the Service port asked
/// (a ClusterIP, or a node port on a node's address).
fn kernel_pick(cluster: &Cluster, sent: FrameRepr, kernel: &Trace) -> Option<usize> {
    let protocol = sent.l4.transport()?;
    let (_, dport) = sent.l4.ports()?;
    let rewritten = kernel.hops.iter().find_map(|h| {
        let to = SocketAddrV4::new(h.frame.dst, h.frame.l4.ports()?.1);
        (to != SocketAddrV4::new(sent.dst, dport)).then_some(to)
    })?;
    let node = cluster.nodes().iter().find(|n| n.underlay_ip == sent.dst);
    cluster.services().iter().find_map(|s| {
        let port = s.ports.iter().find(|p| {
            p.protocol == protocol
                && if node.is_some() {
                    p.node_port == Some(dport)
                } else {
                    s.cluster_ip == sent.dst && p.port == dport
                }
        })?;
        // A Local NodePort asked from outside the pod network draws only
        // among the endpoints on the node asked (kube-proxy's KUBE-XLB).
        let local_only = s.traffic_policy == TrafficPolicy::Local
            && !matches!(kernel.from, Endpoint::Pod(_))
            && node.is_some();
        let on_node = |pod: Option<PodId>| {
            pod.and_then(|p| cluster.pod(p))
                .is_some_and(|p| node.is_some_and(|n| n.id == p.node))
        };
        crate::services::choices(cluster, s, port)
            .iter()
            .filter(|(e, _)| !local_only || on_node(e.pod))
            .position(|(e, _)| e.addr == rewritten)
    })
}
