//! How nodes join a cluster, as the seed tells it and a real cluster does
//! it: each kubelet registers its Node, which stays **NotReady** because
//! "the network plugin is not ready"; kube-controller-manager's node IPAM
//! hands each Node the next free range of the cluster range (the same
//! [`ClusterAllocator`] rule: 10.244.0.0/24, then 10.244.1.0/24, …; a
//! range it takes and gives back is skipped, [`ranges_taken`]); the
//! network plugin's agent on the node writes its CNI config once its Node
//! has a range; and the kubelet reports the Node **Ready**.
//!
//! [`timeline`] gives every step with the state of every node after it, for
//! the explainer to step through; `podnet lab up --kubernetes` records the
//! same four moments as it sees them on its API server
//! ([`NodeJoinView`](crate::lab_api::NodeJoinView)).

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::alloc::ClusterAllocator;
use crate::error::Result;

/// The Ready condition's message while no CNI config is there, word for
/// word as kubelet 1.20 with containerd 1.6 reports it (the Kubernetes lab's
/// test compares it with its API server's).
pub const NOT_READY_MESSAGE: &str = "runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";
/// The Ready condition's message once it is Ready.
pub const READY_MESSAGE: &str = "kubelet is posting ready status";

/// What happens to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinEvent {
    /// The kubelet creates the Node object: NotReady, no range.
    Registered,
    /// Node IPAM sets `spec.podCIDR`.
    RangeAssigned(Ipv4Network),
    /// The network plugin's agent writes the node's CNI config.
    CniConfigWritten,
    /// The kubelet sees the runtime's network ready and reports Ready.
    Ready,
}

impl JoinEvent {
    /// Who does it.
    pub fn actor(self) -> &'static str {
        match self {
            JoinEvent::Registered | JoinEvent::Ready => "kubelet",
            JoinEvent::RangeAssigned(_) => "kube-controller-manager (node IPAM)",
            JoinEvent::CniConfigWritten => "the CNI plugin's agent (a DaemonSet pod)",
        }
    }
}

/// One node as the API and the node's disk show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// `spec.podCIDR`, once node IPAM gave one.
    pub pod_cidr: Option<Ipv4Network>,
    /// `/etc/cni/net.d` holds the plugin's config.
    pub cni_config: bool,
    /// The Ready condition.
    pub ready: bool,
}

impl NodeStatus {
    /// The Ready condition's message.
    pub fn message(&self) -> &'static str {
        if self.ready {
            READY_MESSAGE
        } else {
            NOT_READY_MESSAGE
        }
    }
}

/// One step of the timeline: what happened, and every registered node after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinStep {
    /// The node it happened to.
    pub node: String,
    /// What happened.
    pub event: JoinEvent,
    /// Every node registered so far, after the step.
    pub nodes: Vec<NodeStatus>,
}

impl JoinStep {
    /// The step in words.
    pub fn text(&self) -> String {
        let n = &self.node;
        match self.event {
            JoinEvent::Registered => format!(
                "The kubelet on {n} registers Node {n}. It is NotReady: the container runtime has no CNI config yet, so no pod could get a network."
            ),
            JoinEvent::RangeAssigned(r) => format!(
                "kube-controller-manager's node IPAM gives {n} the next free range of the cluster range: spec.podCIDR = {r}."
            ),
            JoinEvent::CniConfigWritten => format!(
                "The CNI plugin's agent on {n} sees the range, programs the bridge and the routes, and writes /etc/cni/net.d/10-podnet.conflist."
            ),
            JoinEvent::Ready => format!(
                "The kubelet on {n} finds the runtime's network ready and reports Ready: pods can be scheduled there now."
            ),
        }
    }
}

/// Nodes `names` joining an empty cluster `cluster_cidr` split into
/// /`node_prefix` ranges, in the order a cluster does it: every kubelet
/// registers, node IPAM gives the ranges in registration order, then each
/// agent writes its config and each Node turns Ready.
pub fn timeline(
    cluster_cidr: Ipv4Network,
    node_prefix: u8,
    names: &[&str],
) -> Result<Vec<JoinStep>> {
    let mut alloc = ClusterAllocator::new(cluster_cidr, node_prefix)?;
    let mut nodes: Vec<NodeStatus> = Vec::new();
    let mut steps = Vec::new();
    let mut push = |nodes: &Vec<NodeStatus>, node: &str, event| {
        steps.push(JoinStep {
            node: node.to_string(),
            event,
            nodes: nodes.clone(),
        })
    };
    for &name in names {
        nodes.push(NodeStatus {
            name: name.to_string(),
            pod_cidr: None,
            cni_config: false,
            ready: false,
        });
        push(&nodes, name, JoinEvent::Registered);
    }
    for i in 0..nodes.len() {
        let range = alloc.allocate()?;
        nodes[i].pod_cidr = Some(range);
        let name = nodes[i].name.clone();
        push(&nodes, &name, JoinEvent::RangeAssigned(range));
    }
    for i in 0..nodes.len() {
        nodes[i].cni_config = true;
        let name = nodes[i].name.clone();
        push(&nodes, &name, JoinEvent::CniConfigWritten);
        nodes[i].ready = true;
        push(&nodes, &name, JoinEvent::Ready);
    }
    Ok(steps)
}

