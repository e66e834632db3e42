//! A node's pod bridge (`cni0`): frames for its own MAC go up to the node,
//! frames for a pod's MAC out of that pod's port (its forwarding database).

use super::trace::{DropReason, Place, Step};
use super::walk::{At, End, Next, Recorder, Walk};
use super::Network;

impl<'c> Network<'c> {
    /// The bridge: its own MAC goes up to the node, a pod's out of that pod's port.
    pub(crate) fn process_bridge<R: Recorder>(&self, n: usize, w: &mut Walk<R>) -> Next {
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
}
