//! Who may talk to whom: a connection's verdict under a set of policies,
//! with the policy and rule that decided it.
//!
//! As Kubernetes specifies it: a pod is isolated in a direction once any
//! policy of its namespace selects it for that direction; then only what
//! some rule of those policies allows passes (the union of all of them).
//! A connection needs both ends: the sender's egress and the receiver's
//! ingress. Replies of an allowed connection pass (the dataplane's
//! conntrack), so only the first packet is judged. Traffic from the node a
//! pod runs on is always allowed in (kubelet probes), as in kube-router,
//! Calico's default and kube-network-policies.
//!
//! [`PolicySet::new`] indexes once which policies isolate which pod, so
//! one [`PolicySet::verdict`] looks only at the policies of the two pods
//! concerned, whatever the size of the cluster.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::spec::{NetworkPolicy, Peer, PolicyPort, PolicyProtocol, PortRef};
use crate::error::Result;
use crate::topology::Labels;

/// A namespace, by name with its labels (what namespace selectors see).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Its name.
    pub name: String,
    /// Its labels.
    #[serde(default)]
    pub labels: Labels,
}

/// A container port a policy can name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPort {
    /// Its name.
    pub name: String,
    /// Its protocol.
    pub protocol: PolicyProtocol,
    /// Its number.
    pub port: u16,
}

/// A pod, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPod {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The node it runs on.
    pub node: String,
    /// Its labels.
    #[serde(default)]
    pub labels: Labels,
    /// Its containers' named ports.
    #[serde(default)]
    pub ports: Vec<NamedPort>,
}

impl PolicyPod {
    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party<'a> {
    /// A pod (its index in the set's pods).
    Pod(usize),
    /// A node, by name and address: its own pods always let it in.
    Node(&'a str, Ipv4Addr),
    /// Any other address (outside the cluster).
    Other(Ipv4Addr),
}

/// Which way traffic crosses a pod's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Into the pod.
    Ingress,
    /// Out of the pod.
    Egress,
}

/// How one direction was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// That end is not a pod, or no policy isolates it this way.
    NotIsolated,
    /// From the node the receiving pod runs on.
    OwnNode,
    /// Rule `rule` (0-based) of `policy` allowed it.
    Allowed {
        /// `namespace/name` of the policy.
        policy: String,
        /// The rule's index in its list (`ingress` or `egress`).
        rule: usize,
    },
    /// The pod is isolated by these policies and none of their rules allows it.
    Denied {
        /// `namespace/name` of every policy that isolates the pod this way.
        isolated_by: Vec<String>,
    },
}

impl Decision {
    /// Whether traffic passes this direction.
    pub fn passes(&self) -> bool {
        !matches!(self, Decision::Denied { .. })
    }
}

/// A connection's verdict: the sender's egress and the receiver's ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The sender's egress.
    pub egress: Decision,
    /// The receiver's ingress.
    pub ingress: Decision,
}

impl Verdict {
    /// Whether the connection is allowed.
    pub fn allowed(&self) -> bool {
        self.egress.passes() && self.ingress.passes()
    }

    /// One sentence: why it passes or not.
    pub fn explain(&self) -> String {
        let said = |d: &Decision, dir: &str| match d {
            Decision::NotIsolated => format!("no policy isolates {dir}"),
            Decision::OwnNode => "the receiver's own node is always let in".to_string(),
            Decision::Allowed { policy, rule } => {
                format!("{dir} allowed by {policy}, rule {}", rule + 1)
            }
            Decision::Denied { isolated_by } => format!(
                "{dir} denied: isolated by {} and no rule allows it",
                isolated_by.join(", ")
            ),
        };
        let verdict = if self.allowed() { "allowed" } else { "denied" };
        format!(
            "{verdict}: {}; {}",
            said(&self.egress, "the sender's egress"),
            said(&self.ingress, "the receiver's ingress")
        )
    }
}

/// Policies over a cluster's namespaces and pods, indexed for verdicts.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: Vec<NetworkPolicy>,
    pods: Vec<PolicyPod>,
    namespaces: HashMap<String, Labels>,
    by_ip: HashMap<Ipv4Addr, usize>,
    /// Per pod: the policies isolating it for ingress, and for egress.
    ingress_of: Vec<Vec<usize>>,
    egress_of: Vec<Vec<usize>>,
}

impl PolicySet {
    /// Validates every policy (the first bad one is the error, naming its
    /// field) and indexes which policies isolate which pod.
    pub fn new(
        namespaces: &[Namespace],
        pods: Vec<PolicyPod>,
        policies: Vec<NetworkPolicy>,
    ) -> Result<PolicySet> {
        for p in &policies {
            p.validate()?;
        }
        let namespaces: HashMap<String, Labels> = namespaces
            .iter()
            .map(|n| (n.name.clone(), n.labels.clone()))
            .collect();
        let mut in_ns: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in pods.iter().enumerate() {
            in_ns.entry(p.namespace.as_str()).or_default().push(i);
        }
        let (mut ingress_of, mut egress_of) =
            (vec![Vec::new(); pods.len()], vec![Vec::new(); pods.len()]);
        for (k, pol) in policies.iter().enumerate() {
            let (ingress, egress) = pol.types();
            for &i in in_ns.get(pol.namespace.as_str()).into_iter().flatten() {
                if pol.spec.pod_selector.matches(&pods[i].labels) {
                    if ingress {
                        ingress_of[i].push(k);
                    }
                    if egress {
                        egress_of[i].push(k);
                    }
                }
            }
        }
        let by_ip = pods.iter().enumerate().map(|(i, p)| (p.ip, i)).collect();
        Ok(PolicySet {
            policies,
            pods,
            namespaces,
            by_ip,
            ingress_of,
            egress_of,
        })
    }

