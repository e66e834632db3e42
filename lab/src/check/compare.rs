//! Step two of the check: the same cluster in the model, at the lab's real
//! addresses, beside what the kernels did: every pair, every route table,
//! every route choice, the NodePort through every node and egress.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use podnet_core::forward::{Cell, Matrix, Network, ProbeKind, Verdict};
use podnet_core::route::RouteTable;
use podnet_core::topology::{Cluster, Endpoint, Service, ServicePort};
use podnet_kernel::Netlink;

use super::{not_in_model, Addrs, Class, EgressProbe, Ep, NodePortProbe, Pair};
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
