//! `podnet lab down`: removes every process, namespace and file of a lab.
//!
//! It finds what the lab made by name and command line, not only through
//! the state file, so it is safe to run twice, after a crash, or after a
//! `kill -9` of `lab up`.

use std::fs;

use crate::error::LabError;
use crate::kubernetes::node::{release_mount_ns, remove_host_dirs};
use crate::process::{check_root, descendants, from_pid_file, processes_under, stop, stop_all};
use crate::state::LabState;
use podnet_kernel::netns;

/// What `down` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Agents and control-plane processes stopped.
    pub agents: usize,
    /// `podnet lab serve` processes stopped.
    pub servers: usize,
    /// Namespaces deleted.
    pub namespaces: usize,
}

/// Removes every process, namespace and file of a lab; safe to run twice or after a crash.
pub fn down(name: &str) -> Result<DownReport, LabError> {
    check_root("removes network namespaces")?;
    let mut report = DownReport::default();
    // Agents, the control plane, and a Kubernetes lab's kubelets,
    // containerds, shims and kube-proxies: every process that names the
    // lab's directory. The containers are the shims' children: found first,
    // stopped once nothing is left to restart them.
    let lab = processes_under(&LabState::dir(name));
    let containers = descendants(&lab);
    report.agents = lab.len() + containers.len();
    stop_all(&lab);
    stop_all(&containers);
    // A live server keeps the namespaces alive through its capture sockets.
    if let Some(pid) = from_pid_file(&LabState::serve_pid_file(name), "serve") {
        stop(pid);
        report.servers += 1;
    }
    // By prefix, so namespaces a crashed `up` never recorded go too. Pods
    // first: their veths go with them, then nodes, then the LAN.
    let mut all = netns::with_prefix(&format!("{name}-"));
    all.sort_by_key(|n| (!n.contains("-pod"), n.ends_with("-lan")));
    for ns in all {
        if netns::del(&ns)? {
            report.namespaces += 1;
        }
    }
    let dir = LabState::dir(name);
    // Each Kubernetes node's mount namespace, with every mount made in it.
    for node in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let runtime = node.path().join("k8s");
        if runtime.join("ns").is_dir() {
            release_mount_ns(&runtime);
        }
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(LabError::file("remove", &dir))?;
    }
    remove_host_dirs();
    Ok(report)
}
