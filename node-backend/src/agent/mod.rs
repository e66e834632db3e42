//! `podnet-agent`: keeps one node's kernel equal to its [`Plan`].
//!
//! The cluster comes from a cluster file (the netns lab) or from the
//! Kubernetes API ([`kubernetes`]: Node objects, their `spec.podCIDR` and
//! InternalIP). Each pass builds the cluster with core, takes this node's
//! plan and reconciles ([`apply`]): the bridge with its gateway address, IPv4
//! forwarding, the host-gw routes to every other node's range (tagged with
//! routing protocol [`RouteProto::PODNET_NUMBER`]; routes of any other
//! protocol are never changed or removed), and the CNI config file for
//! `podnet-cni`. It runs once (`--once`) or again on a timer and whenever the
//! cluster file changes.

pub mod diff;
pub mod kubernetes;
pub mod nat;
pub mod vxlan;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use podnet_core::plan::Plan;
use podnet_core::route::RouteProto;
use podnet_core::topology::spec::ClusterSpec;
use serde_json::json;
use tracing::{info, warn};

use crate::netlink::{self, NetlinkError};
use diff::{diff, RouteDiff, RouteKey};

/// What the agent needs to know.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The cluster file.
    pub cluster_file: PathBuf,
    /// This node's name in it.
    pub node: String,
    /// Where to write the CNI config (`/etc/cni/net.d`).
    pub cni_conf_dir: PathBuf,
    /// The CNI plugin's IPAM state directory.
    pub cni_data_dir: PathBuf,
    /// Where to record which cluster file version was applied (a hash), if anywhere.
    pub status_file: Option<PathBuf>,
    /// The `cniVersion` of the config it writes: what the node's runtime
    /// speaks (containerd 1.6 stops at 1.0.0; 1.1.0 adds STATUS and GC).
    pub cni_version: String,
    /// Where podnet-cni logs each call (`logFile` in the config), if anywhere.
    pub cni_log_file: Option<PathBuf>,
}

/// The version of a cluster file's text that the agent records once applied.
pub fn version_of(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The cluster file is missing or wrong.
    #[error("cluster file {path}: {msg}")]
    Cluster {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The kernel refused.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Writing the CNI config failed.
    #[error("{0}")]
    Io(String),
}

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
    /// Links of the pod bridge whose GSO size was set to the uplink's.
    pub gso_set: Vec<String>,
    /// The uplink's GSO size, which the bridge and its ports follow.
    pub gso: u32,
}

/// What the agent remembers between passes.
#[derive(Debug, Default)]
pub struct AgentState {
    /// The NAT ruleset applied last, to apply only changes.
    last_nat: Option<Option<String>>,
    /// Why the Kubernetes mode is waiting, as last logged.
    waiting: Option<kubernetes::NotYet>,
}

/// Reads the cluster file and computes this node's plan; also returns the file's version.
pub fn plan(cfg: &AgentConfig) -> Result<(Plan, String), AgentError> {
    let bad = |msg: String| AgentError::Cluster {
        path: cfg.cluster_file.clone(),
        msg,
    };
    let text = fs::read_to_string(&cfg.cluster_file).map_err(|e| bad(e.to_string()))?;
    let cluster = ClusterSpec::from_json(&text)
        .and_then(|s| s.build())
        .map_err(|e| bad(e.to_string()))?;
    let node = cluster
        .node_named(&cfg.node)
        .ok_or_else(|| bad(format!("has no node named {:?}", cfg.node)))?;
    let plan = cluster.plan(node.id).map_err(|e| bad(e.to_string()))?;
    Ok((plan, version_of(&text)))
}

/// The CNI network config for this node's range; pods get the uplink's
/// GSO size `gso` (BIG TCP when above 64 KiB).
pub fn cni_conf(plan: &Plan, cfg: &AgentConfig, gso: u32) -> String {
    let (version, data_dir) = (&cfg.cni_version, &cfg.cni_data_dir);
    let mut conf = json!({
        "cniVersion": version,
        "name": "podnet",
        "plugins": [{
            "type": "podnet-cni",
            "bridge": plan.bridge.name.to_string(),
            "isGateway": true,
            "mtu": plan.mtu,
            "gsoMaxSize": gso,
            "ipam": {
                "type": "host-local",
                "subnet": plan.bridge.address.network().to_string() + "/" + &plan.bridge.address.prefix().to_string(),
                "gateway": plan.bridge.address.ip().to_string(),
                "dataDir": data_dir.display().to_string(),
            }
        }]
    });
    if let Some(file) = &cfg.status_file {
        conf["plugins"][0]["agentStatusFile"] = json!(file.display().to_string());
    }
    if let Some(file) = &cfg.cni_log_file {
        conf["plugins"][0]["logFile"] = json!(file.display().to_string());
    }
    serde_json::to_string_pretty(&conf).unwrap_or_default()
}

/// One reconcile pass from the cluster file.
pub fn reconcile(cfg: &AgentConfig, memory: &mut AgentState) -> Result<Report, AgentError> {
    let (plan, version) = plan(cfg)?;
    apply(cfg, &plan, &version, memory)
}

