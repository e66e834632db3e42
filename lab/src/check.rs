//! `podnet lab check`: the CNI requirements measured on the real lab, and compared with the model.
//!
//! Every node and pod runs a UDP [`responder`](probe::responder) that
//! answers each datagram with the source address it saw. Every node and pod
//! then sends one datagram to every other: a reply means the round trip
//! works, and the reply says whether the source arrived unchanged (no NAT).
//! The sender's own source is what its kernel chose (`connect` +
//! `local_addr`). The same cluster is built in podnet-core, at the lab's
//! real addresses, and every pair's model verdict and addresses are compared
//! with what the kernel did; each node's route table and route choices are
//! compared with its plan. Any difference is reported.
//!
//! [`run`] reads as its steps: `endpoints`, `measure`, then one
//! `compare_*` per thing compared.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use podnet_core::forward::{Cell, Matrix, Network, ProbeKind, Verdict};
use podnet_core::route::RouteTable;
use podnet_core::topology::{Cluster, Endpoint};

use super::{open_ns, probe, LabError, LabState};
use podnet_kernel::Netlink;

/// How long a sender waits for each answer.
const TIMEOUT: Duration = Duration::from_millis(400);

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
    pub underlay: Vec<super::underlay::UnderlayProbe>,
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

struct Ep {
    name: String,
    netns: String,
    ip: Ipv4Addr,
    model: Endpoint,
}

/// Source chosen by the sender / source seen by the receiver.
type Addrs = (Option<Ipv4Addr>, Option<Ipv4Addr>);

/// What the kernels did: every sender to every receiver, and the client to
/// every node's NodePort.
struct Measured {
    pairs: Vec<Vec<Addrs>>,
    node_ports: Vec<Addrs>,
    /// Every pod to the client.
    egress: Vec<Addrs>,
}

fn class(addrs: Addrs) -> Class {
    match addrs {
        (_, None) => Class::Fail,
        (Some(a), Some(b)) if a == b => Class::Ok,
        _ => Class::Nat,
    }
}

fn addrs(a: probe::UdpAnswer) -> Addrs {
    (a.sent.map(|s| *s.ip()), a.seen)
}

fn not_in_model(name: &str) -> LabError {
    LabError::Check(format!("{name} is not in the lab's cluster file"))
}

/// Runs the check on a lab: measure, model, compare.
pub fn run(state: &LabState) -> Result<Report, LabError> {
    // The lab writes its pods, services and client into the cluster file.
    let cluster = state.spec.build()?;
    let eps = endpoints(state, &cluster)?;
    let measured = measure(state, &eps)?;
    let net = Network::new(&cluster)?;
    let pairs = compare_pairs(&net, &eps, &measured.pairs)?;
    let route_diffs = compare_route_tables(state, &cluster)?;
    let (route_choices, route_choice_diffs) = compare_route_choices(state, &cluster, &eps)?;
    let node_ports = compare_node_ports(state, &net, &measured.node_ports)?;
    let egress = compare_egress(&net, &eps, &measured.egress)?;
    let underlay = if cluster.dataplane().has_vtep() {
        super::underlay::run(state, &cluster)?
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
    })
}

/// Every node, then every pod, with its model endpoint.
fn endpoints(state: &LabState, cluster: &Cluster) -> Result<Vec<Ep>, LabError> {
    let nodes = state.nodes.iter().map(|n| {
        let id = cluster
            .node_named(&n.name)
            .ok_or_else(|| not_in_model(&n.name))?
            .id;
        Ok(Ep {
            name: n.name.clone(),
            netns: n.netns.clone(),
            ip: n.ip,
            model: Endpoint::Node(id),
        })
    });
    let pods = state.pods.iter().map(|p| {
        let id = cluster
            .pod_named(&p.name)
            .ok_or_else(|| not_in_model(&p.name))?
            .id;
        Ok(Ep {
            name: p.name.clone(),
            netns: p.netns.clone(),
            ip: p.ip,
            model: Endpoint::Pod(id),
        })
    });
    nodes.chain(pods).collect()
}

