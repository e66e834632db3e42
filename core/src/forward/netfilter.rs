//! Netfilter on a node: conntrack undoing a connection's NAT on its
//! replies, kube-proxy's DNAT of Service traffic, and masquerade on the way
//! out.

use std::net::SocketAddrV4;

use super::frame::L4Repr;
use super::network::NodeRt;
use super::trace::{DropReason, Place, Step, Tuple};
use super::walk::{End, Recorder, Walk};
use super::Network;
use crate::route::Route;
use crate::topology::Protocol;

fn protocol_of(l4: &L4Repr) -> Option<Protocol> {
    match l4 {
        L4Repr::Tcp { .. } => Some(Protocol::Tcp),
        L4Repr::Udp { .. } => Some(Protocol::Udp),
        _ => None,
    }
}

impl<'c> Network<'c> {
    /// A reply to a connection this node saw: conntrack rewrites back what
    /// it translated (destination, then source), and no NAT rule is asked
    /// again, as for any packet of an established connection. A node that
    /// never saw the request takes the reply as a new connection.
    pub(crate) fn process_conntrack<R: Recorder>(&self, rt: &NodeRt, w: &mut Walk<R>) -> bool {
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

    /// kube-proxy's NodePort rule (DNAT) for a packet addressed to the node;
    /// a match also sets the masquerade mark when the service asks for it.
    pub(crate) fn process_dnat<R: Recorder>(
        &self,
        rt: &NodeRt,
        w: &mut Walk<R>,
    ) -> Result<(), End> {
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
    pub(crate) fn process_snat<R: Recorder>(&self, rt: &NodeRt, route: &Route, w: &mut Walk<R>) {
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
}
