//! podnet's native side.
//!
//! - [`cli`]: `podnet`, the model in a terminal
//! - [`cni`]: `podnet-cni`, the CNI plugin (bridge + veth + IPAM from core)
//! - [`netlink`]: the one module that talks to the kernel (rtnetlink)
//! - [`store`]: IPAM state on disk, locked

pub mod cli;
pub mod cni;
pub mod netlink;
pub mod store;
