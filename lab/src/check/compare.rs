//! Step two of the check: the same cluster in the model, at the lab's real
//! addresses, beside what the kernels did: every pair, every route table,
//! every route choice, the NodePort through every node and egress.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use podnet_core::forward::{Cell, Matrix, Network, ProbeKind, Verdict};
use podnet_core::route::RouteTable;
use podnet_core::topology::{Cluster, Endpoint, Service, ServicePort};
use podnet_kernel::Netlink;

use podnet_core::forward::DropReason;
use podnet_core::services::{hostport, saved};

use super::{
    not_in_model, Addrs, Answer, Class, EgressProbe, Ep, NodePortProbe, Pair, RulesDiff,
    ServiceProbe, ServiceTarget,
};
use crate::{open_ns, probe, LabError, LabState, CLIENT_IP};

fn class(addrs: Addrs) -> Class {
    match addrs {
        (_, None) => Class::Fail,
        (Some(a), Some(b)) if a == b => Class::Ok,
        _ => Class::Nat,
    }
}

/// Every pod to the client: the source the client saw beside the model's.
pub(crate) fn egress(
    net: &Network,
    eps: &[Ep],
    real: &[Addrs],
) -> Result<Vec<EgressProbe>, LabError> {
    let pods = eps.iter().filter(|e| matches!(e.model, Endpoint::Pod(_)));
    pods.zip(real)
        .map(|(e, real)| {
            let t = net.probe(e.model, CLIENT_IP, ProbeKind::Udp(probe::PORT))?;
            Ok(EgressProbe {
                from: e.name.clone(),
                real_seen: real.1,
                model_seen: t.received().map(|f| f.src),
            })
        })
        .collect()
}

/// Every ordered pair, the kernel's result beside the model's.
pub(crate) fn pairs(net: &Network, eps: &[Ep], real: &[Vec<Addrs>]) -> Result<Vec<Pair>, LabError> {
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
pub(crate) fn route_tables(state: &LabState, cluster: &Cluster) -> Result<Vec<String>, LabError> {
    let mut diffs = Vec::new();
    for n in &state.nodes {
        let id = cluster
            .node_named(&n.name)
            .ok_or_else(|| not_in_model(&n.name))?
            .id;
        let want: BTreeSet<String> = cluster
            .node_routes(id)?
            .iter()
            .map(|r| format!("{} via {:?}", r.dst, r.via))
            .collect();
        let kernel = Netlink::open(&open_ns(&n.netns)?)?.routes()?;
        let have: BTreeSet<String> = kernel
            .iter()
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
pub(crate) fn route_choices(
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
        let table = RouteTable::new(cluster.node_routes(node.id)?);
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
/// model's, for each endpoint kube-proxy could pick.
pub(crate) fn node_ports(
    state: &LabState,
    net: &Network,
    real: &[Addrs],
) -> Result<Vec<NodePortProbe>, LabError> {
    let c = net.cluster();
    let (Some((service, port, node_port)), Some(client)) =
        (node_port_service(c), c.clients().first().map(|c| c.id))
    else {
        return Ok(Vec::new());
    };
    let choices = c.port_endpoints(service, port).len().max(1);
    let mut out = Vec::new();
    for (n, real) in state.nodes.iter().zip(real) {
        let model = (0..choices)
            .map(|k| {
                let t = net.probe_picking(
                    Endpoint::Client(client),
                    n.ip,
                    ProbeKind::Udp(node_port),
                    k,
                )?;
                Ok(match (t.verdict, t.received()) {
                    (Verdict::Delivered { to }, Some(f)) => Some((c.short_name_of(to), f.src)),
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

/// The lab's NodePort: the first Service with a node port, and that port.
pub(crate) fn node_port_service(c: &Cluster) -> Option<(&Service, &ServicePort, u16)> {
    c.services()
        .iter()
        .find_map(|s| s.node_port().map(|(p, np)| (s, p, np)))
}

/// Every member to every Service port and hostPort: the kernel's answer
/// beside the model's for each endpoint the balancing could pick. The
/// model's answer needs the reply too: back to the sender, from the
/// address it sent to (its socket takes nothing else).
pub(crate) fn services(
    net: &Network,
    eps: &[Ep],
    targets: &[ServiceTarget],
    real: &[Vec<Answer>],
) -> Result<Vec<ServiceProbe>, LabError> {
    let c = net.cluster();
    let mut out = Vec::new();
    for (e, real) in eps.iter().zip(real) {
        for (t, &real) in targets.iter().zip(real) {
            let model = (0..t.picks)
                .map(|k| {
                    let kind = ProbeKind::Udp(t.addr.port());
                    let req = net.probe_picking(e.model, *t.addr.ip(), kind, k)?;
                    if let Verdict::Dropped { at, reason } = req.verdict {
                        return Ok(match reason {
                            DropReason::NoEndpoints { .. } => (Answer::Refused, None),
                            _ => (
                                Answer::Silent,
                                Some(format!("dropped at {}: {reason}", at.label(c))),
                            ),
                        });
                    }
                    let got = req.received().copied();
                    let reply = net.reply(&req)?;
                    let back = reply
                        .as_ref()
                        .and_then(|r| match (r.verdict, r.received()) {
                            (Verdict::Delivered { to }, Some(f)) if to == e.model => Some(f.src),
                            _ => None,
                        });
                    Ok(match (got, back) {
                        (Some(f), Some(src)) if src == *t.addr.ip() => (
                            Answer::By {
                                by: f.dst,
                                seen: f.src,
                            },
                            None,
                        ),
                        (Some(_), Some(src)) => (
                            Answer::Silent,
                            Some(format!(
                                "the reply comes from {src}, not {}: the sender's socket drops it",
                                t.addr.ip()
                            )),
                        ),
                        _ => {
                            let why = reply.map(|r| match r.verdict {
                                Verdict::Dropped { at, reason } => {
                                    format!("the reply is dropped at {}: {reason}", at.label(c))
                                }
                                Verdict::Delivered { to } => {
                                    format!("the reply goes to {}", c.name_of(to))
                                }
                            });
                            (Answer::Silent, why)
                        }
                    })
                })
                .collect::<Result<Vec<_>, LabError>>()?;
            out.push(ServiceProbe {
                from: e.name.clone(),
                target: t.label.clone(),
                addr: t.addr,
                real,
                model,
            });
        }
    }
    Ok(out)
}

/// Every node's saved rules (the Services' and hostPorts' lines of nat and
/// filter) against the model's, line for line.
pub(crate) fn rules(
    cluster: &Cluster,
    saved_by_node: &[(String, String, String)],
) -> Result<Vec<RulesDiff>, LabError> {
    saved_by_node
        .iter()
        .map(|(name, nat, filter)| {
            let node = cluster.node_named(name).ok_or_else(|| not_in_model(name))?;
            let kube = podnet_core::services::render(cluster, node);
            let model_nat = saved::expected_lines(&kube, &hostport::render(cluster, node));
            let (real_nat, real_filter) =
                (saved::services_lines(nat), saved::services_lines(filter));
            let mut diffs: Vec<String> = saved::diff(&real_nat, &model_nat)
                .into_iter()
                .map(|d| format!("nat: {d}"))
                .collect();
            diffs.extend(
                saved::diff(&real_filter, &kube.filter.rule_lines())
                    .into_iter()
                    .map(|d| format!("filter: {d}")),
            );
            Ok(RulesDiff {
                node: name.clone(),
                lines: real_nat.len() + real_filter.len(),
                diffs,
            })
        })
        .collect()
}
