//! `podnet lab check`: the CNI requirements measured on the real lab, and
//! compared with the model.
//!
//! Every node and pod runs a UDP [`responder`](crate::probe::responder)
//! that answers each datagram with the source address it saw. Every node
//! and pod then sends one datagram to every other: a reply means the round
//! trip works, and the reply says whether the source arrived unchanged (no
//! NAT). The sender's own source is what its kernel chose (`connect` +
//! `local_addr`). The same cluster is built in podnet-core, at the lab's
//! real addresses, and every pair's model verdict and addresses are
//! compared with what the kernel did; each node's route table and route
//! choices are compared with its plan. Any difference is reported.
//!
//! [`run`] reads as its three steps, one file each: [`measure`] the
//! kernels, [`compare`] with the model, and the [`report`]; [`underlay`]
//! adds the VXLAN frames captured on the wire.

pub mod compare;
pub mod measure;
pub mod policy;
pub mod report;
pub mod underlay;

use std::net::{Ipv4Addr, SocketAddrV4};

use podnet_core::forward::Network;
use podnet_core::topology::{Cluster, Endpoint, Protocol};

use crate::{LabError, LabState};

/// How a pair fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Round trip, source unchanged.
    Ok,
    /// Round trip, source rewritten.
    Nat,
    /// No round trip.
    Fail,
}

/// One direction of one pair, real and modelled.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// What the kernel did.
    pub real: Class,
    /// Source as the sender's kernel chose it / as the receiver saw it.
    pub real_addrs: (Option<Ipv4Addr>, Option<Ipv4Addr>),
    /// What the model says.
    pub model: Class,
    /// The model's sent/seen source.
    pub model_addrs: (Option<Ipv4Addr>, Option<Ipv4Addr>),
    /// Where and why the model loses the request or the reply, if it does.
    pub model_why: Option<String>,
}

impl Pair {
    /// Model and kernel agree on outcome and addresses.
    pub fn agrees(&self) -> bool {
        self.real == self.model && (self.real == Class::Fail || self.real_addrs == self.model_addrs)
    }
}

/// A NodePort reached from the client through one node, real and modelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePortProbe {
    /// The node whose address was used.
    pub via: String,
    /// The source address the pod saw (None: no answer).
    pub real_seen: Option<Ipv4Addr>,
    /// Who the model delivers it to, and the source seen there: one entry
    /// per endpoint of the service (kube-proxy picks one at random), `None`
    /// where the model drops it.
    pub model: Vec<Option<(String, Ipv4Addr)>>,
}

impl NodePortProbe {
    /// The kernel did what the model says one of the endpoints would.
    pub fn agrees(&self) -> bool {
        self.model
            .iter()
            .any(|m| self.real_seen == m.as_ref().map(|m| m.1))
    }
}

/// What a datagram to a Service port or a hostPort got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An answer: the endpoint that gave it, and the source it saw.
    By {
        /// The endpoint's own address.
        by: Ipv4Addr,
        /// The source the endpoint saw.
        seen: Ipv4Addr,
    },
    /// Refused (ICMP port unreachable: kube-proxy's REJECT for a port
    /// without endpoints).
    Refused,
    /// Nothing came back.
    Silent,
}

/// One member to one Service port (or hostPort), real and modelled.
#[derive(Debug, Clone)]
pub struct ServiceProbe {
    /// The sender.
    pub from: String,
    /// What was asked: `namespace/name[:port]`, or `hostPort N of POD`.
    pub target: String,
    /// Where the datagram went.
    pub addr: SocketAddrV4,
    /// What the kernel did.
    pub real: Answer,
    /// What the model says, for every endpoint kube-proxy could pick (in
    /// its order), with the model's reason when nothing comes back.
    pub model: Vec<(Answer, Option<String>)>,
}

impl ServiceProbe {
    /// The kernel did what the model says one of the picks would.
    pub fn agrees(&self) -> bool {
        self.model.iter().any(|(a, _)| *a == self.real)
    }
}

/// A node's Services and hostPorts rules, the kernel's beside the model's.
#[derive(Debug, Clone)]
pub struct RulesDiff {
    /// The node.
    pub node: String,
    /// How many lines the kernel has (KUBE-*, CNI-HOSTPORT-*, CNI-DN-*).
    pub lines: usize,
    /// Every difference, in words (none: equal line for line).
    pub diffs: Vec<String>,
}

/// A Service port or hostPort `lab check` sends to from every member: the
/// lab's responders listen on [`probe::PORT`](crate::probe::PORT), so the
/// UDP ports whose endpoints are there (or that have none).
#[derive(Debug, Clone)]
pub(crate) struct ServiceTarget {
    pub(crate) label: String,
    pub(crate) addr: SocketAddrV4,
    /// How many endpoints the balancing chooses from (1 for a hostPort).
    pub(crate) picks: usize,
}

