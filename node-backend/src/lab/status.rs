//! `podnet lab status`: the lab as text, with each node's routes read back
//! from its kernel rather than from the plan.

use std::fmt::Write as _;

use podnet_core::route::RouteProto;

use super::error::LabError;
use super::open_ns;
use super::process::alive;
use super::state::LabState;
use crate::netlink;

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
            "control plane in {}: API https://{}:{} ({}), node IPAM ({}), kubeconfig {}",
            cp.netns,
            cp.ip,
            super::control_plane::API_PORT,
            up(cp.apiserver),
            up(cp.controller_manager),
            cp.kubeconfig.display()
        );
    }
    for n in &state.nodes {
        let running = n.agent_pid.is_some_and(alive);
        let _ = writeln!(
            out,
            "\n{}  eth0 {}  pods {}  agent {}",
            n.name,
            n.ip,
            n.range,
            if running { "running" } else { "NOT running" }
        );
        for p in state.pods.iter().filter(|p| p.node == n.name) {
            let _ = writeln!(out, "  {:<10} {}", p.name, p.ip);
        }
        let routes = netlink::run_in(Some(&open_ns(&n.netns)?), |h| async move {
            netlink::routes(&h).await
        })?;
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
        RouteProto::PODNET_NUMBER => "podnet".into(),
        p => p.to_string(),
    }
}
