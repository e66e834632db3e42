//! What a simulation returns: every hop, and how it ended.
//!
//! A [`Trace`] is a list of [`Hop`]s — a [`Place`], the [`Step`] the kernel
//! took there (with the route, ARP entry or NAT rule that decided it) and the
//! frame's headers as they are after that step — ending in a [`Verdict`].
//! Everything is plain data (serde), so the browser can animate it and the
//! live lab can send captured traces in the same shape.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use super::frame::{Encap, FrameRepr, L4Repr};
use crate::net::{IfName, MacAddr};
use crate::route::Route;
use crate::topology::{ClientId, Cluster, Endpoint, NodeId, PodId, Protocol, ServiceId};

/// Where a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Place {
    /// Inside a pod's network namespace (its eth0).
    Pod(PodId),
    /// The host end of a pod's veth pair.
    Veth(PodId),
    /// A node's pod bridge (cni0).
    Bridge(NodeId),
    /// A node's IP stack: routing and netfilter.
    Node(NodeId),
    /// A node's uplink (eth0).
    Uplink(NodeId),
    /// A LAN's switch (by index into [`Cluster::lans`]).
    Lan(u8),
    /// The router between the LANs.
    Router,
    /// A node's VXLAN device (`podnet.1`): encapsulation and decapsulation.
    Vtep(NodeId),
    /// A machine outside the cluster.
    Client(ClientId),
}

impl Place {
    /// A short label such as `node1 cni0` or `default/pod-a eth0`.
    pub fn label(&self, cluster: &Cluster) -> String {
        let node = |id: NodeId| cluster.name_of(Endpoint::Node(id));
        let pod = |id: PodId| cluster.name_of(Endpoint::Pod(id));
        match *self {
            Place::Pod(p) => format!("{} eth0", pod(p)),
            Place::Veth(p) => {
                let veth = cluster
                    .pod(p)
                    .map_or_else(|| "veth".into(), |p| p.host_veth.to_string());
                let on = cluster.pod(p).map_or_else(String::new, |p| node(p.node));
                format!("{on} {veth}")
            }
            Place::Bridge(n) => format!("{} cni0", node(n)),
            Place::Node(n) => format!("{} kernel", node(n)),
            Place::Uplink(n) => format!("{} eth0", node(n)),
            Place::Lan(k) => match cluster.lans().get(usize::from(k)) {
                Some(l) if cluster.lans().len() > 1 => format!("LAN {l}"),
                _ => "LAN".into(),
            },
            Place::Router => "router".into(),
            Place::Vtep(n) => format!("{} {}", node(n), crate::topology::vxlan::DEVICE),
            Place::Client(c) => cluster.name_of(Endpoint::Client(c)),
        }
    }
}