/// Responders everywhere (the client too), then every sender in parallel to
/// every receiver, then the client to every node's NodePort, then every pod
/// to the client.
fn measure(state: &LabState, eps: &[Ep]) -> Result<Measured, LabError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    let client = (state.client_netns(), super::CLIENT_IP);
    let listeners = eps.iter().map(|e| (e.netns.clone(), e.ip)).chain([client]);
    let mut count = 0;
    for (netns, ip) in listeners {
        let (ns, tx, stop) = (open_ns(&netns)?, tx.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            probe::responder(ns, ip, tx, stop)
        }));
        count += 1;
    }
    let ready = (0..count).try_for_each(|_| {
        rx.recv()
            .map_err(|e| LabError::Check(e.to_string()))?
            .map_err(|e| LabError::Check(format!("UDP responder: {e}")))
    });
    let measured = ready.and_then(|()| {
        Ok(Measured {
            pairs: measure_pairs(eps)?,
            node_ports: measure_node_ports(state)?,
            egress: measure_egress(eps)?,
        })
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    measured
}

fn measure_pairs(eps: &[Ep]) -> Result<Vec<Vec<Addrs>>, LabError> {
    let targets: Vec<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = eps
            .iter()
            .map(|e| {
                let ns = open_ns(&e.netns);
                let targets = &targets;
                s.spawn(move || -> Result<_, LabError> {
                    Ok(ns?.run(|| {
                        targets
                            .iter()
                            .map(|&t| addrs(probe::udp(t, probe::PORT, TIMEOUT)))
                            .collect()
                    })?)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LabError::Check("probe thread panicked".into())))
            })
            .collect()
    })
}

/// The NodePort, from the machine outside the cluster through every node.
fn measure_node_ports(state: &LabState) -> Result<Vec<Addrs>, LabError> {
    let Some(port) = state.spec.services.first().map(|s| s.node_port) else {
        return Ok(Vec::new());
    };
    Ok(open_ns(&state.client_netns())?.run(|| {
        state
            .nodes
            .iter()
            .map(|n| addrs(probe::udp(n.ip, port, TIMEOUT)))
            .collect()
    })?)
}

/// Every pod to the machine outside the cluster.
fn measure_egress(eps: &[Ep]) -> Result<Vec<Addrs>, LabError> {
    eps.iter()
        .filter(|e| matches!(e.model, Endpoint::Pod(_)))
        .map(|e| {
            let to = || addrs(probe::udp(super::CLIENT_IP, probe::PORT, TIMEOUT));
            Ok(open_ns(&e.netns)?.run(to)?)
        })
        .collect()
}

/// Every pod to the client: the source the client saw beside the model's.
fn compare_egress(net: &Network, eps: &[Ep], real: &[Addrs]) -> Result<Vec<EgressProbe>, LabError> {
    let pods = eps.iter().filter(|e| matches!(e.model, Endpoint::Pod(_)));
    pods.zip(real)
        .map(|(e, real)| {
            let t = net.probe(e.model, super::CLIENT_IP, ProbeKind::Udp(probe::PORT))?;
            Ok(EgressProbe {
                from: e.name.clone(),
                real_seen: real.1,
                model_seen: t.received().map(|f| f.src),
            })
        })
        .collect()
}

