//! `podnet lab check`: the CNI requirements measured on the real lab, and compared with the model.
//!
//! Every node and pod runs a UDP responder (in its namespace, on a thread of
//! this process) that answers each datagram with the source address it saw.
//! Every node and pod then sends one datagram to every other: a reply means
//! the round trip works, and the reply says whether the source arrived
//! unchanged (no NAT). The sender's own source is what its kernel chose
//! (`connect` + `local_addr`). The same cluster is built in podnet-core, at
//! the lab's real addresses, and every pair's model verdict and addresses are
//! compared with what the kernel did; each node's route table is compared
//! with its plan. Any difference is reported.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use podnet_core::forward::{Cell, Matrix, Network, ProbeKind, Verdict};
use podnet_core::route::RouteTable;
use podnet_core::topology::{Cluster, Endpoint};

use super::{LabError, LabState};
use crate::netlink::{self, Netns};

/// The port every responder listens on (and the lab's NodePort targets).
pub const PORT: u16 = 7946;
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
    /// Who the model delivers it to, and the source seen there.
    pub model: Option<(String, Ipv4Addr)>,
}

impl NodePortProbe {
    /// The kernel and the model agree.
    pub fn agrees(&self) -> bool {
        self.real_seen == self.model.as_ref().map(|m| m.1)
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
}

struct Ep {
    name: String,
    netns: String,
    ip: Ipv4Addr,
    model: Endpoint,
}

fn model_cluster(state: &LabState) -> Result<Cluster, LabError> {
    // The lab writes its pods, services and client into the cluster file.
    state.spec.build().map_err(|e| LabError::Msg(e.to_string()))
}

/// Answers each datagram with the source address it came from, until `stop`.
/// Bound to the endpoint's own address, not 0.0.0.0: a wildcard socket on a
/// node would answer a pod from the bridge address (the route's preferred
/// source), and the pod's connected socket would rightly drop that reply.
fn responder(
    ns: Netns,
    ip: Ipv4Addr,
    ready: mpsc::Sender<Result<(), String>>,
    stop: Arc<AtomicBool>,
) {
    let _ = netlink::on_thread_in(&ns, || {
        let sock = match UdpSocket::bind((ip, PORT)) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
        let _ = ready.send(Ok(()));
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(peer.ip().to_string().as_bytes(), peer);
            }
        }
    });
}

/// One datagram from the current namespace to `to:port`: (source chosen, source seen) if it came back.
fn probe(to: Ipv4Addr, port: u16) -> (Option<Ipv4Addr>, Option<Ipv4Addr>) {
    let Ok(sock) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
        return (None, None);
    };
    if sock.connect(SocketAddrV4::new(to, port)).is_err() {
        return (None, None); // no route
    }
    let sent = match sock.local_addr() {
        Ok(std::net::SocketAddr::V4(a)) => Some(*a.ip()),
        _ => None,
    };
    let _ = sock.set_read_timeout(Some(TIMEOUT));
    if sock.send(b"podnet").is_err() {
        return (sent, None);
    }
    let mut buf = [0u8; 64];
    let seen = sock
        .recv(&mut buf)
        .ok()
        .and_then(|n| std::str::from_utf8(&buf[..n]).ok()?.parse().ok());
    (sent, seen)
}

fn class(addrs: (Option<Ipv4Addr>, Option<Ipv4Addr>)) -> Class {
    match addrs {
        (_, None) => Class::Fail,
        (Some(a), Some(b)) if a == b => Class::Ok,
        _ => Class::Nat,
    }
}