/// Makes the kernel equal to `plan`, writes the CNI config if it changed,
/// and records `version` as applied. The cluster file and the Kubernetes
/// API both end here.
pub fn apply(
    cfg: &AgentConfig,
    plan: &Plan,
    version: &str,
    memory: &mut AgentState,
) -> Result<Report, AgentError> {
    let mut report = Report::default();
    let owner = RouteProto::PODNET_NUMBER;
    let desired: Vec<_> = plan
        .owned_routes()
        .filter_map(|r| Some((r.dst, r.via?)))
        .collect();
    let onlink: Vec<_> = plan
        .owned_routes()
        .filter(|r| r.onlink)
        .filter_map(|r| r.via.map(|v| (r.dst, v)))
        .collect();
    let vtep = plan.vtep.clone();
    let (bridge, mtu, mac, gw, uplink) = (
        plan.bridge.name.to_string(),
        plan.mtu,
        plan.bridge.mac.0,
        plan.bridge.address,
        plan.uplink.name.to_string(),
    );
    let ip_forward = plan.ip_forward;
    let (d, current, gso, gso_set): (RouteDiff, Vec<netlink::KernelRoute>, u32, Vec<String>) =
        netlink::run_in(None, move |h| async move {
            let br = netlink::ensure_bridge(&h, &bridge, Some(u32::from(mtu)), mac).await?;
            netlink::ensure_addr(&h, br.header.index, gw).await?;
            // A backend switch changes the pods' MTU: the bridge follows at once,
            // pods created from now on get it through the CNI config.
            if netlink::link_mtu(&br) != Some(u32::from(mtu)) {
                netlink::set_mtu(&h, br.header.index, u32::from(mtu)).await?;
            }
            let vtep_index = vxlan::reconcile(&h, vtep.as_ref(), &uplink).await?;
            // Pod traffic leaves through the uplink: with BIG TCP there, the
            // bridge and the pods' veths must take packets as large, or the
            // kernel cuts each one into MTU-sized segments on the way.
            let gso = match netlink::link(&h, &uplink).await? {
                Some(l) => netlink::gso_ipv4_max(&l),
                None => netlink::GSO_LEGACY_MAX,
            }
            .clamp(netlink::GSO_LEGACY_MAX, netlink::GSO_MAX);
            // Best effort: a size the kernel refuses costs speed, not reachability,
            // so it must not keep the routes below from being programmed.
            let gso_set = netlink::follow_gso(&h, br.header.index, gso)
                .await
                .unwrap_or_else(|e| {
                    warn!(size = gso, error = %e, "cannot give the pod bridge the uplink's GSO size");
                    Vec::new()
                });
            netlink::sysctl("net.ipv4.ip_forward", if ip_forward { "1" } else { "0" })?;
            let current = netlink::routes(&h).await?;
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
                netlink::del_route(&h, &current[i]).await?;
            }
            for &(dst, via) in &d.add {
                let dev = vtep_index.filter(|_| onlink.contains(&(dst, via)));
                netlink::add_route(&h, dst, via, owner, dev).await?;
            }
            Ok((d, current, gso, gso_set))
        })?;
    report.gso = gso;
    report.gso_set = gso_set;
    report.removed = d
        .remove
        .iter()
        .map(|&i| format!("{} via {:?}", current[i].dst, current[i].via))
        .collect();
    report.added = d
        .add
        .iter()
        .map(|(dst, via)| format!("{dst} via {via} proto podnet"))
        .collect();
    report.conflicts = d
        .conflicts
        .iter()
        .map(|(dst, p)| format!("{dst} (held by protocol {p})"))
        .collect();
    let conf = cni_conf(plan, cfg, gso);
    report.cni_conf_written = write_cni_conf(cfg, &conf)?;
    let nat = nat::render(plan);
    if memory.last_nat.as_ref() != Some(&nat) {
        nat::apply(nat.as_deref()).map_err(AgentError::Io)?;
        memory.last_nat = Some(nat);
        report.nat_applied = true;
    }
    if let Some(status) = &cfg.status_file {
        fs::write(status, version)
            .map_err(|e| AgentError::Io(format!("cannot write {}: {e}", status.display())))?;
    }
    Ok(report)
}

/// Writes the conflist atomically (a temporary file renamed over it) and
/// only when its content changes, so the kubelet never reads half a file
/// and is not woken for nothing. Returns whether it was written.
fn write_cni_conf(cfg: &AgentConfig, conf: &str) -> Result<bool, AgentError> {
    let path = cfg.cni_conf_dir.join(CNI_CONF_FILE);
    if fs::read_to_string(&path).ok().as_deref() == Some(conf) {
        return Ok(false);
    }
    let io = |e: std::io::Error| AgentError::Io(format!("cannot write {}: {e}", path.display()));
    fs::create_dir_all(&cfg.cni_conf_dir).map_err(io)?;
    let tmp = cfg.cni_conf_dir.join(format!(".{CNI_CONF_FILE}.tmp"));
    fs::write(&tmp, conf).map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    Ok(true)
}

/// The file name of podnet's network config in the CNI config directory.
pub const CNI_CONF_FILE: &str = "10-podnet.conflist";

/// Logs what a pass changed.
pub fn log(report: &Report) {
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
    if !report.gso_set.is_empty() {
        info!(size = report.gso, links = %report.gso_set.join(" "), "GSO size set to the uplink's");
    }
}

/// Reconciles now, then every `interval` and whenever the cluster file changes.
pub fn run(cfg: &AgentConfig, interval: Duration) -> ! {
    let mtime = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = None;
    let mut last = Instant::now() - interval;
    let mut memory = AgentState::default();
    loop {
        let now = mtime(&cfg.cluster_file);
        if now != seen || last.elapsed() >= interval {
            if now != seen && seen.is_some() {
                info!(file = %cfg.cluster_file.display(), "cluster file changed");
            }
            seen = now;
            last = Instant::now();
            match reconcile(cfg, &mut memory) {
                Ok(r) => log(&r),
                Err(e) => warn!(error = %e, "reconcile failed; will retry"),
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
