//! podnet-core: one model of a Kubernetes pod network.
//!
//! The same code animates the network in the browser (web), decides what the
//! node agent and CNI plugin program into real kernels (the native crates), and is
//! checked against what the kernel really does (tests). It is pure Rust with
//! no OS calls, so it builds for the host and for `wasm32-unknown-unknown`.
//!
//! Read it top-down:
//! - [`alloc`]: cluster range → node ranges → pod addresses
//! - [`topology`]: the cluster as data, and the seed's [`scenario`](topology::scenario)s
//! - [`plan`]: the desired kernel state of one node
//! - [`route`]: routes and longest-prefix match
//! - [`services`]: kube-proxy's rules for every node, as `iptables-save` prints them
//! - [`policy`]: NetworkPolicy, and who may talk to whom under it
//! - [`forward`]: a frame through the model, as a [`Trace`](forward::Trace); the CNI requirement [`Matrix`](forward::Matrix)
//! - [`join`]: nodes joining a cluster: NotReady, a range from node IPAM, the CNI config, Ready
//! - [`lab_api`]: the messages `podnet lab serve` and the browser exchange
//! - [`net`], [`error`]: small value types and the one error type
//!
//! ```
//! use podnet_core::{forward::{Network, ProbeKind, Verdict}, topology::{scenario, Endpoint}};
//!
//! let cluster = scenario::demo();
//! let net = Network::new(&cluster).unwrap();
//! let a = cluster.pod_named("pod-a").unwrap();
//! let c = cluster.pod_named("pod-c").unwrap();
//! let trace = net.probe(Endpoint::Pod(a.id), c.ip, ProbeKind::Ping).unwrap();
//! assert_eq!(trace.verdict, Verdict::Delivered { to: Endpoint::Pod(c.id) });
//! assert_eq!(trace.hops.last().unwrap().frame.src, a.ip); // no NAT
//! ```

pub mod alloc;
pub mod error;
pub mod forward;
pub mod join;
pub mod lab_api;
pub mod net;
pub mod plan;
pub mod policy;
pub mod route;
pub mod services;
pub mod topology;

pub use error::{Error, Result};
