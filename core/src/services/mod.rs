//! Services as kube-proxy makes them: the rules it writes on every node,
//! and what they do to a packet.
//!
//! - [`rules`]: iptables rules as values — printed as `iptables-save`
//!   prints them, and walked as the kernel walks them
//! - [`names`]: kube-proxy's chain names (a hash of the service port)
//! - [`kube_proxy`]: the rules of one node, from the cluster's Services
//! - [`balance`]: the chance of each endpoint
//! - [`dns`]: Service names, as cluster DNS answers them
//! - [`saved`]: a node's `iptables-save` beside the model's lines
//! - [`hostport`]: Pods' hostPorts, as the portmap plugin chained after
//!   podnet-cni maps them
//!
//! The Services themselves (ClusterIP, ports, selector, endpoints) are
//! cluster data: [`crate::topology::services`].

pub mod balance;
pub mod dns;
pub mod hostport;
pub mod kube_proxy;
pub mod names;
pub mod rules;
pub mod saved;

pub use balance::choices;
pub use kube_proxy::{render, KubeProxy};
