//! A node's pod bridge (`cni0`): frames for its own MAC go up to the node,
//! frames for a pod's MAC out of that pod's port (its forwarding
//! database), never back out of the port they came in on unless hairpin
//! mode is on there.
//!
//! With `bridge-nf-call-iptables` (br_netfilter), a frame from a pod
//! passes the IPv4 hooks in the bridge itself: conntrack undoes a reply's
//! NAT here (a Service's answer from a pod on the same node), and nat
//! PREROUTING runs here. When a Service's DNAT sends the packet to a pod
//! on this same bridge, the bridge forwards it there directly (not
//! routed: its TTL stays), masqueraded to the bridge's address when
//! kube-proxy (or portmap, for a hostPort) marked it — which is how a pod
//! reaches itself through its own Service, and why that needs hairpin mode.

use super::network::NodeRt;
use super::trace::{DropReason, Place, Step, Tuple};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;
use crate::services::hostport;
use crate::services::rules::{HOSTPORT_MARK, MASQ_MARK};

impl<'c> Network<'c> {
    /// The bridge: br_netfilter's hooks for a pod's frame, then up to the
    /// node for its own MAC, or out of a pod's port.
    pub(crate) fn process_bridge<R: Recorder>(&self, n: usize, w: &mut Walk<R>) -> Next {
        let rt = &self.nodes[n];
        let place = Place::Bridge(rt.node.id);
        let in_port = w.in_port.take();
        // The tuple as br_netfilter's conntrack first saw it, for a frame
        // it bridges between two pods.
        let mut seen = None;
        if rt.node.bridge_nf && in_port.is_some() && w.inner.is_none() {
            let before = Tuple::of(&w.f);
            seen = Some(before);
            w.answered = !w.undo.is_empty() && self.process_conntrack(rt, place, w);
            let mut changed = w.answered && Tuple::of(&w.f) != before;
            if !w.answered && w.f.dst_mac == rt.node.bridge_mac {
                changed = self.process_dnat(rt, place, w)?;
            }
            w.nat_done = Some(before);
            let to_bridge = rt
                .routes
                .lookup(w.f.dst)
                .filter(|r| r.dev == rt.node.bridge);
            if changed && w.f.dst_mac == rt.node.bridge_mac && to_bridge.is_some() {
                self.process_bridged_nat(rt, before, w)?;
            }
        }
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
        if in_port == Some(p) && !rt.node.hairpin {
            return Err(End::drop(
                place,
                DropReason::HairpinOff {
                    port: pod.host_veth,
                },
            ));
        }
        if rt.node.bridge_nf && in_port.is_some() {
            // br_netfilter: a frame bridged between two pods passes the forward hook too.
            self.process_policy(rt, place, w)?;
            // ...and conntrack, which knows its reply as one: a policy
            // isolating the sender does not stop the answer it asked for.
            if let Some(before) = seen {
                w.track(rt, before, w.answered);
            }
        }
        w.hop(
            place,
            Step::BridgeForward {
                port: pod.host_veth,
            },
        );
        w.hop(Place::Veth(pod.id), Step::CrossVeth);
        Ok(At::PodRecv(p))
    }

    /// br_netfilter after a NAT that sends the packet to a pod of this very
    /// bridge: it stays in the bridge, addressed to that pod's MAC, and
    /// kube-proxy's mark masquerades it to the bridge's own address.
    fn process_bridged_nat<R: Recorder>(
        &self,
        rt: &NodeRt,
        before: Tuple,
        w: &mut Walk<R>,
    ) -> Result<(), End> {
        let place = Place::Bridge(rt.node.id);
        if w.mark & (MASQ_MARK | HOSTPORT_MARK) != 0 && !w.answered {
            let (from, to) = (w.f.src, rt.node.ipam.gateway());
            // POSTROUTING asks portmap's chain before kube-proxy's.
            let (chain, rules) = if w.mark & HOSTPORT_MARK != 0 {
                (hostport::MASQ_CHAIN, &rt.portmap)
            } else {
                ("KUBE-POSTROUTING", &rt.kube_proxy.nat)
            };
            if let Some(r) = rules.chain(chain).and_then(|c| c.rules.last()) {
                w.rec.rule("nat", format!("-A {chain} {r}"));
            }
            w.f.src = to;
            w.hop(place, Step::Snat { from, to });
        }
        w.mark = 0;
        let Some(mac) = rt.arp_on_bridge(w.f.dst) else {
            return Err(End::drop(place, DropReason::NoArpReply { ip: w.f.dst }));
        };
        w.f.dst_mac = mac;
        w.track(rt, before, w.answered);
        Ok(())
    }
}
