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

/// Reads the cluster file and computes this node's plan and the rules
/// kube-proxy would write on it; also returns the file's version.
pub fn plan(cfg: &AgentConfig) -> Result<(Plan, KubeProxy, String), AgentError> {
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
    Ok((plan, services::render(&cluster, node), version_of(&text)))
}

/// One reconcile pass from the cluster file.
pub fn reconcile(cfg: &AgentConfig, memory: &mut AgentState) -> Result<Report, AgentError> {
    let (plan, services, version) = plan(cfg)?;
    apply(cfg, &plan, Some(&services), &version, memory)
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
