//! The lab's state file: what a lab made, so every later command (and
//! `down` after a crash) can find it. Every record the file holds is
//! defined here, and nothing here depends on how the things it records are
//! started or stopped (that is [`crate::build`], [`crate::agent`],
//! [`crate::control_plane`], [`crate::kubernetes`]).
//!
//! `/run/podnet-lab/<name>/state.json` holds the [`LabState`]; beside it are
//! the cluster file the agents read, and one directory per node with its CNI
//! config, IPAM state, agent log and the agent's "applied" status file.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnetwork::Ipv4Network;
use podnet_core::topology::spec::{ClusterSpec, ContainerPortSpec};
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::{CLIENT_IP, STATE_ROOT};

/// A node of the lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabNode {
    /// Name (`node1`).
    pub name: String,
    /// Its namespace.
    pub netns: String,
    /// eth0's address.
    pub ip: Ipv4Addr,
    /// Pod range.
    pub range: Ipv4Network,
    /// The agent's process id (the lab's own agent; a Kubernetes lab's
    /// runs in podnet's DaemonSet pod instead).
    pub agent_pid: Option<u32>,
    /// containerd, kubelet and kube-proxy (a Kubernetes lab).
    #[serde(default)]
    pub runtime: Option<NodeRuntime>,
}

/// A pod of the lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabPod {
    /// Name (`pod1-1`).
    pub name: String,
    /// Its node.
    pub node: String,
    /// Its namespace.
    pub netns: String,
    /// The address podnet-cni gave it.
    pub ip: Ipv4Addr,
    /// Its labels (a Kubernetes lab's Pods: what Service selectors match).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its containers' ports (named target ports, hostPorts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPortSpec>,
    /// The runtime's sandbox id (a Kubernetes lab's Pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// Everything a lab made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabState {
    /// Lab name (the prefix of everything it creates).
    pub name: String,
    /// The cluster file the agents read.
    pub spec: ClusterSpec,
    /// Nodes.
    pub nodes: Vec<LabNode>,
    /// Pods.
    pub pods: Vec<LabPod>,
    /// The Kubernetes control plane, when the agents read the API (`lab up --api`).
    #[serde(default)]
    pub control_plane: Option<ControlPlane>,
    /// A Kubernetes lab (`lab up --kubernetes`): kubelets and containerd on
    /// every node, podnet installed from `deploy/podnet.yaml`, the workload
    /// as Kubernetes objects. Its pods are read from the API.
    #[serde(default)]
    pub kubernetes: bool,
    /// A Kubernetes lab: how each node joined, as `lab up` saw it.
    #[serde(default)]
    pub joins: Vec<podnet_core::lab_api::NodeJoinView>,
}

/// The running control plane, as recorded in the lab's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPlane {
    /// Its namespace.
    pub netns: String,
    /// The API server's address on the LAN.
    pub ip: Ipv4Addr,
    /// Its directory (data, keys, logs, kubeconfig).
    pub dir: PathBuf,
    /// The kubeconfig every client of the lab uses.
    pub kubeconfig: PathBuf,
    /// The Kubernetes binaries.
    pub bin: PathBuf,
    /// etcd's pid.
    pub etcd: Option<u32>,
    /// kube-apiserver's pid.
    pub apiserver: Option<u32>,
    /// kube-controller-manager's pid.
    pub controller_manager: Option<u32>,
    /// kube-scheduler's pid (a Kubernetes lab's; the API-only lab has no Pods to place).
    #[serde(default)]
    pub scheduler: Option<u32>,
    /// Every controller a cluster with kubelets needs (Deployments,
    /// DaemonSets, Endpoints, service-account tokens, node lifecycle), not
    /// only node IPAM.
    #[serde(default)]
    pub full: bool,
    /// `podnet lab api-proxy`'s pid: the API server on the host's loopback
    /// (see [`crate::api_proxy`]).
    #[serde(default)]
    pub proxy: Option<u32>,
}

/// A node's runtime, as recorded in the lab's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRuntime {
    /// Its directory: containerd's root and state, the kubelet's, the node's own paths.
    pub dir: PathBuf,
    /// containerd's pid.
    pub containerd: Option<u32>,
    /// The kubelet's pid.
    pub kubelet: Option<u32>,
    /// kube-proxy's pid.
    pub kube_proxy: Option<u32>,
}

impl LabState {
    /// The state directory of a lab.
    pub fn dir(name: &str) -> PathBuf {
        Path::new(STATE_ROOT).join(name)
    }

