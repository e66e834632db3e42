//! A node's IP stack: local delivery or the route lookup, then ARP on the
//! chosen device and out — to the bridge, the uplink or the VTEP. The
//! netfilter hooks it passes are in [`super::netfilter`].

use super::network::NodeRt;
use super::trace::{DropReason, Place, Step, Tuple};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;
use crate::net::MacAddr;
use crate::route::Route;
use crate::topology::Endpoint;

impl<'c> Network<'c> {
    /// A node's IP stack, for a packet it sends (`local`) or receives:
    /// NodePort DNAT, local delivery, routing, masquerade, then out.
    pub(crate) fn process_node<R: Recorder>(&self, n: usize, local: bool, w: &mut Walk<R>) -> Next {
        let rt = &self.nodes[n];
        if !local && rt.is_local(w.f.dst) && w.inner.is_some() {
            if let Some(v) = &rt.vtep {
                return self.process_decap(rt, v, w);
            }
        }
        let place = Place::Node(rt.node.id);
        if local && w.f.src_mac == MacAddr::default() {
            // A node's own frame carries the MAC of the device its route
            // leaves by from the first hop (ARP later sets the one it
            // really goes out of, after any DNAT).
            let dev = rt.routes.lookup(w.f.dst).map(|r| r.dev);
            w.f.src_mac = dev.map_or(rt.node.mac, |d| rt.mac_on(d));
        }
        if local && w.f.src.is_unspecified() {
            // The source comes from the route to the destination asked
            // for, before OUTPUT's DNAT (a ClusterIP needs a route too).
            let Some(route) = rt.routes.lookup(w.f.dst) else {
                return Err(End::drop(place, DropReason::NoRoute { dst: w.f.dst }));
            };
            w.f.src = route.src.unwrap_or_else(|| rt.addr_on(route.dev));
        }
        let bridged = w.nat_done.take();
        let before = bridged.unwrap_or_else(|| Tuple::of(&w.f));
        if bridged.is_none() {
            w.answered =
                w.inner.is_none() && !w.undo.is_empty() && self.process_conntrack(rt, place, w);
            if !w.answered && w.inner.is_none() {
                self.process_dnat(rt, place, w)?;
            }
        }
        let answered = std::mem::take(&mut w.answered);
        if rt.is_local(w.f.dst) {
            w.track(rt, before, answered);
            return Err(self.process_node_delivery(rt, w));
        }
        let route = self.process_routing(rt, local, w)?;
        if !local {
            self.process_policy(rt, place, w)?;
        }
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

    /// Delivered to the node itself; a node that pinged itself gets its own
    /// address as the source.
    pub(crate) fn process_node_delivery<R: Recorder>(&self, rt: &NodeRt, w: &mut Walk<R>) -> End {
        if w.f.src.is_unspecified() {
            w.f.src = w.f.dst;
            w.sent = Some(w.f);
        }
        End::deliver(Place::Node(rt.node.id), Endpoint::Node(rt.node.id))
    }

    /// The route lookup (longest-prefix match): a node's own packet takes the
    /// route's source; a forwarded one needs `ip_forward` and loses one TTL.
    pub(crate) fn process_routing<'n, R: Recorder>(
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

    /// ARP for the next hop on the route's device and put the frame on that
    /// link: the bridge (to a pod), the uplink (to the LAN) or the VTEP
    /// (into VXLAN, then out of the uplink).
    pub(crate) fn process_egress<R: Recorder>(
        &self,
        rt: &NodeRt,
        route: &Route,
        w: &mut Walk<R>,
    ) -> Next {
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
}