/// Runs the check on a lab.
pub fn run(state: &LabState) -> Result<Report, LabError> {
    let cluster = model_cluster(state)?;
    let mut eps: Vec<Ep> = Vec::new();
    for n in &state.nodes {
        let id = cluster
            .node_named(&n.name)
            .map(|x| x.id)
            .ok_or_else(|| LabError::Msg(n.name.clone()))?;
        eps.push(Ep {
            name: n.name.clone(),
            netns: n.netns.clone(),
            ip: n.ip,
            model: Endpoint::Node(id),
        });
    }
    for p in &state.pods {
        let id = cluster
            .pod_named(&p.name)
            .map(|x| x.id)
            .ok_or_else(|| LabError::Msg(p.name.clone()))?;
        eps.push(Ep {
            name: p.name.clone(),
            netns: p.netns.clone(),
            ip: p.ip,
            model: Endpoint::Pod(id),
        });
    }
    let open = |ns: &str| Netns::open(&Path::new("/run/netns").join(ns)).map_err(LabError::from);
    // Responders everywhere, then every sender in parallel, each to every receiver.
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for e in &eps {
        let (ns, ip, tx, stop) = (open(&e.netns)?, e.ip, tx.clone(), stop.clone());
        threads.push(std::thread::spawn(move || responder(ns, ip, tx, stop)));
    }
    for _ in &eps {
        rx.recv()
            .map_err(|e| LabError::Msg(e.to_string()))?
            .map_err(|e| LabError::Msg(format!("UDP responder: {e}")))?;
    }
    let targets: Vec<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    let real: Vec<Vec<(Option<Ipv4Addr>, Option<Ipv4Addr>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = eps
            .iter()
            .map(|e| {
                let ns = open(&e.netns);
                let targets = &targets;
                s.spawn(move || -> Result<_, LabError> {
                    Ok(netlink::on_thread_in(&ns?, || {
                        targets.iter().map(|&t| probe(t, PORT)).collect()
                    })?)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LabError::Msg("probe thread panicked".into())))
            })
            .collect::<Result<_, _>>()
    })?;
    // The NodePort, from the machine outside the cluster through every node.
    let node_port = state.spec.services.first().map(|s| s.node_port);
    let client_real: Vec<(Option<Ipv4Addr>, Option<Ipv4Addr>)> = match node_port {
        Some(port) => netlink::on_thread_in(&open(&state.client_netns())?, || {
            state.nodes.iter().map(|n| probe(n.ip, port)).collect()
        })?,
        None => Vec::new(),
    };
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    // The model: the same pairs through podnet-core.
    let net = Network::new(&cluster).map_err(|e| LabError::Msg(e.to_string()))?;
    let matrix = Matrix::compute(&net).map_err(|e| LabError::Msg(e.to_string()))?;
    let mut pairs = Vec::new();
    for (i, from) in eps.iter().enumerate() {
        for (j, to) in eps.iter().enumerate() {
            if i == j {
                continue;
            }
            let mi = matrix.endpoints.iter().position(|&e| e == from.model);
            let mj = matrix.endpoints.iter().position(|&e| e == to.model);
            let cell = mi.zip(mj).and_then(|(a, b)| matrix.get(a, b)).copied();
            let t = net
                .probe(from.model, to.ip, ProbeKind::Udp(PORT))
                .map_err(|e| LabError::Msg(e.to_string()))?;
            let model = match cell {
                Some(Cell::Ok) => Class::Ok,
                Some(Cell::NatSeen { .. }) => Class::Nat,
                _ => Class::Fail,
            };
            let model_addrs = match t.verdict {
                Verdict::Delivered { .. } => (t.sent.map(|f| f.src), t.received().map(|f| f.src)),
                Verdict::Dropped { .. } => (None, None),
            };
            let real_addrs = real[i][j];
            pairs.push(Pair {
                from: from.name.clone(),
                to: to.name.clone(),
                real: class(real_addrs),
                real_addrs,
                model,
                model_addrs,
            });
        }
    }
    // Route tables: kernel versus plan, per node.
    let mut route_diffs = Vec::new();
    for n in &state.nodes {
        let id = cluster
            .node_named(&n.name)
            .map(|x| x.id)
            .ok_or_else(|| LabError::Msg(n.name.clone()))?;
        let plan = cluster.plan(id).map_err(|e| LabError::Msg(e.to_string()))?;
        let want: BTreeSet<String> = plan
            .routes
            .iter()
            .map(|r| format!("{} via {:?}", r.dst, r.via))
            .collect();
        let kernel = netlink::run_in(Some(&open(&n.netns)?), |h| async move {
            netlink::routes(&h).await
        })?;
        let have: BTreeSet<String> = kernel
            .iter()
            .map(|r| format!("{} via {:?}", r.dst, r.via))
            .collect();
        for r in want.difference(&have) {
            route_diffs.push(format!("{}: planned but not in the kernel: {r}", n.name));
        }
        for r in have.difference(&want) {
            route_diffs.push(format!("{}: in the kernel but not planned: {r}", n.name));
        }
    }
    // Route choice: every node asks its kernel for every other address in the lab.
    let mut targets: Vec<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    targets.extend(cluster.clients().iter().map(|c| c.ip));
    let mut route_choices = 0;
    let mut route_choice_diffs = Vec::new();
    for n in &state.nodes {
        let node = cluster
            .node_named(&n.name)
            .ok_or_else(|| LabError::Msg(n.name.clone()))?;
        let table = RouteTable::new(
            cluster
                .plan(node.id)
                .map_err(|e| LabError::Msg(e.to_string()))?
                .routes,
        );
        let local = [node.underlay_ip, node.ipam.gateway()];
        let asked: Vec<Ipv4Addr> = targets
            .iter()
            .copied()
            .filter(|t| !local.contains(t))
            .collect();
        let kernel = {
            let asked = asked.clone();
            netlink::run_in(Some(&open(&n.netns)?), move |h| async move {
                let mut out = Vec::new();
                for t in asked {
                    out.push(netlink::route_choice(&h, t).await?);
                }
                Ok(out)
            })?
        };
        for (t, k) in asked.iter().zip(kernel) {
            route_choices += 1;
            let model = table.lookup(*t).map(|r| (r.via, r.dev.to_string()));
            if k != model {
                route_choice_diffs.push(format!(
                    "{}: route get {t}: kernel {k:?}, model {model:?}",
                    n.name
                ));
            }
        }
    }
    let mut node_ports = Vec::new();
    if let (Some(port), Some(client)) = (node_port, cluster.clients().first()) {
        for (n, real) in state.nodes.iter().zip(&client_real) {
            let t = net
                .probe(Endpoint::Client(client.id), n.ip, ProbeKind::Udp(port))
                .map_err(|e| LabError::Msg(e.to_string()))?;
            let model = match (t.verdict, t.received()) {
                (Verdict::Delivered { to }, Some(f)) => Some((
                    cluster
                        .name_of(to)
                        .trim_start_matches("default/")
                        .to_string(),
                    f.src,
                )),
                _ => None,
            };
            node_ports.push(NodePortProbe {
                via: n.name.clone(),
                real_seen: real.1,
                model,
            });
        }
    }
    Ok(Report {
        endpoints: eps.iter().map(|e| e.name.clone()).collect(),
        pairs,
        route_diffs,
        node_ports,
        route_choices,
        route_choice_diffs,
    })
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
    }

    /// Pairs where model and kernel disagree.
    pub fn disagreements(&self) -> Vec<&Pair> {
        self.pairs.iter().filter(|p| !p.agrees()).collect()
    }

    /// The report as text.
    pub fn render(&self) -> String {
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
        let fails = self.failures();
        let total = self
            .pairs
            .iter()
            .filter(|p| !(p.from.starts_with("node") && p.to.starts_with("node")))
            .count();
        let _ = writeln!(out, "\nCNI requirements (pod<->pod, node<->pod, round trip, source unchanged): {}/{} pairs ok", total - fails.len(), total);
        for (f, t) in &fails {
            let p = self.pair(f, t).expect("listed");
            let _ = writeln!(
                out,
                "  ✗ {f} -> {t}: {:?} (sent from {:?}, seen as {:?})",
                p.real, p.real_addrs.0, p.real_addrs.1
            );
        }
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
        for np in &self.node_ports {
            let real = np.real_seen.map_or("no answer".to_string(), |s| {
                format!("answered, source seen {s}")
            });
            let model = np.model.as_ref().map_or("dropped".to_string(), |(to, s)| {
                format!("to {to}, source seen {s}")
            });
            let mark = if np.agrees() { "✓" } else { "≠" };
            let _ = writeln!(
                out,
                "NodePort from client via {}: kernel {real}; model {model} {mark}",
                np.via
            );
        }
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
        out
    }
}
