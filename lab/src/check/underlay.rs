//! `lab check`'s underlay step: a real ping between two nodes' pods,
//! captured on the sender's uplink, against the model's hop there. The
//! VXLAN frame's outer headers (node addresses and MACs, TTL, UDP port,
//! VNI) and the pod packet inside must both equal the model's. Only pairs
//! the model sends through a VTEP are probed; a host-gw lab has none.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_core::forward::capture::{Dir, Tap};
use podnet_core::forward::{Encap, FrameRepr, L4Repr, Network, Place, ProbeKind, Step};
use podnet_core::topology::{Cluster, Endpoint};

use crate::serve::capture::{self, Counters, Frame};
use crate::{open_ns, probe, LabError, LabPod, LabState};
use podnet_kernel::Netlink;

/// One probed pair: what was captured on the sender's uplink beside the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnderlayProbe {
    /// Sending pod.
    pub from: String,
    /// Receiving pod.
    pub to: String,
    /// The model's headers on the sender's uplink: (outer, inner).
    pub model: Option<(Encap, FrameRepr)>,
    /// The captured headers there, if a VXLAN frame of the ping was seen.
    pub kernel: Option<(Encap, FrameRepr)>,
}

impl UnderlayProbe {
    /// Outer addresses, MACs, TTL, UDP destination port and VNI, and the
    /// inner addresses and TTL, are the same (the outer UDP source port is
    /// the kernel's flow hash and the IP identification its own; neither
    /// is compared).
    pub fn agrees(&self) -> bool {
        let key = |(e, f): &(Encap, FrameRepr)| {
            let o = e.outer;
            let port = o.l4.ports().map(|p| p.1);
            (
                o.src, o.dst, o.src_mac, o.dst_mac, o.ttl, port, e.vni, f.src, f.dst, f.ttl,
            )
        };
        match (&self.model, &self.kernel) {
            (Some(m), Some(k)) => key(m) == key(k),
            _ => false,
        }
    }
}

/// How long the capture waits for the ping's frame.
const WAIT: Duration = Duration::from_millis(600);

/// The first pod of every node, to the first pod of every other node the
/// model reaches through a VTEP.
pub fn run(state: &LabState, cluster: &Cluster) -> Result<Vec<UnderlayProbe>, LabError> {
    let net = Network::new(cluster)?;
    let firsts: Vec<&LabPod> = state
        .nodes
        .iter()
        .filter_map(|n| state.pods.iter().find(|p| p.node == n.name))
        .collect();
    let mut out = Vec::new();
    let mut id = 0x7e00u16;
    for a in &firsts {
        for b in &firsts {
            if a.node == b.node {
                continue;
            }
            id = id.wrapping_add(1);
            let Some(model) = model_on_uplink(&net, cluster, a, b, id)? else {
                continue;
            };
            let kernel = capture_ping(state, a, b, id)?;
            out.push(UnderlayProbe {
                from: a.name.clone(),
                to: b.name.clone(),
                model: Some(model),
                kernel,
            });
        }
    }
    Ok(out)
}

/// The echo request the lab sends, as the model carries it.
fn echo(dst: std::net::Ipv4Addr, id: u16) -> FrameRepr {
    let mut f = ProbeKind::Ping.frame(std::net::Ipv4Addr::UNSPECIFIED, dst);
    f.l4 = L4Repr::IcmpEcho {
        request: true,
        id,
        seq: 1,
    };
    f
}

/// The model's headers where the ping leaves the sender's node, if inside VXLAN.
fn model_on_uplink(
    net: &Network,
    cluster: &Cluster,
    a: &LabPod,
    b: &LabPod,
    id: u16,
) -> Result<Option<(Encap, FrameRepr)>, LabError> {
    let (Some(pa), Some(node)) = (cluster.pod_named(&a.name), cluster.node_named(&a.node)) else {
        return Ok(None);
    };
    let t = net.trace_repr(
        Endpoint::Pod(pa.id),
        echo(b.ip, id),
        probe::PAYLOAD.to_vec(),
    )?;
    Ok(t.hops
        .iter()
        .find_map(|h| match (h.place, h.step, h.outer) {
            (Place::Uplink(n), Step::Transmit { .. }, Some(e)) if n == node.id => {
                Some((e, h.frame))
            }
            _ => None,
        }))
}

/// Pings `b` from `a` while capturing on `a`'s node's eth0; the VXLAN frame
/// of that echo request, if one was seen.
fn capture_ping(
    state: &LabState,
    a: &LabPod,
    b: &LabPod,
    id: u16,
) -> Result<Option<(Encap, FrameRepr)>, LabError> {
    let node = state
        .nodes
        .iter()
        .find(|n| n.name == a.node)
        .ok_or_else(|| LabError::Check(format!("no node {}", a.node)))?;
    let ns = open_ns(&node.netns)?;
    let eth0 = Netlink::open(&ns)?
        .link("eth0")?
        .ok_or_else(|| LabError::Check(format!("{} has no eth0", node.name)))?;
    // The tap's id is not used here; any uplink tap does.
    let taps = HashMap::from([(
        eth0.index as usize,
        Tap::Uplink(podnet_core::topology::NodeId(0)),
    )]);
    let (tx, rx) = mpsc::sync_channel::<Frame>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = capture::start(ns, taps, tx, Arc::new(Counters::default()), stop.clone())
        .map_err(|e| LabError::Check(format!("capture on {} eth0: {e}", node.name)))?;
    let sent = open_ns(&a.netns)?.run(|| probe::ping(b.ip, id, 1))?;
    let start = Instant::now();
    let mut found = None;
    while found.is_none() && start.elapsed() < WAIT {
        let Ok(f) = rx.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let ours = matches!(f.frame.l4, L4Repr::IcmpEcho { request: true, id: i, .. } if i == id);
        if let (true, Dir::Out, Some(e)) = (ours, f.dir, f.outer) {
            found = Some((e, f.frame));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = handle.join();
    sent.map_err(|e| LabError::Check(format!("ping {} from {}: {e}", b.name, a.name)))?;
    Ok(found)
}
