//! One reconcile: the kernel made equal to a node's plan. The cluster file
//! and the Kubernetes API both end here.

use std::fs;

use podnet_core::plan::Plan;
use podnet_core::route::RouteProto;
use podnet_core::services::KubeProxy;
use podnet_kernel::{Netlink, GSO_LEGACY_MAX, GSO_MAX};
use tracing::{info, warn};

use crate::diff::{diff, RouteKey};
use crate::{conflist, nat, vxlan, AgentConfig, AgentError, AgentState};

/// What one pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Routes added, as `ip route` prints them.
    pub added: Vec<String>,
    /// Routes removed.
    pub removed: Vec<String>,
    /// Planned routes left alone because another owner holds the destination.
    pub conflicts: Vec<String>,
    /// Whether the CNI config was (re)written.
    pub cni_conf_written: bool,
    /// Whether the NAT table was (re)applied.
    pub nat_applied: bool,
    /// Whether kube-proxy's rules were (re)applied (cluster-file mode).
    pub services_applied: bool,
    /// Whether the NetworkPolicy table was (re)applied.
    pub policy_applied: bool,
    /// Links of the pod bridge whose GSO size was set to the uplink's.
    pub gso_set: Vec<String>,
    /// The uplink's GSO size, which the bridge and its ports follow.
    pub gso: u32,
}

/// Makes the kernel equal to `plan`, writes the CNI config if it changed,
/// and records `version` as applied.
/// `policy`: this node's NetworkPolicy table (`Some(None)`: no pod of it
/// isolated, no table), or `None` where policies are not managed yet.
pub fn apply(
    cfg: &AgentConfig,
    plan: &Plan,
    services: Option<&KubeProxy>,
    policy: Option<Option<String>>,
    version: &str,
    memory: &mut AgentState,
) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let nl = memory.kernel()?;
    let (gso, vtep) = program_links(nl, plan, &mut report)?;
    program_routes(nl, plan, vtep, &mut report)?;
    let conf = conflist::render(plan, cfg, gso);
    report.cni_conf_written = conflist::write(cfg, &conf)?;
    let nat = nat::render(plan);
    if memory.last_nat.as_ref() != Some(&nat) {
        nat::apply(nat.as_deref()).map_err(AgentError::Io)?;
        memory.last_nat = Some(nat);
        report.nat_applied = true;
    }
    if let Some(now) = services {
        if memory.last_services.as_ref() != Some(now) {
            crate::services::apply(now, memory.last_services.as_ref()).map_err(AgentError::Io)?;
            memory.last_services = Some(now.clone());
            report.services_applied = true;
        }
    }
    if let Some(now) = policy {
        if memory.last_policy.as_ref() != Some(&now) {
            let table = format!("inet {}", podnet_core::policy::nft::TABLE);
            nat::replace_table(&table, now.as_deref()).map_err(AgentError::Io)?;
            memory.last_policy = Some(now);
            report.policy_applied = true;
        }
    }
    if let Some(status) = &cfg.status_file {
        fs::write(status, version)
            .map_err(|e| AgentError::Io(format!("cannot write {}: {e}", status.display())))?;
    }
    Ok(report)
}

