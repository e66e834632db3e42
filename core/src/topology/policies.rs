//! A cluster's NetworkPolicies and its namespaces' labels, and the
//! [`PolicySet`] they make with its pods (what the engine applies).

use super::{Cluster, Pod};
use crate::error::Result;
use crate::policy::{Direction, NamedPort, Namespace, NetworkPolicy, PolicyPod, PolicySet};

impl Cluster {
    /// The NetworkPolicies.
    pub fn policies(&self) -> &[NetworkPolicy] {
        &self.policies
    }

    /// The namespaces with labels.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// Replaces the NetworkPolicies; all of them valid or nothing changes.
    pub fn set_policies(&mut self, policies: Vec<NetworkPolicy>) -> Result<()> {
        for p in &policies {
            p.validate()?;
        }
        self.policies = policies;
        Ok(())
    }

    /// Replaces the namespaces' labels.
    pub fn set_namespaces(&mut self, namespaces: Vec<Namespace>) {
        self.namespaces = namespaces;
    }

    /// The pods and policies, indexed for verdicts; its pods are in the
    /// cluster's order (the pod at index `i` is `self.pods()[i]`).
    pub fn policy_set(&self) -> Result<PolicySet> {
        let pods = self.pods.iter().map(|p| self.policy_pod(p)).collect();
        PolicySet::new(&self.namespaces, pods, self.policies.clone())
    }

    fn policy_pod(&self, p: &Pod) -> PolicyPod {
        PolicyPod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            ip: p.ip,
            node: self
                .node(p.node)
                .map_or_else(String::new, |n| n.name.clone()),
            labels: p.labels.clone(),
            ports: p
                .ports
                .iter()
                .filter(|c| !c.name.is_empty())
                .map(|c| NamedPort {
                    name: c.name.clone(),
                    protocol: c.protocol.into(),
                    port: c.port,
                })
                .collect(),
        }
    }

    /// `namespace/name` of every policy isolating `pod` in `direction`.
    pub fn isolating(&self, pod: &Pod, direction: Direction) -> Vec<String> {
        self.policies
            .iter()
            .filter(|pol| {
                let (ingress, egress) = pol.types();
                let applies = match direction {
                    Direction::Ingress => ingress,
                    Direction::Egress => egress,
                };
                applies && pol.selects(&pod.namespace, &pod.labels)
            })
            .map(NetworkPolicy::full_name)
            .collect()
    }
}