/// What the kernel did at a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The sender chose this route (and with it the source address).
    Send {
        /// The route that matched.
        route: Route,
    },
    /// The next hop's MAC was resolved by ARP on the outgoing link.
    Arp {
        /// Next-hop address asked for.
        ip: Ipv4Addr,
        /// Who answered.
        mac: MacAddr,
        /// Output device.
        dev: IfName,
    },
    /// The frame crossed a veth pair to its other end.
    CrossVeth,
    /// The frame left through a device onto a wire.
    Transmit {
        /// The device.
        dev: IfName,
    },
    /// The frame came in through a device.
    Receive {
        /// The device.
        dev: IfName,
    },
    /// The destination MAC is the bridge's own: up to the node's IP stack.
    BridgeUp,
    /// The bridge's forwarding database sent the frame out of this port.
    BridgeForward {
        /// The port (a pod's host veth).
        port: IfName,
    },
    /// The LAN switch delivered the frame to the machine with the destination MAC.
    Switch {
        /// Who received it.
        to: Endpoint,
    },
    /// The LAN switch delivered the frame to the router's port.
    SwitchToRouter,
    /// The VTEP put the frame inside UDP to the peer's underlay address
    /// (its FDB entry for the destination MAC).
    Encap {
        /// The VNI.
        vni: u32,
        /// The peer's underlay address.
        remote: Ipv4Addr,
    },
    /// The node's VXLAN socket took the UDP datagram and its VTEP
    /// unwrapped the inner frame.
    Decap {
        /// The VNI.
        vni: u32,
    },
    /// The packet was larger than the device's MTU without DF: the kernel
    /// fragmented it (the model follows the first fragment).
    Fragment {
        /// The MTU.
        mtu: u16,
        /// How many fragments.
        count: u16,
    },
    /// A node port rule rewrote the destination (kube-proxy DNAT).
    Dnat {
        /// The service.
        service: ServiceId,
        /// Destination before.
        from: SocketAddrV4,
        /// Destination after: the chosen endpoint.
        to: SocketAddrV4,
    },
    /// A hostPort rewrote the destination (portmap's DNAT) to its pod.
    HostPortDnat {
        /// The pod.
        pod: PodId,
        /// Destination before: the node's address and the hostPort.
        from: SocketAddrV4,
        /// After: the pod and its container port.
        to: SocketAddrV4,
    },
    /// The node forwarded a packet not addressed to it.
    Forward {
        /// The route that matched.
        route: Route,
    },
    /// The source was rewritten (masquerade).
    Snat {
        /// Source before.
        from: Ipv4Addr,
        /// Source after.
        to: Ipv4Addr,
    },
    /// conntrack knew the reply: the destination goes back to whoever the
    /// node had masqueraded (the SNAT undone).
    UnSnat {
        /// Destination before (the node's address).
        from: Ipv4Addr,
        /// After: the original sender.
        to: Ipv4Addr,
    },
    /// conntrack knew the reply: the source goes back to the address and
    /// port the request was sent to (the NodePort's DNAT undone).
    UnDnat {
        /// Source before (the endpoint).
        from: SocketAddrV4,
        /// After: the node and its node port.
        to: SocketAddrV4,
    },
    /// Handed to a local socket.
    Deliver,
    /// Dropped.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// No route matched the destination ("Network is unreachable").
    NoRoute {
        /// The destination.
        dst: Ipv4Addr,
    },
    /// Nobody answered ARP for the next hop ("Destination Host Unreachable").
    NoArpReply {
        /// The next hop asked for.
        ip: Ipv4Addr,
    },
    /// TTL reached zero.
    TtlExceeded,
    /// The node does not forward (`ip_forward = 0`).
    ForwardingDisabled,
    /// The Service port has no endpoint: kube-proxy's REJECT answers
    /// ICMP port unreachable ("connection refused").
    NoEndpoints {
        /// The service.
        service: ServiceId,
    },
    /// A NodePort under `externalTrafficPolicy: Local` on a node without
    /// an endpoint of its own: kube-proxy marks it and the kubelet's
    /// firewall drops it (the client hears nothing).
    NoLocalEndpoints {
        /// The service.
        service: ServiceId,
    },
    /// The bridge would send the frame back out of the port it came in on,
    /// and hairpin mode is off on that port.
    HairpinOff {
        /// The port (a pod's host veth).
        port: IfName,
    },
    /// Nothing listens on the port (a pod's container ports): TCP answers
    /// with a reset, UDP with ICMP port unreachable ("connection refused").
    NotListening {
        /// TCP or UDP.
        protocol: Protocol,
        /// The port.
        port: u16,
    },
    /// A host that does not forward got a packet for another address.
    NotForThisHost {
        /// The destination it carried.
        dst: Ipv4Addr,
    },
    /// No port of a bridge or switch knows the destination MAC.
    UnknownMac {
        /// The MAC.
        mac: MacAddr,
    },
    /// The path was longer than any real one (a loop in the model).
    HopLimit,
    /// Larger than the device's MTU with DF set: a forwarding node answers
    /// ICMP "fragmentation needed" with the MTU; a sender's own kernel
    /// refuses it (EMSGSIZE, "message too long").
    TooBig {
        /// The device's MTU.
        mtu: u16,
        /// The packet's IPv4 length.
        len: u16,
    },
    /// A capture saw the packet here and nowhere after: the kernel dropped
    /// it without saying why, or it left the lab.
    Vanished,
    /// NetworkPolicy: the pod is isolated in this direction and no rule of
    /// the policies isolating it allows the packet (the trace's
    /// explanation names them).
    Policy {
        /// The sending pod's egress or the receiving pod's ingress.
        direction: crate::policy::Direction,
        /// That pod.
        pod: PodId,
    },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::NoRoute { dst } => write!(f, "no route to {dst} (network unreachable)"),
            DropReason::NoArpReply { ip } => write!(f, "no ARP reply for {ip} (host unreachable)"),
            DropReason::TtlExceeded => f.write_str("TTL exceeded"),
            DropReason::ForwardingDisabled => f.write_str("ip_forward is off on this node"),
            DropReason::NoEndpoints { .. } => f.write_str(
                "the Service has no endpoints: kube-proxy's REJECT answers ICMP port unreachable",
            ),
            DropReason::NoLocalEndpoints { .. } => f.write_str(
                "externalTrafficPolicy is Local and this node has no endpoint: marked for the kubelet's firewall to drop",
            ),
            DropReason::HairpinOff { port } => write!(
                f,
                "the bridge would send it back out of {port}, where it came in, and hairpin mode is off"
            ),
            DropReason::NotListening { protocol, port } => write!(
                f,
                "nothing listens on {}/{port} here: refused",
                protocol.name().to_uppercase()
            ),
            DropReason::NotForThisHost { dst } => write!(
                f,
                "{dst} is not this host's address and it does not forward"
            ),
            DropReason::UnknownMac { mac } => write!(f, "no port knows {mac}"),
            DropReason::HopLimit => f.write_str("too many hops (loop)"),
            DropReason::Vanished => f.write_str("not seen after this point"),
            DropReason::Policy { direction, .. } => write!(
                f,
                "NetworkPolicy: the {} pod's {} is isolated and no rule allows this",
                match direction {
                    crate::policy::Direction::Egress => "sending",
                    crate::policy::Direction::Ingress => "receiving",
                },
                match direction {
                    crate::policy::Direction::Egress => "egress",
                    crate::policy::Direction::Ingress => "ingress",
                }
            ),
            DropReason::TooBig { mtu, len } => write!(
                f,
                "{len} bytes is over the MTU {mtu} and DF is set (ICMP fragmentation needed, mtu {mtu})"
            ),
        }
    }
}

