//! `networking.k8s.io/v1` NetworkPolicy as data, with the API server's
//! defaulting and validation: what a policy says, before anything is
//! decided by it ([`super::verdict`]).
//!
//! The field names are the API's (camelCase), so a policy reads from the
//! same YAML or JSON a user gives kubectl, and what the API server refuses
//! is refused here with the field named.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::topology::Labels;

/// A label selector: `matchLabels` and `matchExpressions`, all of which
/// must hold. The empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be there with exactly these values.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub match_labels: Labels,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The label's key.
    pub key: String,
    /// How the label is compared.
    pub operator: Operator,
    /// The values for `In` and `NotIn` (none for the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A [`Requirement`]'s operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The label is there with one of the values.
    In,
    /// The label is absent, or there with none of the values.
    NotIn,
    /// The label is there.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Whether it selects everything (`{}`).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    fn validate(&self, at: &str) -> Result<()> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let at = format!("{at}.matchExpressions[{i}]");
            if r.key.is_empty() {
                return Err(Error::config(&at, "key must not be empty"));
            }
            match (r.operator, r.values.is_empty()) {
                (Operator::In | Operator::NotIn, true) => {
                    return Err(Error::config(
                        &at,
                        format!("values must be given for operator {:?}", r.operator),
                    ))
                }
                (Operator::Exists | Operator::DoesNotExist, false) => {
                    return Err(Error::config(
                        &at,
                        format!("values must be empty for operator {:?}", r.operator),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A direction a policy may isolate pods in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PolicyType {
    /// Traffic to the selected pods.
    Ingress,
    /// Traffic from the selected pods.
    Egress,
}

/// A protocol a policy port names. SCTP is data only: the model carries
/// it, the dataplanes here have no SCTP traffic to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PolicyProtocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl PolicyProtocol {
    /// The name as the API writes it.
    pub fn key(self) -> &'static str {
        match self {
            PolicyProtocol::Tcp => "TCP",
            PolicyProtocol::Udp => "UDP",
            PolicyProtocol::Sctp => "SCTP",
        }
    }
}

impl From<crate::topology::Protocol> for PolicyProtocol {
    fn from(p: crate::topology::Protocol) -> PolicyProtocol {
        match p {
            crate::topology::Protocol::Tcp => PolicyProtocol::Tcp,
            crate::topology::Protocol::Udp => PolicyProtocol::Udp,
        }
    }
}

/// A port by number or by the name a container gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    /// A number.
    Number(u16),
    /// A container port's name.
    Name(String),
}

/// One port of a rule: a protocol, and a port (or every port of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPort {
    /// The protocol (TCP when not given).
    #[serde(default)]
    pub protocol: PolicyProtocol,
    /// The port; none: every port of the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
}

/// Addresses by CIDR, less some smaller ranges inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpBlock {
    /// The range.
    pub cidr: Ipv4Network,
    /// Ranges inside it that are not meant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<Ipv4Network>,
}

impl IpBlock {
    /// Whether `ip` is in the block and in none of its exceptions.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

/// Who a rule lets talk: pods by labels (in the policy's namespace, or in
/// the namespaces a namespace selector picks: both given means both must
/// hold), or addresses by CIDR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Peer {
    /// Pods by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// An ingress rule: traffic from any of `from` (everyone when empty) to
/// any of `ports` (every port when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// The sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Peer>,
    /// The selected pods' ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PolicyPort>,
}

/// An egress rule: traffic to any of `to` (everyone when empty) on any of
/// `ports` (every port when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// The destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Peer>,
    /// The destinations' ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PolicyPort>,
}

/// A NetworkPolicy's `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// The pods it applies to, in its namespace (`{}`: all of them).
    pub pod_selector: LabelSelector,
    /// The directions it isolates; see [`NetworkPolicy::types`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<PolicyType>,
    /// What may come in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    /// What may go out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
}

/// A NetworkPolicy: its namespace, name and spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Its namespace: it selects pods there, and a bare pod selector in a
    /// rule means pods there.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What it says.
    pub spec: PolicySpec,
}