/// Every ordered pair, the kernel's result beside the model's.
fn compare_pairs(net: &Network, eps: &[Ep], real: &[Vec<Addrs>]) -> Result<Vec<Pair>, LabError> {
    let matrix = Matrix::compute(net)?;
    let mut pairs = Vec::new();
    for (i, from) in eps.iter().enumerate() {
        for (j, to) in eps.iter().enumerate() {
            if i == j {
                continue;
            }
            let mi = matrix.endpoints.iter().position(|&e| e == from.model);
            let mj = matrix.endpoints.iter().position(|&e| e == to.model);
            let cell = mi.zip(mj).and_then(|(a, b)| matrix.get(a, b)).copied();
            let t = net.probe(from.model, to.ip, ProbeKind::Udp(probe::PORT))?;
            let model = match cell {
                Some(Cell::Ok) => Class::Ok,
                Some(Cell::NatSeen { .. }) => Class::Nat,
                _ => Class::Fail,
            };
            let model_why = match cell {
                Some(Cell::Dropped { at, reason }) => {
                    Some(format!("dropped at {}: {reason}", at.label(net.cluster())))
                }
                Some(Cell::ReplyLost {
                    verdict: Verdict::Dropped { at, reason },
                }) => Some(format!(
                    "the reply is dropped at {}: {reason}",
                    at.label(net.cluster())
                )),
                _ => None,
            };
            let model_addrs = match t.verdict {
                Verdict::Delivered { .. } => (t.sent.map(|f| f.src), t.received().map(|f| f.src)),
                Verdict::Dropped { .. } => (None, None),
            };
            pairs.push(Pair {
                from: from.name.clone(),
                to: to.name.clone(),
                real: class(real[i][j]),
                real_addrs: real[i][j],
                model,
                model_addrs,
                model_why,
            });
        }
    }
    Ok(pairs)
}

/// Route tables: kernel versus plan, per node.
fn compare_route_tables(state: &LabState, cluster: &Cluster) -> Result<Vec<String>, LabError> {
    let mut diffs = Vec::new();
    for n in &state.nodes {
        let id = cluster
            .node_named(&n.name)
            .ok_or_else(|| not_in_model(&n.name))?
            .id;
        let plan = cluster.plan(id)?;
        let want: BTreeSet<String> = plan
            .routes
            .iter()
            .map(|r| format!("{} via {:?}", r.dst, r.via))
            .collect();
        let kernel = Netlink::open(&open_ns(&n.netns)?)?.routes()?;
        // A Kubernetes lab's nodes have the LAN's default route (Service
        // addresses need one before kube-proxy rewrites them); it is not podnet's.
        let have: BTreeSet<String> = kernel
            .iter()
            .filter(|r| !(state.kubernetes && r.dst.prefix() == 0))
            .map(|r| format!("{} via {:?}", r.dst, r.via))
            .collect();
        for r in want.difference(&have) {
            diffs.push(format!("{}: planned but not in the kernel: {r}", n.name));
        }
        for r in have.difference(&want) {
            diffs.push(format!("{}: in the kernel but not planned: {r}", n.name));
        }
    }
    Ok(diffs)
}

/// Route choice: every node asks its kernel (`ip route get`) for every
/// other address in the lab, and core's longest-prefix match answers too.
fn compare_route_choices(
    state: &LabState,
    cluster: &Cluster,
    eps: &[Ep],
) -> Result<(usize, Vec<String>), LabError> {
    let mut targets: Vec<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    targets.extend(cluster.clients().iter().map(|c| c.ip));
    let mut asked_total = 0;
    let mut diffs = Vec::new();
    for n in &state.nodes {
        let node = cluster
            .node_named(&n.name)
            .ok_or_else(|| not_in_model(&n.name))?;
        let table = RouteTable::new(cluster.plan(node.id)?.routes);
        let local = [node.underlay_ip, node.ipam.gateway()];
        let asked: Vec<Ipv4Addr> = targets
            .iter()
            .copied()
            .filter(|t| !local.contains(t))
            .collect();
        let nl = Netlink::open(&open_ns(&n.netns)?)?;
        for t in &asked {
            let k = nl.route_choice(*t)?.map(|c| (c.via, c.dev));
            asked_total += 1;
            let model = table.lookup(*t).map(|r| (r.via, r.dev.to_string()));
            if k != model {
                diffs.push(format!(
                    "{}: route get {t}: kernel {k:?}, model {model:?}",
                    n.name
                ));
            }
        }
    }
    Ok((asked_total, diffs))
}