/// One step of a packet's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// Where.
    pub place: Place,
    /// What happened there.
    pub step: Step,
    /// The headers after the step (the inner frame when encapsulated).
    pub frame: FrameRepr,
    /// The outer headers, while the frame crosses the underlay inside VXLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<Encap>,
}

/// How a packet's journey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// A local socket at `to` received it.
    Delivered {
        /// The receiver.
        to: Endpoint,
    },
    /// Lost at `at`.
    Dropped {
        /// Where.
        at: Place,
        /// Why.
        reason: DropReason,
    },
}

/// A trace's ending in words (see [`Trace::summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// It reached the one it was meant for, or a Service's pod on its behalf.
    pub ok: bool,
    /// The sentence.
    pub text: String,
}

/// A packet's whole path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Who sent it.
    pub from: Endpoint,
    /// The frame as injected (source may be 0.0.0.0).
    pub injected: FrameRepr,
    /// The frame as it left the sender, after its kernel chose source and MACs.
    pub sent: Option<FrameRepr>,
    /// The transport payload, unchanged along the path.
    pub payload: Vec<u8>,
    /// Every step.
    pub hops: Vec<Hop>,
    /// The end.
    pub verdict: Verdict,
    /// The conntrack entry of each node it passed (with the NAT it applied,
    /// if any), which the reply meets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conntrack: Vec<Conntrack>,
    /// The iptables rules that acted on it (kube-proxy's), each with the
    /// hop it belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleHit>,
}

