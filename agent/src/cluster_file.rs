//! The cluster-file mode (the netns lab): the cluster as a JSON file,
//! reconciled again whenever the file changes and on a timer.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use podnet_core::plan::Plan;
use podnet_core::services::{self, KubeProxy};
use podnet_core::topology::spec::ClusterSpec;
use tracing::{info, warn};

use crate::{apply, log, version_of, AgentConfig, AgentError, AgentState, Report};

/// What the cluster file asks of this node: its plan, the rules kube-proxy
/// would write on it, its NetworkPolicy table, and the file's version.
pub struct Wanted {
    /// The kernel state.
    pub plan: Plan,
    /// kube-proxy's rules.
    pub services: KubeProxy,
    /// The NetworkPolicy table (none: no pod of this node isolated).
    pub policy: Option<String>,
    /// The file's version.
    pub version: String,
}

/// Reads the cluster file and computes what it asks of this node. An
/// invalid file (a bad policy included) is an error and changes nothing:
/// the last rules stay.
pub fn plan(cfg: &AgentConfig) -> Result<Wanted, AgentError> {
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
    let policy = cluster.policy_set().map_err(|e| bad(e.to_string()))?;
    Ok(Wanted {
        plan,
        services: services::render(&cluster, node),
        policy: podnet_core::policy::nft::render(&policy, &node.name, Some(node.pod_range)),
        version: version_of(&text),
    })
}

/// One reconcile pass from the cluster file.
pub fn reconcile(cfg: &AgentConfig, memory: &mut AgentState) -> Result<Report, AgentError> {
    let w = plan(cfg)?;
    apply(
        cfg,
        &w.plan,
        Some(&w.services),
        Some(w.policy),
        &w.version,
        memory,
    )
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
                Ok(r) => log(&r, last.elapsed()),
                Err(e) => warn!(error = %e, "reconcile failed; will retry"),
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
