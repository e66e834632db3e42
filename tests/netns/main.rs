//! The tests that build real network namespaces, as root: podnet-cni
//! called as a runtime calls it ([`cni`]), labs of podnet-agent and podnet-cni (host-gw, VXLAN across a router, BIG TCP),
//! and `podnet lab serve` capturing their packets. Each lab tears itself
//! down when its test ends, failed or not. Only addresses inside these
//! namespaces are used.
//!
//! Needs `cargo build --workspace --bins` first (the lab starts the agent
//! and the plugin from beside the `podnet` binary); `scripts/test.sh` does that.

mod cni;
mod image;
mod lab;
mod live;
mod overlay;
mod policy;