    /// Reads a lab's state.
    pub fn load(name: &str) -> Result<LabState, LabError> {
        let path = LabState::dir(name).join("state.json");
        let Ok(text) = fs::read(&path) else {
            return Err(LabError::NotUp {
                name: name.into(),
                path,
            });
        };
        serde_json::from_slice(&text).map_err(|e| LabError::Corrupt {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes the state and the cluster file.
    pub(crate) fn save(&self) -> Result<(), LabError> {
        let dir = LabState::dir(&self.name);
        fs::create_dir_all(&dir).map_err(LabError::file("create", &dir))?;
        let state = dir.join("state.json");
        let text = serde_json::to_vec_pretty(self).expect("plain data serializes");
        fs::write(&state, text).map_err(LabError::file("write", &state))?;
        let text = serde_json::to_string_pretty(&self.spec).expect("plain data serializes");
        fs::write(self.cluster_file(), &text).map_err(LabError::file("write", self.cluster_file()))
    }

    /// The lab's pods as the cluster file lists them (name, node, address),
    /// each also listening on `probe_port`, where the check's responders are.
    pub(crate) fn pod_specs(&self, probe_port: u16) -> Vec<podnet_core::topology::spec::PodSpec> {
        use podnet_core::topology::spec::{ContainerPortSpec, PodSpec};
        self.pods
            .iter()
            .map(|p| {
                // The model takes a Pod that declares ports to listen there
                // only; in a lab the check's responder listens on its port in
                // every Pod too (the cluster DNS Pod declares only 53).
                let mut ports = p.ports.clone();
                let probe = |c: &ContainerPortSpec| {
                    c.container_port == probe_port && c.protocol.eq_ignore_ascii_case("udp")
                };
                if !ports.is_empty() && !ports.iter().any(probe) {
                    ports.push(ContainerPortSpec {
                        name: String::new(),
                        protocol: "UDP".into(),
                        container_port: probe_port,
                        host_port: None,
                    });
                }
                PodSpec {
                    name: p.name.clone(),
                    node: p.node.clone(),
                    ip: Some(p.ip),
                    labels: p.labels.clone(),
                    ports,
                    sandbox: p.sandbox.clone(),
                }
            })
            .collect()
    }

    /// The namespace of the machine outside the cluster.
    pub fn client_netns(&self) -> String {
        format!("{}-client", self.name)
    }

    /// The cluster file the agents read.
    pub fn cluster_file(&self) -> PathBuf {
        LabState::dir(&self.name).join("cluster.json")
    }

    /// A node's own directory (agent log, IPAM state, status file).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        LabState::dir(&self.name).join(node)
    }

    /// Where `podnet lab serve` records its process id.
    pub fn serve_pid_file(name: &str) -> PathBuf {
        LabState::dir(name).join("serve.pid")
    }

    /// A node's CNI config directory.
    pub fn cni_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("net.d")
    }

    /// The namespace of a node, a pod or the client, by name.
    pub fn netns_of(&self, target: &str) -> Option<String> {
        self.member(target).map(|(netns, _)| netns)
    }

    /// The namespace and address of a node, a pod or the client, by name.
    pub fn member(&self, target: &str) -> Option<(String, Ipv4Addr)> {
        if target == "client" {
            return Some((self.client_netns(), CLIENT_IP));
        }
        let node = self
            .nodes
            .iter()
            .find(|n| n.name == target)
            .map(|n| (n.netns.clone(), n.ip));
        node.or_else(|| {
            self.pods
                .iter()
                .find(|p| p.name == target)
                .map(|p| (p.netns.clone(), p.ip))
        })
    }

    /// Like [`LabState::netns_of`], with an error that lists the lab's nodes and pods.
    pub fn netns_or_error(&self, target: &str) -> Result<String, LabError> {
        self.netns_of(target).ok_or_else(|| LabError::NoMember {
            kind: "node or pod",
            name: target.into(),
            lab: self.name.clone(),
            have: self
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .chain(self.pods.iter().map(|p| p.name.clone()))
                .collect(),
        })
    }

    /// The index of a node, with an error that lists the lab's nodes.
    pub(crate) fn node_index(&self, node: &str) -> Result<usize, LabError> {
        self.nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| LabError::NoMember {
                kind: "node",
                name: node.into(),
                lab: self.name.clone(),
                have: self.nodes.iter().map(|n| n.name.clone()).collect(),
            })
    }
}
