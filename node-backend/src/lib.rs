//! podnet's native side.
//!
//! - [`agent`]: `podnet-agent`, keeps a node's bridge, forwarding and routes equal to its plan
//! - [`cli`]: `podnet`, the model in a terminal
//! - [`cni`]: `podnet-cni`, the CNI plugin (bridge + veth + IPAM from core)
//! - [`lab`]: `podnet lab`, a multi-node cluster on one machine from network namespaces
//! - [`live`]: `podnet lab serve`, the live lab for the explainer (API, capture, stream)
//! - [`netlink`]: the one module that talks to the kernel (rtnetlink)
//! - [`store`]: IPAM state on disk, locked

#![warn(missing_docs)]

pub mod agent;
pub mod cli;
pub mod cni;
pub mod lab;
pub mod live;
pub mod netlink;
pub mod store;
