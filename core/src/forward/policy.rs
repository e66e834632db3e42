//! NetworkPolicy where podnet enforces it: in a node's forward hook, after
//! a Service's DNAT (a policy speaks of pods, never of ClusterIPs) and
//! before masquerade, so it sees the addresses the connection really has.
//! The sender's node decides its pods' egress, the receiver's node its
//! pods' ingress; a packet between two pods of one bridge passes the hook
//! only with br_netfilter, where both are decided. Replies of a connection
//! already allowed pass (conntrack's established state is accepted first);
//! a node's own packets never pass a forward hook, which is why a pod's
//! own node always reaches it.

use super::network::NodeRt;
use super::trace::{DropReason, Place};
use super::walk::{End, Recorder, Walk};
use super::{L4Repr, Network};
use crate::policy::{Decision, Direction, Party, PolicyProtocol};

impl<'c> Network<'c> {
    /// The forward hook's policy check on node `rt`: drops the packet when
    /// the sending pod (of this node) may not send it or the receiving pod
    /// (of this node) may not receive it.
    pub(crate) fn process_policy<R: Recorder>(
        &self,
        rt: &NodeRt,
        place: Place,
        w: &Walk<R>,
    ) -> Result<(), End> {
        let Some(set) = &self.policy else {
            return Ok(());
        };
        if !w.undo.is_empty() || w.inner.is_some() {
            return Ok(());
        }
        let l4 = match w.f.l4 {
            L4Repr::Tcp { dst_port, .. } => Some((dst_port, PolicyProtocol::Tcp)),
            L4Repr::Udp { dst_port, .. } => Some((dst_port, PolicyProtocol::Udp)),
            _ => None,
        };
        let pods = self.cluster.pods();
        let party = |ip| match set.pod_at(ip) {
            Some(i) => Party::Pod(i),
            None => match self.cluster.nodes().iter().find(|n| n.underlay_ip == ip) {
                Some(n) => Party::Node(n.name.as_str(), ip),
                None => Party::Other(ip),
            },
        };
        let (from, to) = (party(w.f.src), party(w.f.dst));
        let here = |p: Party| match p {
            Party::Pod(i) => pods.get(i).filter(|pod| pod.node == rt.node.id),
            _ => None,
        };
        for (direction, end) in [(Direction::Egress, from), (Direction::Ingress, to)] {
            let Some(pod) = here(end) else { continue };
            let decision = match direction {
                Direction::Egress => set.decide_egress(from, to, l4),
                Direction::Ingress => set.decide_ingress(from, to, l4),
            };
            if let Decision::Denied { .. } = decision {
                let reason = DropReason::Policy {
                    direction,
                    pod: pod.id,
                };
                return Err(End::drop(place, reason));
            }
        }
        Ok(())
    }
}
