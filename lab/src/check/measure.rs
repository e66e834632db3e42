//! Step one of the check: what the kernels do. Responders everywhere, then
//! every member to every other, the client to every node's NodePort, every
//! pod to the client, and every member to every Service port and hostPort;
//! each probe a real datagram. And every node's nat rules, as saved.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use podnet_core::topology::{Cluster, Endpoint};

use super::{not_in_model, Addrs, Answer, Ep};
use crate::process::command_in;
use crate::{open_ns, probe, LabError, LabState, CLIENT_IP};

/// How long a sender waits for each answer.
const TIMEOUT: Duration = Duration::from_millis(400);

/// How many datagrams a pair gets before it counts as failed: one lost on
/// a busy machine is not a broken path.
const TRIES: usize = 3;

/// What the kernels did: every sender to every receiver, and the client to
/// every node's NodePort.
pub(crate) struct Measured {
    pub(crate) pairs: Vec<Vec<Addrs>>,
    pub(crate) node_ports: Vec<Addrs>,
    /// Every pod to the client.
    pub(crate) egress: Vec<Addrs>,
    /// The Service ports and hostPorts probed.
    pub(crate) targets: Vec<super::ServiceTarget>,
    /// Every member to every one of them.
    pub(crate) services: Vec<Vec<Answer>>,
    /// Every node's `iptables-save` of nat and of filter: (node, nat, filter).
    pub(crate) rules: Vec<(String, String, String)>,
}

/// One probe, sent again (from a new source port) while no answer comes,
/// up to [`TRIES`] times. A path that is really broken stays unanswered;
/// a datagram lost to a full queue does not fail the pair.
fn probe_udp(to: Ipv4Addr, port: u16) -> Addrs {
    let last = probe_udp_answer(to, port);
    (last.sent.map(|s| *s.ip()), last.seen)
}

/// [`probe_udp`] keeping the whole answer; a refusal is an answer too.
fn probe_udp_answer(to: Ipv4Addr, port: u16) -> probe::UdpAnswer {
    let mut last = probe::UdpAnswer::default();
    for _ in 0..TRIES {
        last = probe::udp(to, port, TIMEOUT);
        if last.seen.is_some() || last.refused || last.sent.is_none() {
            break;
        }
    }
    last
}

/// Every node, then every pod, with its model endpoint.
pub(crate) fn endpoints(state: &LabState, cluster: &Cluster) -> Result<Vec<Ep>, LabError> {
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
pub(crate) fn measure(
    state: &LabState,
    cluster: &Cluster,
    eps: &[Ep],
) -> Result<Measured, LabError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    let client = (state.client_netns(), CLIENT_IP);
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
    let targets = super::service_targets(cluster);
    let measured = ready.and_then(|()| {
        Ok(Measured {
            pairs: measure_pairs(eps)?,
            node_ports: measure_node_ports(state, cluster)?,
            egress: measure_egress(eps)?,
            services: measure_services(eps, &targets)?,
            targets,
            rules: saved_rules(state)?,
        })
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    measured
}

/// Every member to every Service port and hostPort, the members in parallel.
fn measure_services(
    eps: &[Ep],
    targets: &[super::ServiceTarget],
) -> Result<Vec<Vec<Answer>>, LabError> {
    let answer = |a: probe::UdpAnswer| match (a.by, a.seen) {
        (Some(by), Some(seen)) => Answer::By { by, seen },
        _ if a.refused => Answer::Refused,
        _ => Answer::Silent,
    };
    in_every_member(eps, || {
        targets
            .iter()
            .map(|t| answer(probe_udp_answer(*t.addr.ip(), t.addr.port())))
            .collect()
    })
}

/// Runs `probe` inside every member's network namespace, the members in
/// parallel (each probe waits for answers), in `eps`' order.
fn in_every_member<T: Send>(eps: &[Ep], probe: impl Fn() -> T + Sync) -> Result<Vec<T>, LabError> {
    std::thread::scope(|s| {
        let probe = &probe;
        let handles: Vec<_> = eps
            .iter()
            .map(|e| {
                let ns = open_ns(&e.netns);
                s.spawn(move || -> Result<T, LabError> { Ok(ns?.run(probe)?) })
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

/// Every node's nat and filter tables as `iptables-save` prints them.
fn saved_rules(state: &LabState) -> Result<Vec<(String, String, String)>, LabError> {
    let save = |netns: &str, node: &str, table: &str| {
        let out = command_in(netns, "iptables-save", false)?
            .args(["-t", table])
            .output()
            .map_err(|e| LabError::Check(format!("iptables-save in {node}: {e}")))?;
        if !out.status.success() {
            return Err(LabError::Check(format!(
                "iptables-save -t {table} in {node}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    state
        .nodes
        .iter()
        .map(|n| {
            Ok((
                n.name.clone(),
                save(&n.netns, &n.name, "nat")?,
                save(&n.netns, &n.name, "filter")?,
            ))
        })
        .collect()
}

fn measure_pairs(eps: &[Ep]) -> Result<Vec<Vec<Addrs>>, LabError> {
    let targets: Vec<Ipv4Addr> = eps.iter().map(|e| e.ip).collect();
    in_every_member(eps, || {
        targets.iter().map(|&t| probe_udp(t, probe::PORT)).collect()
    })
}

/// The NodePort, from the machine outside the cluster through every node.
fn measure_node_ports(state: &LabState, cluster: &Cluster) -> Result<Vec<Addrs>, LabError> {
    let Some((_, _, port)) = super::compare::node_port_service(cluster) else {
        return Ok(Vec::new());
    };
    Ok(open_ns(&state.client_netns())?
        .run(|| state.nodes.iter().map(|n| probe_udp(n.ip, port)).collect())?)
}

/// Every pod to the machine outside the cluster.
fn measure_egress(eps: &[Ep]) -> Result<Vec<Addrs>, LabError> {
    eps.iter()
        .filter(|e| matches!(e.model, Endpoint::Pod(_)))
        .map(|e| {
            let to = || probe_udp(CLIENT_IP, probe::PORT);
            Ok(open_ns(&e.netns)?.run(to)?)
        })
        .collect()
}