/// An iptables rule a packet matched, as `iptables-save` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHit {
    /// The hop it acted at (its index in the trace's hops).
    pub hop: usize,
    /// The table (`nat`, `filter`).
    pub table: String,
    /// The line: `-A CHAIN …`.
    pub line: String,
}

/// A flow's protocol, addresses and ports (an ICMP echo's identifier
/// stands for both ports), as conntrack keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tuple {
    /// IP protocol number.
    pub protocol: u8,
    /// Source.
    pub src: SocketAddrV4,
    /// Destination.
    pub dst: SocketAddrV4,
}

impl Tuple {
    /// The tuple of a frame.
    pub fn of(f: &FrameRepr) -> Tuple {
        let (a, b) = match f.l4 {
            L4Repr::IcmpEcho { id, .. } => (id, id),
            l4 => l4.ports().unwrap_or((0, 0)),
        };
        Tuple {
            protocol: f.l4.protocol(),
            src: SocketAddrV4::new(f.src, a),
            dst: SocketAddrV4::new(f.dst, b),
        }
    }

    /// The tuple the answer carries.
    pub fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            ..self
        }
    }
}

/// One connection as a node's conntrack holds it: the tuple as the request
/// came in and as it went out (the same where no NAT applied). A reply
/// carrying the reverse of `translated` is rewritten to the reverse of
/// `original` and skips the NAT rules: that is how the kernel undoes DNAT
/// and masquerade without a rule of its own, and why a reply is never
/// masqueraded on a node the request passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conntrack {
    /// The node.
    pub node: NodeId,
    /// Before its NAT.
    pub original: Tuple,
    /// After.
    pub translated: Tuple,
}

/// What a learner expects of a packet before it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// Who gets it; `None`: it is dropped on the way.
    pub ends: Option<Endpoint>,
    /// The source address the receiver sees (ignored if `ends` is `None`).
    pub source: Option<Ipv4Addr>,
    /// Whether an address is rewritten on the way (DNAT or SNAT).
    pub nat: bool,
}

/// A prediction against the model: each part right or not, and the hop
/// where the packet first did something else than predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// The receiver (or the drop) was right.
    pub ends: bool,
    /// The source seen was right.
    pub source: bool,
    /// NAT or not was right.
    pub nat: bool,
    /// Where the prediction first went wrong, as an index into the hops.
    pub wrong_at: Option<usize>,
}

impl Grade {
    /// Every part right.
    pub fn all_right(&self) -> bool {
        self.ends && self.source && self.nat
    }
}

impl Trace {
    /// Grades a prediction. The hop named is the first that contradicts
    /// it: the first address rewrite (for a wrong NAT or source guess), or
    /// the last hop (where it was delivered or dropped).
    pub fn grade(&self, p: &Prediction) -> Grade {
        let ends_at = match self.verdict {
            Verdict::Delivered { to } => Some(to),
            Verdict::Dropped { .. } => None,
        };
        let seen = self.received().map(|f| f.src);
        let ends = p.ends == ends_at;
        let source = ends_at.is_none() || p.source == seen;
        let nat = p.nat == self.nat_seen();
        let rewrite = self.first_rewrite();
        let last = self.hops.len().checked_sub(1);
        let wrong_at = match (ends, source, nat) {
            (true, true, true) => None,
            (_, _, false) => rewrite.or(last),
            (_, false, _) => rewrite.or(last),
            (false, _, _) => last,
        };
        Grade {
            ends,
            source,
            nat,
            wrong_at,
        }
    }

    /// The frame the receiver got, if delivered.
    pub fn received(&self) -> Option<&FrameRepr> {
        match self.verdict {
            Verdict::Delivered { .. } => self.hops.last().map(|h| &h.frame),
            Verdict::Dropped { .. } => None,
        }
    }

    /// Whether any hop rewrote an address.
    pub fn nat_seen(&self) -> bool {
        self.first_rewrite().is_some()
    }