    /// The pods.
    pub fn pods(&self) -> &[PolicyPod] {
        &self.pods
    }

    /// The policies.
    pub fn policies(&self) -> &[NetworkPolicy] {
        &self.policies
    }

    /// The pod at `ip`, if any.
    pub fn pod_at(&self, ip: Ipv4Addr) -> Option<usize> {
        self.by_ip.get(&ip).copied()
    }

    /// The pod `namespace/name`, if any.
    pub fn pod_named(&self, full_name: &str) -> Option<usize> {
        self.pods.iter().position(|p| p.full_name() == full_name)
    }

    /// The policies isolating pod `pod` in `direction`, by index.
    pub fn isolating(&self, pod: usize, direction: Direction) -> &[usize] {
        match direction {
            Direction::Ingress => &self.ingress_of[pod],
            Direction::Egress => &self.egress_of[pod],
        }
    }

    /// The verdict on a connection from `from` to `to` on `port`/`protocol`.
    pub fn verdict(&self, from: Party, to: Party, port: u16, protocol: PolicyProtocol) -> Verdict {
        self.verdict_l4(from, to, Some((port, protocol)))
    }

    /// Like [`PolicySet::verdict`]; `None` is traffic without ports (a
    /// ping), which only a rule without ports allows.
    pub fn verdict_l4(&self, from: Party, to: Party, l4: Option<(u16, PolicyProtocol)>) -> Verdict {
        Verdict {
            egress: self.decide_egress(from, to, l4),
            ingress: self.decide_ingress(from, to, l4),
        }
    }

    /// The sender's side only (what its node's rules decide).
    pub fn decide_egress(
        &self,
        from: Party,
        to: Party,
        l4: Option<(u16, PolicyProtocol)>,
    ) -> Decision {
        match from {
            Party::Pod(i) => self.decide(&self.egress_of[i], to, to, l4, Direction::Egress),
            _ => Decision::NotIsolated,
        }
    }

    /// The receiver's side only (what its node's rules decide).
    pub fn decide_ingress(
        &self,
        from: Party,
        to: Party,
        l4: Option<(u16, PolicyProtocol)>,
    ) -> Decision {
        match (from, to) {
            (Party::Node(node, _), Party::Pod(j)) if self.pods[j].node == node => Decision::OwnNode,
            (_, Party::Pod(j)) => {
                self.decide(&self.ingress_of[j], from, to, l4, Direction::Ingress)
            }
            _ => Decision::NotIsolated,
        }
    }

    /// One direction: `peer` is the other end the rules' peers must match,
    /// `dest` the receiver whose named ports the rules' ports mean.
    fn decide(
        &self,
        isolating: &[usize],
        peer: Party,
        dest: Party,
        l4: Option<(u16, PolicyProtocol)>,
        direction: Direction,
    ) -> Decision {
        if isolating.is_empty() {
            return Decision::NotIsolated;
        }
        for &k in isolating {
            let pol = &self.policies[k];
            let allowed = match direction {
                Direction::Ingress => pol.spec.ingress.iter().position(|r| {
                    self.peers_match(pol, &r.from, peer) && self.ports_match(&r.ports, dest, l4)
                }),
                Direction::Egress => pol.spec.egress.iter().position(|r| {
                    self.peers_match(pol, &r.to, peer) && self.ports_match(&r.ports, dest, l4)
                }),
            };
            if let Some(rule) = allowed {
                return Decision::Allowed {
                    policy: pol.full_name(),
                    rule,
                };
            }
        }
        Decision::Denied {
            isolated_by: isolating
                .iter()
                .map(|&k| self.policies[k].full_name())
                .collect(),
        }
    }

    /// Whether any of a rule's peers is `party` (no peers: everyone).
    fn peers_match(&self, pol: &NetworkPolicy, peers: &[Peer], party: Party) -> bool {
        peers.is_empty() || peers.iter().any(|p| self.peer_matches(pol, p, party))
    }

    pub(crate) fn peer_matches(&self, pol: &NetworkPolicy, peer: &Peer, party: Party) -> bool {
        let ip = match party {
            Party::Pod(i) => self.pods[i].ip,
            Party::Node(_, ip) | Party::Other(ip) => ip,
        };
        if let Some(block) = &peer.ip_block {
            return block.contains(ip);
        }
        // Selectors speak of pods only.
        let Party::Pod(i) = party else {
            return false;
        };
        let pod = &self.pods[i];
        let namespace_ok = match &peer.namespace_selector {
            None => pod.namespace == pol.namespace,
            Some(sel) => {
                let empty = Labels::new();
                sel.matches(self.namespaces.get(&pod.namespace).unwrap_or(&empty))
            }
        };
        namespace_ok
            && peer
                .pod_selector
                .as_ref()
                .is_none_or(|sel| sel.matches(&pod.labels))
    }

    /// Whether any of a rule's ports is `port`/`protocol` at `dest` (no
    /// ports: every port). A named port means the receiving pod's port of
    /// that name and protocol; a receiver without it matches nothing.
    fn ports_match(
        &self,
        ports: &[PolicyPort],
        dest: Party,
        l4: Option<(u16, PolicyProtocol)>,
    ) -> bool {
        let Some((port, protocol)) = l4 else {
            return ports.is_empty();
        };
        ports.is_empty()
            || ports.iter().any(|p| {
                p.protocol == protocol
                    && match &p.port {
                        None => true,
                        Some(PortRef::Number(n)) => *n == port,
                        Some(PortRef::Name(name)) => match dest {
                            Party::Pod(j) => self.pods[j].ports.iter().any(|c| {
                                &c.name == name && c.protocol == protocol && c.port == port
                            }),
                            _ => false,
                        },
                    }
            })
    }
}