pub(crate) fn service_targets(c: &Cluster) -> Vec<ServiceTarget> {
    let mut out = Vec::new();
    for s in c.services() {
        for p in s.ports.iter().filter(|p| p.protocol == Protocol::Udp) {
            let eps = c.port_endpoints(s, p);
            if eps.iter().any(|e| e.addr.port() != crate::probe::PORT) {
                continue;
            }
            let label = match p.name.as_str() {
                "" => format!("{}/{}", s.namespace, s.name),
                n => format!("{}/{}:{n}", s.namespace, s.name),
            };
            out.push(ServiceTarget {
                label,
                addr: SocketAddrV4::new(s.cluster_ip, p.port),
                picks: eps.len().max(1),
            });
        }
    }
    for pod in c.pods() {
        let Some(node) = c.node(pod.node) else {
            continue;
        };
        for cp in &pod.ports {
            let Some(host) = cp.host_port else { continue };
            if cp.protocol == Protocol::Udp && cp.port == crate::probe::PORT {
                out.push(ServiceTarget {
                    label: format!("hostPort {host} of {}", pod.full_name()),
                    addr: SocketAddrV4::new(node.underlay_ip, host),
                    picks: 1,
                });
            }
        }
    }
    out
}

/// The whole check.
#[derive(Debug, Clone)]
pub struct Report {
    /// Endpoint names (nodes, then pods).
    pub endpoints: Vec<String>,
    /// Every ordered pair.
    pub pairs: Vec<Pair>,
    /// Route table lines that differ between kernel and plan, per node.
    pub route_diffs: Vec<String>,
    /// The lab's NodePort, from the client through every node.
    pub node_ports: Vec<NodePortProbe>,
    /// How many route choices (`ip route get`) were compared with the model.
    pub route_choices: usize,
    /// Route choices where the kernel and the plan's longest-prefix match differ.
    pub route_choice_diffs: Vec<String>,
    /// Every pod to the machine outside the cluster: egress masquerade.
    pub egress: Vec<EgressProbe>,
    /// Peers a node's backend cannot route to, with the plan's reason.
    pub skipped: Vec<String>,
    /// VXLAN pings captured on each sender's uplink against the model.
    pub underlay: Vec<underlay::UnderlayProbe>,
    /// Every member to every Service port and hostPort.
    pub services: Vec<ServiceProbe>,
    /// Every node's Services rules against the model's.
    pub rules: Vec<RulesDiff>,
    /// How many NetworkPolicies the cluster has: their denials are not
    /// requirement failures, only the model's disagreement is.
    pub policies: usize,
    /// The NetworkPolicy truth table on the layout Pods (`--netpol`).
    pub policy: Option<policy::PolicyTable>,
}

/// A pod reaching the machine outside the cluster, real and modelled: it
/// should arrive with its node's address (egress masquerade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressProbe {
    /// The pod.
    pub from: String,
    /// The source the outside machine saw (None: no answer).
    pub real_seen: Option<Ipv4Addr>,
    /// The source the model delivers it with (None: dropped).
    pub model_seen: Option<Ipv4Addr>,
}

impl EgressProbe {
    /// The kernel and the model agree.
    pub fn agrees(&self) -> bool {
        self.real_seen == self.model_seen
    }
}

/// A member of the lab as the check sees it: where it is, and who it is in the model.
pub(crate) struct Ep {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) model: Endpoint,
}

/// Source chosen by the sender / source seen by the receiver.
pub(crate) type Addrs = (Option<Ipv4Addr>, Option<Ipv4Addr>);

pub(crate) fn not_in_model(name: &str) -> LabError {
    LabError::Check(format!("{name} is not in the lab's cluster file"))
}

/// Runs the check on a lab: measure, model, compare.
pub fn run(state: &LabState) -> Result<Report, LabError> {
    // The lab writes its pods, services and client into the cluster file.
    let cluster = state.spec.build()?;
    let eps = measure::endpoints(state, &cluster)?;
    let measured = measure::measure(state, &cluster, &eps)?;
    let net = Network::new(&cluster)?;
    let pairs = compare::pairs(&net, &eps, &measured.pairs)?;
    let route_diffs = compare::route_tables(state, &cluster)?;
    let (route_choices, route_choice_diffs) = compare::route_choices(state, &cluster, &eps)?;
    let node_ports = compare::node_ports(state, &net, &measured.node_ports)?;
    let egress = compare::egress(&net, &eps, &measured.egress)?;
    let services = compare::services(&net, &eps, &measured.targets, &measured.services)?;
    // Who writes the Services' rules: kube-proxy on a Kubernetes lab, the
    // agents from the cluster file on a plain one; nobody with `--api`.
    let rules = if state.control_plane.is_some() && !state.kubernetes {
        Vec::new()
    } else {
        compare::rules(&cluster, &measured.rules)?
    };
    let policy = policy::run(state)?;
    let underlay = if cluster.backend().has_vtep() {
        underlay::run(state, &cluster)?
    } else {
        Vec::new()
    };
    let mut skipped = Vec::new();
    for n in cluster.nodes() {
        for s in cluster.plan(n.id)?.skipped {
            skipped.push(format!(
                "{} -> {}: no {}: {}",
                n.name, s.node, s.route, s.reason
            ));
        }
    }
    Ok(Report {
        endpoints: eps.iter().map(|e| e.name.clone()).collect(),
        pairs,
        route_diffs,
        node_ports,
        route_choices,
        route_choice_diffs,
        egress,
        skipped,
        underlay,
        services,
        rules,
        policies: cluster.policies().len(),
        policy,
    })
}