    /// The first hop that rewrote an address: a NAT step, or in a captured
    /// trace (frames, no steps of the kernel's) the first frame whose
    /// addresses differ from the frame before. Both look at the pod's own
    /// frame, so VXLAN's outer headers are no rewrite.
    pub fn first_rewrite(&self) -> Option<usize> {
        let step = self.hops.iter().position(|h| {
            matches!(
                h.step,
                Step::Dnat { .. }
                    | Step::HostPortDnat { .. }
                    | Step::Snat { .. }
                    | Step::UnSnat { .. }
                    | Step::UnDnat { .. }
            )
        });
        step.or_else(|| {
            let addrs = |h: &Hop| (h.frame.src, h.frame.dst);
            self.hops
                .windows(2)
                .position(|w| addrs(&w[0]) != addrs(&w[1]))
                .map(|i| i + 1)
        })
    }

    /// The bytes on the wire at a hop (real frames: Wireshark reads them).
    pub fn frame_bytes(&self, hop: usize) -> Option<Vec<u8>> {
        let h = self.hops.get(hop)?;
        let inner = h.frame.emit(&self.payload).ok()?;
        match h.outer {
            Some(e) => e.emit(&inner).ok(),
            None => Some(inner),
        }
    }

    /// Whether any hop crossed the underlay inside VXLAN.
    pub fn encapsulated(&self) -> bool {
        self.hops.iter().any(|h| h.outer.is_some())
    }

    /// The first destination rewrite on the path: (service, before, after).
    pub fn dnat(&self) -> Option<(ServiceId, SocketAddrV4, SocketAddrV4)> {
        self.hops.iter().find_map(|h| match h.step {
            Step::Dnat { service, from, to } => Some((service, from, to)),
            _ => None,
        })
    }

    /// How the trace ended, in one sentence, judged against who the packet
    /// was meant for (`intended`: whoever owns the address it was sent to).
    /// What the CLI prints and the explainer shows.
    ///
    /// A packet that reaches someone else got there for one of two reasons,
    /// and the sentence says which: a Service rewrote its destination (DNAT:
    /// as it should), or the receiver has the same address (the seed's "this
    /// isn't going to work").
    pub fn summary(&self, cluster: &Cluster, intended: Option<Endpoint>) -> Summary {
        let to = match self.verdict {
            Verdict::Dropped { at, reason } => {
                return Summary {
                    ok: false,
                    text: format!("Dropped at {}: {reason}.", at.label(cluster)),
                }
            }
            Verdict::Delivered { to } => to,
        };
        let (sent, seen) = (self.sent.map(|f| f.src), self.received().map(|f| f.src));
        let ip = |a: Option<Ipv4Addr>| a.map(|a| a.to_string()).unwrap_or_default();
        let source = if sent == seen {
            format!("source {} unchanged: no NAT", ip(seen))
        } else {
            format!("source rewritten from {} to {} (NAT)", ip(sent), ip(seen))
        };
        let delivered = format!("Delivered to {}; {source}.", cluster.name_of(to));
        let Some(meant) = intended.filter(|&i| i != to) else {
            // Sent to a ClusterIP: say which Service chose the receiver.
            let chosen = self.dnat().and_then(|(service, from, via)| {
                let s = cluster.service(service)?;
                (s.cluster_ip == *from.ip())
                    .then(|| format!(" Service {} chose it (DNAT {from} -> {via}).", s.name))
            });
            return Summary {
                ok: true,
                text: delivered + &chosen.unwrap_or_default(),
            };
        };
        match self.dnat() {
            Some((service, from, via)) => {
                let name = cluster.service(service).map_or("?", |s| s.name.as_str());
                Summary {
                    ok: true,
                    text: format!(
                        "{delivered} It was sent to {}, whose NodePort service {name} rewrote the destination (DNAT {from} -> {via}).",
                        cluster.name_of(meant)
                    ),
                }
            }
            None => Summary {
                ok: false,
                text: format!(
                    "Delivered to {}, not to {}: both have {}. This isn't going to work.",
                    cluster.name_of(to),
                    cluster.name_of(meant),
                    ip(self.received().map(|f| f.dst))
                ),
            },
        }
    }