/// The NodePort through every node: the source the pod saw beside the
/// model's, for each endpoint the service could pick.
fn compare_node_ports(
    state: &LabState,
    net: &Network,
    real: &[Addrs],
) -> Result<Vec<NodePortProbe>, LabError> {
    let (Some(service), Some(client)) = (
        state.spec.services.first(),
        net.cluster().clients().first().map(|c| c.id),
    ) else {
        return Ok(Vec::new());
    };
    // One model per endpoint: the engine's own pick is one of them.
    let clusters = service
        .endpoints
        .iter()
        .map(|e| {
            let mut spec = state.spec.clone();
            spec.services[0].endpoints = vec![e.clone()];
            spec.build()
        })
        .collect::<Result<Vec<Cluster>, _>>()?;
    let nets = clusters
        .iter()
        .map(Network::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (n, real) in state.nodes.iter().zip(real) {
        let model = nets
            .iter()
            .map(|net| {
                let t = net.probe(
                    Endpoint::Client(client),
                    n.ip,
                    ProbeKind::Udp(service.node_port),
                )?;
                Ok(match (t.verdict, t.received()) {
                    (Verdict::Delivered { to }, Some(f)) => {
                        Some((net.cluster().short_name_of(to), f.src))
                    }
                    _ => None,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        out.push(NodePortProbe {
            via: n.name.clone(),
            real_seen: real.1,
            model,
        });
    }
    Ok(out)
}

impl Report {
    fn pair(&self, from: &str, to: &str) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.from == from && p.to == to)
    }

    /// Pairs that fail a CNI requirement (pod↔pod, node↔pod): (from, to).
    pub fn failures(&self) -> Vec<(&str, &str)> {
        let is_node = |n: &str| n.starts_with("node");
        self.pairs
            .iter()
            .filter(|p| !(is_node(&p.from) && is_node(&p.to)) && p.real != Class::Ok)
            .map(|p| (p.from.as_str(), p.to.as_str()))
            .collect()
    }

    /// Everything passed: requirements, NodePorts, and the model matches the kernel.
    pub fn all_ok(&self) -> bool {
        self.failures().is_empty()
            && self.disagreements().is_empty()
            && self.route_diffs.is_empty()
            && self.route_choice_diffs.is_empty()
            && self
                .node_ports
                .iter()
                .all(|n| n.agrees() && n.real_seen.is_some())
            && self.egress.iter().all(EgressProbe::agrees)
            && self.underlay.iter().all(|u| u.agrees())
    }

    /// Pairs where model and kernel disagree.
    pub fn disagreements(&self) -> Vec<&Pair> {
        self.pairs.iter().filter(|p| !p.agrees()).collect()
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = self.render_matrix();
        self.render_requirements(&mut out);
        self.render_agreement(&mut out);
        self.render_node_ports(&mut out);
        self.render_egress(&mut out);
        self.render_routes(&mut out);
        self.render_underlay(&mut out);
        out
    }

    fn render_underlay(&self, out: &mut String) {
        if self.underlay.is_empty() {
            return;
        }
        let ok = self.underlay.iter().filter(|u| u.agrees()).count();
        let _ = writeln!(
            out,
            "underlay (a ping captured on the sender's eth0 inside VXLAN): {ok}/{} packets' outer and inner headers equal the model's",
            self.underlay.len()
        );
        let show = |h: &Option<(podnet_core::forward::Encap, podnet_core::forward::FrameRepr)>| {
            h.map_or("nothing".to_string(), |(e, f)| {
                format!(
                    "[{} > {} ttl {} vni {}] [{} > {} ttl {}]",
                    e.outer.src, e.outer.dst, e.outer.ttl, e.vni, f.src, f.dst, f.ttl
                )
            })
        };
        for u in &self.underlay {
            let mark = if u.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "  {mark} {} -> {}: kernel {}, model {}",
                u.from,
                u.to,
                show(&u.kernel),
                show(&u.model)
            );
        }
    }

    /// ✓, NAT or ✗ per pair, ≠ where the model disagrees.
    fn render_matrix(&self) -> String {
        let w = self.endpoints.iter().map(String::len).max().unwrap_or(4) + 2;
        let mut out = format!("{:w$}", "from\\to");
        for e in &self.endpoints {
            let _ = write!(out, "{e:>w$}");
        }
        out.push('\n');
        for from in &self.endpoints {
            let _ = write!(out, "{from:w$}");
            for to in &self.endpoints {
                let mark = match self.pair(from, to) {
                    None => "-".to_string(),
                    Some(p) => {
                        let m = match p.real {
                            Class::Ok => "✓",
                            Class::Nat => "NAT",
                            Class::Fail => "✗",
                        };
                        if p.agrees() {
                            m.to_string()
                        } else {
                            format!("{m}≠")
                        }
                    }
                };
                let _ = write!(out, "{mark:>w$}");
            }
            out.push('\n');
        }
        out
    }

    fn render_requirements(&self, out: &mut String) {
        let fails = self.failures();
        let total = self
            .pairs
            .iter()
            .filter(|p| !(p.from.starts_with("node") && p.to.starts_with("node")))
            .count();
        let _ = writeln!(out, "\nCNI requirements (pod<->pod, node<->pod, round trip, source unchanged): {}/{} pairs ok", total - fails.len(), total);
        for (f, t) in &fails {
            let p = self.pair(f, t).expect("listed");
            let real = match (p.real, p.real_addrs) {
                (Class::Nat, (Some(a), Some(b))) => format!("source {a} arrived as {b} (NAT)"),
                _ => "no round trip".into(),
            };
            let why = p.model_why.as_deref().unwrap_or("the model delivers it");
            let _ = writeln!(out, "  ✗ {f} -> {t}: {real}; model: {why}");
        }
        for s in &self.skipped {
            let _ = writeln!(out, "  why: {s}");
        }
    }

    fn render_agreement(&self, out: &mut String) {
        let dis = self.disagreements();
        let _ = writeln!(
            out,
            "model vs kernel: {}/{} pairs agree",
            self.pairs.len() - dis.len(),
            self.pairs.len()
        );
        for p in dis {
            let _ = writeln!(
                out,
                "  ≠ {} -> {}: kernel {:?} {:?}, model {:?} {:?}",
                p.from, p.to, p.real, p.real_addrs, p.model, p.model_addrs
            );
        }
    }

    fn render_node_ports(&self, out: &mut String) {
        for np in &self.node_ports {
            let real = np.real_seen.map_or("no answer".to_string(), |s| {
                format!("answered, source seen {s}")
            });
            let model = np
                .model
                .iter()
                .map(|m| {
                    m.as_ref().map_or("dropped".to_string(), |(to, s)| {
                        format!("to {to}, source seen {s}")
                    })
                })
                .collect::<Vec<_>>()
                .join(" | ");
            let mark = if np.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "NodePort from client via {}: kernel {real}; model {model} {mark}",
                np.via
            );
        }
    }

    fn render_egress(&self, out: &mut String) {
        let seen =
            |s: Option<Ipv4Addr>| s.map_or("no answer".to_string(), |s| format!("source seen {s}"));
        for e in &self.egress {
            let mark = if e.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "egress from {} to client: kernel {}; model {} {mark}",
                e.from,
                seen(e.real_seen),
                seen(e.model_seen)
            );
        }
    }

    fn render_routes(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "route choice (ip route get): {}/{} lookups agree with the model",
            self.route_choices - self.route_choice_diffs.len(),
            self.route_choices
        );
        for d in &self.route_choice_diffs {
            let _ = writeln!(out, "  ≠ {d}");
        }
        if self.route_diffs.is_empty() {
            let _ = writeln!(
                out,
                "route tables: every node's kernel table equals its plan"
            );
        }
        for d in &self.route_diffs {
            let _ = writeln!(out, "  ≠ {d}");
        }
    }
}