/// The range node IPAM gives each of `names` (registered in that order).
pub fn predicted_ranges(
    cluster_cidr: Ipv4Network,
    node_prefix: u8,
    names: &[&str],
) -> Result<Vec<(String, Ipv4Network)>> {
    let taken: Vec<Taken> = names.iter().map(|n| Taken::Kept(n)).collect();
    ranges_taken(cluster_cidr, node_prefix, &taken)
}

/// One range node IPAM took from its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken<'a> {
    /// Set as this node's `spec.podCIDR`.
    Kept(&'a str),
    /// Given back at once. kube-controller-manager 1.20 takes a range for
    /// every update of a Node it sees without one; an update older than
    /// its own patch ("Node … already has a CIDR allocated … Releasing the
    /// new one" in its log), or a patch that failed, returns the range.
    Released,
}

/// What node IPAM took for `joins` (in registration order): the ranges
/// each gave back first, then its own.
pub fn taken_by(joins: &[crate::lab_api::NodeJoinView]) -> Vec<Taken<'_>> {
    joins
        .iter()
        .flat_map(|j| {
            std::iter::repeat_n(Taken::Released, j.given_back_before as usize)
                .chain(std::iter::once(Taken::Kept(j.name.as_str())))
        })
        .collect()
}

/// The range each node kept when node IPAM took ranges in the order
/// `taken`. A range given back still moved the allocator on (it hands out
/// the next free range after the last it took, not the lowest), so the
/// next node skips it: a real cluster's node2 can get 10.244.2.0/24.
pub fn ranges_taken(
    cluster_cidr: Ipv4Network,
    node_prefix: u8,
    taken: &[Taken],
) -> Result<Vec<(String, Ipv4Network)>> {
    let mut alloc = ClusterAllocator::new(cluster_cidr, node_prefix)?;
    let mut kept = Vec::new();
    for t in taken {
        let range = alloc.allocate()?;
        match t {
            Taken::Kept(name) => kept.push((name.to_string(), range)),
            Taken::Released => alloc.release(range)?,
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_given_back_is_skipped_by_the_next_node() {
        let c = cidr("10.244.0.0/16");
        let ranges = |t: &[Taken]| -> Vec<String> {
            ranges_taken(c, 24, t)
                .unwrap()
                .into_iter()
                .map(|(n, r)| format!("{n} {r}"))
                .collect()
        };
        assert_eq!(
            ranges(&[Taken::Kept("node1"), Taken::Kept("node2")]),
            ["node1 10.244.0.0/24", "node2 10.244.1.0/24"]
        );
        // What a lab's controller-manager once did: a stale update of node1.
        assert_eq!(
            ranges(&[Taken::Kept("node1"), Taken::Released, Taken::Kept("node2")]),
            ["node1 10.244.0.0/24", "node2 10.244.2.0/24"]
        );
        let joins = [
            crate::lab_api::NodeJoinView {
                name: "node1".into(),
                ..Default::default()
            },
            crate::lab_api::NodeJoinView {
                name: "node2".into(),
                given_back_before: 1,
                ..Default::default()
            },
        ];
        assert_eq!(
            ranges(&taken_by(&joins)),
            ["node1 10.244.0.0/24", "node2 10.244.2.0/24"]
        );
        assert_eq!(
            predicted_ranges(c, 24, &["a", "b"]).unwrap(),
            ranges_taken(c, 24, &[Taken::Kept("a"), Taken::Kept("b")]).unwrap()
        );
    }

    #[test]
    fn nodes_get_ranges_in_order_and_are_ready_only_after_their_cni_config() {
        let steps = timeline(cidr("10.244.0.0/16"), 24, &["node1", "node2"]).unwrap();
        let events: Vec<_> = steps.iter().map(|s| (s.node.as_str(), s.event)).collect();
        assert_eq!(
            events,
            [
                ("node1", JoinEvent::Registered),
                ("node2", JoinEvent::Registered),
                ("node1", JoinEvent::RangeAssigned(cidr("10.244.0.0/24"))),
                ("node2", JoinEvent::RangeAssigned(cidr("10.244.1.0/24"))),
                ("node1", JoinEvent::CniConfigWritten),
                ("node1", JoinEvent::Ready),
                ("node2", JoinEvent::CniConfigWritten),
                ("node2", JoinEvent::Ready),
            ]
        );
        for s in &steps {
            for n in &s.nodes {
                assert!(
                    !n.ready || n.cni_config,
                    "{} Ready without a CNI config",
                    n.name
                );
                assert!(
                    !n.cni_config || n.pod_cidr.is_some(),
                    "{} has a config but no range",
                    n.name
                );
                assert_eq!(n.message() == NOT_READY_MESSAGE, !n.ready);
            }
        }
        assert!(steps.last().unwrap().nodes.iter().all(|n| n.ready));
        assert!(steps[0].text().contains("NotReady"));
    }

    #[test]
    fn a_full_cluster_range_is_an_error_not_a_panic() {
        assert!(timeline(cidr("10.244.0.0/23"), 24, &["a", "b", "c"]).is_err());
        assert_eq!(
            predicted_ranges(cidr("10.244.0.0/16"), 24, &["x", "y"]).unwrap()[1].1,
            cidr("10.244.1.0/24")
        );
    }
}
