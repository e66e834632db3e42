//! `podnet lab status`: the lab as text, with each node's routes read back
//! from its kernel rather than from the plan.

use std::fmt::Write as _;

use podnet_core::route::RouteProto;

use crate::error::LabError;
use crate::kubernetes::{self, ApiView};
use crate::open_ns;
use crate::process::alive;
use crate::state::LabState;
use podnet_kernel::Netlink;

/// The lab as text: nodes, ranges, agents, pods, and each node's routes read back from the kernel.
pub fn status(state: &LabState) -> Result<String, LabError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lab {}  LAN {}  cluster {}",
        state.name, state.spec.underlay, state.spec.cluster_cidr
    );
    if let Some(cp) = &state.control_plane {
        let up = |pid: Option<u32>| {
            if pid.is_some_and(alive) {
                "running"
            } else {
                "NOT running"
            }
        };
        let _ = writeln!(
            out,
            "control plane in {}: API https://{}:{} ({}), node IPAM ({}){}, kubeconfig {}",
            cp.netns,
            cp.ip,
            super::control_plane::API_PORT,
            up(cp.apiserver),
            up(cp.controller_manager),
            if cp.full {
                format!(", kube-scheduler ({})", up(cp.scheduler))
            } else {
                String::new()
            },
            cp.kubeconfig.display()
        );
    }
    let api = match &state.control_plane {
        Some(cp) if state.kubernetes => Some(ApiView {
            nodes: kubernetes::nodes(cp)?,
            pods: kubernetes::pods(cp)?,
        }),
        _ => None,
    };
    for n in &state.nodes {
        let running = |pid: Option<u32>| {
            if pid.is_some_and(alive) {
                "running"
            } else {
                "NOT running"
            }
        };
        match (&api, &n.runtime) {
            (Some(api), Some(rt)) => {
                let node = api.nodes.iter().find(|v| v.name == n.name);
                let ready = match node {
                    Some(v) if v.ready => "Ready".to_string(),
                    Some(v) => format!("NotReady ({})", v.reason),
                    None => "not registered".to_string(),
                };
                let cidr = node
                    .and_then(|v| v.pod_cidr.as_deref())
                    .unwrap_or("none yet");
                let _ = writeln!(
                    out,
                    "\n{}  eth0 {}  podCIDR {cidr}  {ready}\n  kubelet {}, containerd {}, kube-proxy {}",
                    n.name,
                    n.ip,
                    running(rt.kubelet),
                    running(rt.containerd),
                    running(rt.kube_proxy)
                );
                let _ = writeln!(out, "  pods (API):");
                for p in api
                    .pods
                    .iter()
                    .filter(|p| p.node.as_deref() == Some(&n.name))
                {
                    let ip = p.ip.map_or("-".to_string(), |ip| ip.to_string());
                    let _ = writeln!(out, "    {:<44} {:<15} {}", p.name, ip, p.phase);
                }
            }
            _ => {
                let _ = writeln!(
                    out,
                    "\n{}  eth0 {}  pods {}  agent {}",
                    n.name,
                    n.ip,
                    n.range,
                    running(n.agent_pid)
                );
                for p in state.pods.iter().filter(|p| p.node == n.name) {
                    let _ = writeln!(out, "  {:<10} {}", p.name, p.ip);
                }
            }
        }
        let nl = Netlink::open(&open_ns(&n.netns)?)?;
        let bridge = match nl.link("cni0")? {
            Some(l) => Some(nl.addresses(l.index)?),
            None => None,
        };
        let routes = nl.routes()?;
        let bridge = bridge.map_or("no cni0 bridge".to_string(), |a| {
            let a: Vec<String> = a.iter().map(|a| a.to_string()).collect();
            format!("bridge cni0 {}", a.join(" "))
        });
        let _ = writeln!(out, "  kernel: {bridge}");
        let _ = writeln!(out, "  routes:");
        for r in routes {
            let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
            let _ = writeln!(out, "    {}{via} proto {}", r.dst, proto_name(r.proto));
        }
    }
    Ok(out)
}

/// A route's protocol as `ip route` names it, with podnet's own number named.
fn proto_name(proto: u8) -> String {
    match proto {
        2 => "kernel".into(),
        4 => "static".into(),
        RouteProto::PODNET_NUMBER => "podnet".into(),
        p => p.to_string(),
    }
}
