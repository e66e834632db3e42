//! Netfilter on a node: conntrack undoing a connection's NAT on its
//! replies, kube-proxy's rules (nat `KUBE-SERVICES`: a Service's DNAT and
//! the masquerade mark; filter: REJECT for a port without endpoints), and
//! portmap's hostPorts, masquerade on the way out. The rules are the ones
//! [`crate::services::render`] gives the node, walked as the kernel walks
//! them; every rule that acts is recorded with its hop.

use std::net::SocketAddrV4;

use super::network::NodeRt;
use super::trace::{DropReason, Place, Step, Tuple};
use super::walk::{End, Recorder, Walk};
use super::Network;
use crate::route::Route;
use crate::services::hostport;
use crate::services::rules::{Draw, Packet, Pick, DROP_MARK, HOSTPORT_MARK, MASQ_MARK};
use crate::topology::{Protocol, ServiceId};

/// The random draw when the caller chose no endpoint: a hash of the flow,
/// so one connection always lands on one endpoint, as conntrack keeps it.
struct FlowHash(u32);

impl Draw for FlowHash {
    fn choose(&mut self, _chain: &str, of: usize) -> usize {
        self.0 as usize % of.max(1)
    }
}

impl<'c> Network<'c> {
    /// A reply to a connection this node saw: conntrack rewrites back what
    /// it translated (destination, then source), and no NAT rule is asked
    /// again, as for any packet of an established connection. A node that
    /// never saw the request takes the reply as a new connection.
    pub(crate) fn process_conntrack<R: Recorder>(
        &self,
        rt: &NodeRt,
        place: Place,
        w: &mut Walk<R>,
    ) -> bool {
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

    /// The Service a packet for `dst:dport` is for: its ClusterIP, or a
    /// node port of it on one of the node's own addresses.
    fn service_for(&self, rt: &NodeRt, dst: SocketAddrV4, proto: Protocol) -> Option<ServiceId> {
        let c = self.cluster;
        if let Some(s) = c.service_at(*dst.ip()) {
            return Some(s.id);
        }
        let local = rt.is_local(*dst.ip());
        c.services()
            .iter()
            .find(|s| {
                local
                    && s.ports
                        .iter()
                        .any(|p| p.protocol == proto && p.node_port == Some(dst.port()))
            })
            .map(|s| s.id)
    }

    /// nat PREROUTING (a packet arriving) or OUTPUT (the node's own):
    /// kube-proxy's `KUBE-SERVICES`. A Service's DNAT rewrites the
    /// destination to the endpoint the balancing picks, and may set the
    /// masquerade mark; a port without endpoints is rejected (filter), and a
    /// Local NodePort without a local endpoint dropped. Returns whether the
    /// destination changed.
    pub(crate) fn process_dnat<R: Recorder>(
        &self,
        rt: &NodeRt,
        place: Place,
        w: &mut Walk<R>,
    ) -> Result<bool, End> {
        let (Some((src_port, dst_port)), Some(proto)) = (w.f.l4.ports(), w.f.l4.transport()) else {
            return Ok(false);
        };
        let packet = Packet {
            src: w.f.src,
            dst: w.f.dst,
            protocol: Some(proto),
            dport: Some(dst_port),
            src_local: rt.is_local(w.f.src),
            dst_local: rt.is_local(w.f.dst),
        };
        let flow = u32::from(w.f.src) ^ u32::from(src_port).wrapping_mul(2_654_435_761);
        let mut hashed = FlowHash(flow);
        let mut picked = w.pick.map(Pick);
        let draw: &mut dyn Draw = match &mut picked {
            Some(p) => p,
            None => &mut hashed,
        };
        let v = rt.kube_proxy.nat.eval("KUBE-SERVICES", &packet, draw);
        for (chain, rule) in &v.matched {
            w.rec.rule("nat", format!("-A {chain} {rule}"));
        }
        w.mark |= v.mark;
        let from = SocketAddrV4::new(w.f.dst, dst_port);
        let service = || self.service_for(rt, from, proto);
        if let Some(to) = v.dnat {
            w.f.dst = *to.ip();
            w.f.l4.set_ports(src_port, to.port());
            if let Some(service) = service() {
                w.hop(place, Step::Dnat { service, from, to });
            }
            return Ok(true);
        }
        if w.mark & DROP_MARK != 0 {
            if let Some(service) = service() {
                return Err(End::drop(place, DropReason::NoLocalEndpoints { service }));
            }
        }
        if packet.dst_local {
            // portmap's jump comes after kube-proxy's in PREROUTING and OUTPUT.
            let v = rt
                .portmap
                .eval(hostport::DNAT_CHAIN, &packet, &mut FlowHash(flow));
            for (chain, rule) in &v.matched {
                w.rec.rule("nat", format!("-A {chain} {rule}"));
            }
            w.mark |= v.mark;
            if let Some(to) = v.dnat {
                w.f.dst = *to.ip();
                w.f.l4.set_ports(src_port, to.port());
                if let Some((pod, _)) = hostport::pod_at(self.cluster, rt.node, proto, dst_port) {
                    w.hop(
                        place,
                        Step::HostPortDnat {
                            pod: pod.id,
                            from,
                            to,
                        },
                    );
                }
                return Ok(true);
            }
        }
        let filter = if packet.dst_local {
            "KUBE-EXTERNAL-SERVICES"
        } else {
            "KUBE-SERVICES"
        };
        let refused = rt
            .kube_proxy
            .filter
            .eval(filter, &packet, &mut FlowHash(flow));
        if refused.refused.is_some() {
            for (chain, rule) in &refused.matched {
                w.rec.rule("filter", format!("-A {chain} {rule}"));
            }
            if let Some(service) = service() {
                return Err(End::drop(place, DropReason::NoEndpoints { service }));
            }
        }
        Ok(false)
    }

    /// Masquerade on the way out: kube-proxy's mark (`KUBE-POSTROUTING`),
    /// or the node's pod masquerade rule; the source becomes the outgoing
    /// device's address.
    pub(crate) fn process_snat<R: Recorder>(&self, rt: &NodeRt, route: &Route, w: &mut Walk<R>) {
        let f = &mut w.f;
        let ip_masq = rt.masquerade.as_ref().is_some_and(|(src, except)| {
            src.contains(f.src)
                && !except.iter().any(|n| n.contains(f.dst))
                && route.dev != rt.node.bridge
        });
        let marked = w.mark & MASQ_MARK != 0;
        let hostport = w.mark & HOSTPORT_MARK != 0;
        let to = rt.addr_on(route.dev);
        if (marked || hostport || ip_masq) && f.src != to {
            let from = f.src;
            f.src = to;
            if hostport {
                // POSTROUTING asks portmap's chain first.
                if let Some(r) = rt
                    .portmap
                    .chain(hostport::MASQ_CHAIN)
                    .and_then(|c| c.rules.last())
                {
                    w.rec
                        .rule("nat", format!("-A {} {r}", hostport::MASQ_CHAIN));
                }
            } else if marked {
                if let Some(r) = rt
                    .kube_proxy
                    .nat
                    .chain("KUBE-POSTROUTING")
                    .and_then(|c| c.rules.last())
                {
                    w.rec.rule("nat", format!("-A KUBE-POSTROUTING {r}"));
                }
            }
            w.hop(Place::Node(rt.node.id), Step::Snat { from, to });
        }
        w.mark &= !(MASQ_MARK | HOSTPORT_MARK);
    }
}
