//! podnet's native side.
//!
//! - [`agent`]: `podnet-agent`, keeps a node's bridge, forwarding and routes equal to its plan
//! - [`cli`]: `podnet`, the model in a terminal
//! - [`cni`]: `podnet-cni`, the CNI plugin (bridge + veth + IPAM from core, its state on disk)
//! - [`lab`]: `podnet lab`, a multi-node cluster on one machine from network
//!   namespaces, and `podnet lab serve`, its server for the explainer's live scene
//! - [`netlink`]: the one module that talks to the kernel (rtnetlink)

pub mod agent;
pub mod cli;
pub mod cni;
pub mod lab;
pub mod netlink;
