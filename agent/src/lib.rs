//! `podnet-agent`: keeps one node's kernel equal to its [`Plan`](podnet_core::plan::Plan).
//!
//! The cluster comes from a cluster file ([`cluster_file`], the netns lab)
//! or from the Kubernetes API ([`kubernetes`]: Node objects, their
//! `spec.podCIDR` and InternalIP). Each pass builds the cluster with core,
//! takes this node's plan and reconciles ([`apply`]): the bridge with its
//! gateway address, IPv4 forwarding, the routes to every other node's range
//! (tagged with routing protocol
//! [`RouteProto::PODNET_NUMBER`](podnet_core::route::RouteProto::PODNET_NUMBER);
//! routes of any other protocol are never changed or removed), the VXLAN
//! device ([`vxlan`]), the NAT table ([`nat`]), and the CNI config file for
//! `podnet-cni` ([`conflist`]).

pub mod apply;
pub mod cluster_file;
pub mod conflist;
pub mod diff;
pub mod kube_policy;
pub mod kubernetes;
pub mod nat;
pub mod services;
pub mod vxlan;

use std::path::PathBuf;

use podnet_kernel::Netlink;

pub use apply::{apply, log, Report};
pub use conflist::CNI_CONF_FILE;

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
    /// Chain the reference `portmap` plugin after podnet-cni, so a Pod's
    /// `hostPort` works (the runtime passes the `portMappings` capability).
    pub port_mappings: bool,
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
    Netlink(#[from] podnet_kernel::Error),
    /// Writing the CNI config failed.
    #[error("{0}")]
    Io(String),
}

/// What the agent keeps between passes.
#[derive(Debug, Default)]
pub struct AgentState {
    /// The NAT ruleset applied last, to apply only changes.
    last_nat: Option<Option<String>>,
    /// kube-proxy's rules applied last (cluster-file mode).
    last_services: Option<podnet_core::services::KubeProxy>,
    /// The NetworkPolicy ruleset applied last (cluster-file mode).
    last_policy: Option<Option<String>>,
    /// Why the Kubernetes mode is waiting, as last logged.
    waiting: Option<kubernetes::NotYet>,
    /// The netlink socket of this node's namespace, opened at the first pass.
    kernel: Option<Netlink>,
}

impl AgentState {
    /// The node's netlink socket, opened once.
    pub fn kernel(&mut self) -> Result<&Netlink, AgentError> {
        if self.kernel.is_none() {
            self.kernel = Some(Netlink::here()?);
        }
        Ok(self.kernel.as_ref().expect("just opened"))
    }
}
