//! The tests against a real Kubernetes 1.20, as root: the agent's API mode
//! against etcd, kube-apiserver and kube-controller-manager in a lab
//! ([`api`]), and a whole cluster of kubelets, containerd and kube-proxy
//! with podnet installed from its manifest ([`cluster`]), and what
//! `tests/conformance.sh` refuses ([`conformance`]), and NetworkPolicy
//! measured cell by cell on the netpol layout ([`policy`]).
//!
//! Needs the binaries of `scripts/kube-build.sh` and
//! `cargo build --workspace --bins`; `scripts/test.sh` does both.

mod api;
mod cluster;
mod conformance;
mod policy;