    /// One line per hop, for a terminal.
    pub fn explain(&self, cluster: &Cluster) -> Vec<String> {
        let mut lines: Vec<String> = self
            .hops
            .iter()
            .map(|h| {
                let f = &h.frame;
                let outer = h.outer.map_or_else(String::new, |e| {
                    format!(
                        " in [{} > {} udp {} vni {} ttl {}]",
                        e.outer.src,
                        e.outer.dst,
                        crate::topology::vxlan::PORT,
                        e.vni,
                        e.outer.ttl
                    )
                });
                format!(
                    "{:<28} {:<64} [{} > {} ttl {}]{outer}",
                    h.place.label(cluster),
                    describe(&h.step, cluster),
                    f.src,
                    f.dst,
                    f.ttl
                )
            })
            .collect();
        lines.push(match self.verdict {
            Verdict::Delivered { to } => format!("=> delivered to {}", cluster.name_of(to)),
            Verdict::Dropped { at, reason } => {
                let by = match reason {
                    DropReason::Policy { direction, pod } => cluster
                        .pods()
                        .iter()
                        .find(|p| p.id == pod)
                        .map_or_else(String::new, |p| {
                            format!(
                                " (isolated by {})",
                                cluster.isolating(p, direction).join(", ")
                            )
                        }),
                    _ => String::new(),
                };
                format!("=> dropped at {}: {reason}{by}", at.label(cluster))
            }
        });
        lines
    }
}

/// A step in words.
pub fn describe(step: &Step, cluster: &Cluster) -> String {
    match step {
        Step::Send { route } => format!("send: route {route}"),
        Step::Arp { ip, mac, dev } => format!("ARP {ip} on {dev} is at {mac}"),
        Step::CrossVeth => "cross the veth pair".into(),
        Step::Transmit { dev } => format!("transmit on {dev}"),
        Step::Receive { dev } => format!("receive on {dev}"),
        Step::BridgeUp => "dst MAC is the bridge's own: up to the node's IP stack".into(),
        Step::BridgeForward { port } => format!("bridge FDB: out of port {port}"),
        Step::Switch { to } => format!("switch: to {}", cluster.name_of(*to)),
        Step::SwitchToRouter => "switch: to the router".into(),
        Step::Encap { vni, remote } => {
            format!("VXLAN encap (VNI {vni}): FDB sends it to {remote}, +50 bytes")
        }
        Step::Decap { vni } => format!("VXLAN decap (VNI {vni}): the inner frame comes out"),
        Step::Fragment { mtu, count } => {
            format!("fragment: over the MTU {mtu} without DF, {count} fragments")
        }
        Step::Dnat { service, from, to } => {
            let s = cluster.service(*service);
            let name = s.map_or("?", |s| s.name.as_str());
            let way = if s.is_some_and(|s| s.cluster_ip == *from.ip()) {
                "ClusterIP"
            } else {
                "NodePort"
            };
            format!("DNAT (Service {name}, {way}): {from} -> {to}")
        }
        Step::HostPortDnat { pod, from, to } => {
            let name = cluster.name_of(Endpoint::Pod(*pod));
            format!("DNAT (hostPort of {name}): {from} -> {to}")
        }
        Step::Forward { route } => format!("forward: route {route}"),
        Step::Snat { from, to } => format!("SNAT (masquerade): {from} -> {to}"),
        Step::UnSnat { from, to } => {
            format!("conntrack: a reply, SNAT undone: destination {from} -> {to}")
        }
        Step::UnDnat { from, to } => {
            format!("conntrack: a reply, DNAT undone: source {from} -> {to}")
        }
        Step::Deliver => "deliver to local socket".into(),
        Step::Drop(r) => format!("drop: {r}"),
    }
}