impl NetworkPolicy {
    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether it selects a pod of `namespace` with `labels` (for the
    /// directions of [`NetworkPolicy::types`]).
    pub fn selects(&self, namespace: &str, labels: &Labels) -> bool {
        self.namespace == namespace && self.spec.pod_selector.matches(labels)
    }

    /// The directions it isolates, as the API server defaults them: the
    /// ones given, else Ingress always and Egress when it has egress rules.
    pub fn types(&self) -> (bool, bool) {
        if self.spec.policy_types.is_empty() {
            (true, !self.spec.egress.is_empty())
        } else {
            (
                self.spec.policy_types.contains(&PolicyType::Ingress),
                self.spec.policy_types.contains(&PolicyType::Egress),
            )
        }
    }

    /// What the API server's validation refuses, with the field named.
    pub fn validate(&self) -> Result<()> {
        let me = self.full_name();
        if self.name.is_empty() || self.namespace.is_empty() {
            return Err(Error::config(&me, "a policy needs a namespace and a name"));
        }
        self.spec
            .pod_selector
            .validate(&format!("{me}: spec.podSelector"))?;
        let mut seen = Vec::new();
        for t in &self.spec.policy_types {
            if seen.contains(t) {
                return Err(Error::config(
                    &format!("{me}: spec.policyTypes"),
                    format!("{t:?} is given twice"),
                ));
            }
            seen.push(*t);
        }
        for (i, r) in self.spec.ingress.iter().enumerate() {
            let at = format!("{me}: spec.ingress[{i}]");
            validate_peers(&r.from, &format!("{at}.from"))?;
            validate_ports(&r.ports, &format!("{at}.ports"))?;
        }
        for (i, r) in self.spec.egress.iter().enumerate() {
            let at = format!("{me}: spec.egress[{i}]");
            validate_peers(&r.to, &format!("{at}.to"))?;
            validate_ports(&r.ports, &format!("{at}.ports"))?;
        }
        Ok(())
    }
}

fn validate_peers(peers: &[Peer], at: &str) -> Result<()> {
    for (i, p) in peers.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let selectors = p.pod_selector.is_some() || p.namespace_selector.is_some();
        match (&p.ip_block, selectors) {
            (None, false) => {
                return Err(Error::config(
                    &at,
                    "a peer needs podSelector, namespaceSelector or ipBlock",
                ))
            }
            (Some(_), true) => {
                return Err(Error::config(
                    &at,
                    "ipBlock cannot be given with podSelector or namespaceSelector",
                ))
            }
            (Some(b), false) => {
                for (j, e) in b.except.iter().enumerate() {
                    // The API wants each exception strictly inside the block.
                    let inside = b.cidr.contains(e.network()) && e.prefix() > b.cidr.prefix();
                    if !inside {
                        return Err(Error::config(
                            &format!("{at}.ipBlock.except[{j}]"),
                            format!("{e} is not inside {}", b.cidr),
                        ));
                    }
                }
            }
            (None, true) => {}
        }
        if let Some(s) = &p.pod_selector {
            s.validate(&format!("{at}.podSelector"))?;
        }
        if let Some(s) = &p.namespace_selector {
            s.validate(&format!("{at}.namespaceSelector"))?;
        }
    }
    Ok(())
}

fn validate_ports(ports: &[PolicyPort], at: &str) -> Result<()> {
    for (i, p) in ports.iter().enumerate() {
        match &p.port {
            Some(PortRef::Number(0)) => {
                return Err(Error::config(&format!("{at}[{i}].port"), "0 is not a port"))
            }
            Some(PortRef::Name(n)) if !valid_port_name(n) => {
                return Err(Error::config(
                    &format!("{at}[{i}].port"),
                    format!("{n:?} is not a port name (1-15 lowercase letters, digits and '-', with a letter)"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An IANA service name, as the API checks a named port.
fn valid_port_name(n: &str) -> bool {
    (1..=15).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && n.bytes().any(|b| b.is_ascii_lowercase())
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}