/// The bridge (address, MTU, GSO size), the VTEP and forwarding; returns
/// the GSO size the pods get and the VTEP's index.
fn program_links(
    nl: &Netlink,
    plan: &Plan,
    report: &mut Report,
) -> Result<(u32, Option<u32>), AgentError> {
    let mtu = u32::from(plan.mtu);
    let br = nl.ensure_bridge(plan.bridge.name.as_str(), Some(mtu), plan.bridge.mac.0)?;
    nl.ensure_addr(br.index, plan.bridge.address)?;
    // A backend switch changes the pods' MTU: the bridge follows at once,
    // pods created from now on get it through the CNI config.
    if br.mtu != Some(mtu) {
        nl.set_mtu(br.index, mtu)?;
    }
    let vtep = vxlan::reconcile(nl, plan.vtep.as_ref(), plan.uplink.name.as_str())?;
    // Pod traffic leaves through the uplink: with BIG TCP there, the bridge
    // and the pods' veths must take packets as large, or the kernel cuts
    // each one into MTU-sized segments on the way.
    let gso = nl
        .link(plan.uplink.name.as_str())?
        .map_or(GSO_LEGACY_MAX, |l| l.gso_ipv4_max)
        .clamp(GSO_LEGACY_MAX, GSO_MAX);
    // Best effort: a size the kernel refuses costs speed, not reachability,
    // so it must not keep the routes from being programmed.
    report.gso = gso;
    report.gso_set = nl.follow_gso(br.index, gso).unwrap_or_else(|e| {
        warn!(size = gso, error = %e, "cannot give the pod bridge the uplink's GSO size");
        Vec::new()
    });
    nl.set_sysctl(
        "net.ipv4.ip_forward",
        if plan.ip_forward { "1" } else { "0" },
    )?;
    // A Service's reply from a pod on this node crosses only the bridge:
    // conntrack must see it there to undo the Service's DNAT.
    nl.set_sysctl("net.bridge.bridge-nf-call-iptables", "1")
        .map_err(|e| {
            AgentError::Io(format!(
                "cannot pass bridged pod traffic through iptables (is br_netfilter in the kernel? modprobe br_netfilter): {e}"
            ))
        })?;
    Ok((gso, vtep))
}

/// podnet's routes (protocol [`RouteProto::PODNET_NUMBER`]) made equal to
/// the plan's; routes of any other owner are reported, never touched.
fn program_routes(
    nl: &Netlink,
    plan: &Plan,
    vtep: Option<u32>,
    report: &mut Report,
) -> Result<(), AgentError> {
    let owner = RouteProto::PODNET_NUMBER;
    let desired: Vec<_> = plan
        .owned_routes()
        .filter_map(|r| Some((r.dst, r.via?)))
        .collect();
    let current = nl.routes()?;
    let keys: Vec<RouteKey> = current
        .iter()
        .map(|r| RouteKey {
            dst: r.dst,
            via: r.via,
            proto: r.proto,
        })
        .collect();
    let d = diff(&desired, &keys, owner);
    for &i in &d.remove {
        nl.del_route(&current[i])?;
        report
            .removed
            .push(format!("{} via {:?}", current[i].dst, current[i].via));
    }
    for &(dst, via) in &d.add {
        let onlink = plan
            .owned_routes()
            .any(|r| r.onlink && r.dst == dst && r.via == Some(via));
        nl.add_route(dst, via, owner, vtep.filter(|_| onlink))?;
        report.added.push(format!("{dst} via {via} proto podnet"));
    }
    report.conflicts = d
        .conflicts
        .iter()
        .map(|(dst, p)| format!("{dst} (held by protocol {p})"))
        .collect();
    Ok(())
}

/// Logs what a pass changed; `took` is the pass, from the wake-up that
/// started it (the figure to read against the API's watch delay).
pub fn log(report: &Report, took: std::time::Duration) {
    for r in &report.added {
        info!(route = %r, "route added");
    }
    for r in &report.removed {
        info!(route = %r, "route withdrawn");
    }
    for r in &report.conflicts {
        warn!(route = %r, "planned route left alone: another owner holds the destination");
    }
    if report.cni_conf_written {
        info!("CNI config written");
    }
    if report.nat_applied {
        info!("NAT rules applied (table ip podnet)");
    }
    if report.services_applied {
        info!("Service rules applied (iptables, as kube-proxy writes them)");
    }
    if report.policy_applied {
        info!(
            took_ms = took.as_millis() as u64,
            "NetworkPolicy rules applied (table inet {})",
            podnet_core::policy::nft::TABLE
        );
    }
    if !report.gso_set.is_empty() {
        info!(size = report.gso, links = %report.gso_set.join(" "), "GSO size set to the uplink's");
    }
}
