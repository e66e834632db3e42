//! The VXLAN driver on a node: a frame for a peer's range goes inside UDP
//! to that peer's underlay address (neighbour and FDB entries as the agent
//! writes them), and an encapsulated frame for this node comes out of the
//! VTEP.

use std::net::Ipv4Addr;

use super::frame::{FrameRepr, L4Repr};
use super::network::{NodeRt, VtepRt};
use super::trace::{DropReason, Place, Step};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;
use crate::net::MacAddr;

impl<'c> Network<'c> {
    /// The VXLAN socket on the node's UDP port takes an encapsulated frame
    /// for the node's address: VNI and inner destination MAC must be the
    /// VTEP's, then the inner frame comes in through `podnet.1`.
    pub(crate) fn process_decap<R: Recorder>(
        &self,
        rt: &NodeRt,
        v: &VtepRt,
        w: &mut Walk<R>,
    ) -> Next {
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

    /// The VXLAN driver: the neighbour entry gives the peer VTEP's MAC, the
    /// MTU is the device's, the FDB entry for that MAC gives the peer's
    /// underlay address; the frame goes inside UDP from this node's
    /// address, and that outer packet is routed like any the node sends.
    pub(crate) fn process_encap<R: Recorder>(
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
