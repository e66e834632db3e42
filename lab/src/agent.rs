//! Each node's `podnet-agent` in the netns lab: started in the node's
//! namespace with the lab's cluster file (or, with `lab up --api`, the
//! lab's kubeconfig), restarted on demand, and waited for until it has
//! applied the cluster as it is now.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::control_plane::CLUSTER_CIDR;
use crate::error::LabError;
use crate::process::{command_in, spawn_logged, stop};
use crate::state::{LabNode, LabState};

/// Starts (or restarts) a node's agent; returns its pid.
pub fn start_agent(state: &LabState, node: &LabNode, bin_dir: &Path) -> Result<u32, LabError> {
    let dir = state.node_dir(&node.name);
    fs::create_dir_all(&dir).map_err(LabError::file("create", &dir))?;
    let program = bin_dir.join("podnet-agent");
    let mut cmd = command_in(&node.netns, &program, true)?;
    match &state.control_plane {
        Some(cp) => cmd
            .arg("--kubeconfig")
            .arg(&cp.kubeconfig)
            .args(["--cluster-cidr", CLUSTER_CIDR]),
        None => cmd.arg("--cluster").arg(state.cluster_file()),
    };
    // The lab's runtime is podnet's own, which speaks 1.1.0 (STATUS, GC).
    cmd.args([
        "--node",
        &node.name,
        "--interval",
        "2",
        "--cni-version",
        "1.1.0",
    ])
    .arg("--cni-conf-dir")
    .arg(state.cni_dir(&node.name))
    .arg("--cni-data-dir")
    .arg(dir.join("ipam"))
    .arg("--status-file")
    .arg(dir.join("applied"));
    spawn_logged(cmd, program, &dir.join("agent.log"))
}

impl LabState {
    /// Stops a node's agent and starts a new one, recording its pid.
    pub fn restart_agent(&mut self, node: &str, bin_dir: &Path) -> Result<u32, LabError> {
        let i = self.node_index(node)?;
        if let Some(pid) = self.nodes[i].agent_pid.take() {
            stop(pid);
        }
        let pid = start_agent(self, &self.nodes[i], bin_dir)?;
        self.nodes[i].agent_pid = Some(pid);
        self.save()?;
        Ok(pid)
    }
}

impl LabState {
    /// Waits until every node's agent has applied the cluster file as it is
    /// now (API mode: has applied a plan and written its CNI config).
    pub fn wait_applied(&self, timeout: Duration) -> Result<(), LabError> {
        let file = self.cluster_file();
        let text = fs::read_to_string(&file).map_err(LabError::file("read", &file))?;
        let want = podnet_agent::version_of(&text);
        let applied = |node: &str| {
            let status = fs::read_to_string(self.node_dir(node).join("applied")).ok();
            match self.control_plane {
                None => status.as_deref() == Some(want.as_str()),
                Some(_) => {
                    status.is_some()
                        && self
                            .cni_dir(node)
                            .join(podnet_agent::CNI_CONF_FILE)
                            .is_file()
                }
            }
        };
        let start = Instant::now();
        for node in &self.nodes {
            while !applied(&node.name) {
                if start.elapsed() > timeout {
                    return Err(LabError::AgentTimeout {
                        node: node.name.clone(),
                        after: timeout,
                        log: self.node_dir(&node.name).join("agent.log"),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}
