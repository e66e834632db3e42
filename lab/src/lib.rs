//! `podnet lab`: an N-node cluster on one machine, built from network namespaces.
//!
//! Layout of a lab named `L` (default `pnlab`): namespace `L-lan` holds the
//! LAN bridge `lan0`; each node `nodeK` is namespace `L-nodeK` with `eth0`
//! (192.168.1.(10+K)/24) plugged into `lan0`, its own `podnet-agent`
//! process, and the pod range 10.244.K.0/24; each pod is namespace
//! `L-podK-J`, attached by the real `podnet-cni`. Everything the lab makes
//! is named with the prefix `L-` and recorded in `/run/podnet-lab/L/`, so
//! [`down()`] removes it all even after a crash half-way through [`up`].
//!
//! One file per job:
//! - [`build`]: `lab up`, step by step
//! - [`state`]: the state file ([`LabState`])
//! - [`process`]: commands in a namespace, the agents, stopping processes
//! - [`cni`]: calling `podnet-cni` as a runtime does
//! - [`control_plane`]: etcd, kube-apiserver and kube-controller-manager in
//!   the lab (`lab up --api`), the agents reading Nodes from the API
//! - [`api_proxy`]: the API server on the host's loopback (`lab kubeconfig`)
//! - [`status`](mod@status), [`down`](mod@down), [`check`]: the other subcommands
//! - [`probe`]: traffic between lab members (UDP responder, UDP, ICMP),
//!   for `lab check` and `lab serve` alike
//! - [`services`]: the lab's Services and the Pods behind them
//! - [`netpol`]: the NetworkPolicy layout (x, y, z × a, b, c) as Pods
//! - [`serve`]: `lab serve`, the lab's kernels and packets for the explainer
//! - [`error`]: the one error type, [`LabError`]

pub mod agent;
pub mod api_proxy;
pub mod build;
pub mod check;
pub mod cli;
pub mod cni;
pub mod control_plane;
pub mod down;
pub mod error;
pub mod kubernetes;
pub mod netpol;
pub mod probe;
pub mod process;
pub mod serve;
pub mod services;
pub mod state;
pub mod status;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use agent::start_agent;
pub use build::{up, LabConfig};
pub use down::{down, DownReport};
pub use error::LabError;
pub use process::{command_in, command_in_ns, stop};
pub use state::{LabNode, LabPod, LabState};
pub use status::status;

use podnet_kernel::Netns;

/// Where labs keep their state.
pub const STATE_ROOT: &str = "/run/podnet-lab";

/// The machine outside the cluster on the lab's LAN (the seed's laptop).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);

/// The lab's NodePort service: UDP, so `lab check`'s responders answer it.
pub const NODE_PORT: u16 = 30080;

/// The LAN's GSO size with BIG TCP: the most a veth takes (`tso_max_size`).
pub const LAN_GSO_MAX: u32 = podnet_kernel::GSO_MAX;

/// Opens one of the lab's namespaces.
fn open_ns(name: &str) -> Result<Netns, LabError> {
    Ok(Netns::open(&ns_path(name))?)
}

/// A lab member's network namespace: a name under `/run/netns`, or (a
/// Kubernetes lab's pods, whose namespaces containerd keeps inside the
/// node) a path such as `/proc/PID/ns/net`.
pub fn ns_path(ns: &str) -> PathBuf {
    if ns.starts_with('/') {
        PathBuf::from(ns)
    } else {
        Path::new("/run/netns").join(ns)
    }
}
