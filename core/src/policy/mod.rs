//! NetworkPolicy: who may talk to whom.
//!
//! - [`spec`]: `networking.k8s.io/v1` NetworkPolicy as data, defaulted and
//!   validated as the API server does
//! - [`verdict`]: a connection's verdict under a set of policies, with the
//!   policy and rule that decided it
//! - [`nft`]: one node's share as the nftables ruleset podnet-agent loads
//! - [`manifest`]: policies as kubectl takes them (YAML), errors by line
//! - [`layout`]: upstream's x/y/z × a/b/c layout, presets, the truth table

pub mod layout;
pub mod manifest;
pub mod nft;
pub mod spec;
pub mod verdict;

pub use spec::{
    EgressRule, IngressRule, IpBlock, LabelSelector, NetworkPolicy, Operator, Peer, PolicyPort,
    PolicyProtocol, PolicySpec, PolicyType, PortRef, Requirement,
};
pub use verdict::{
    Decision, Direction, NamedPort, Namespace, Party, PolicyPod, PolicySet, Verdict,
};
