//! The cluster file: what the node agent and the lab read to know the nodes.
//!
//! It names each node with, optionally, its LAN address and pod range (as a
//! real cluster's Node objects give `InternalIP` and `spec.podCIDR`); what
//! is missing is allocated by core exactly as the model allocates it.
//!
//! ```json
//! { "clusterCidr": "10.244.0.0/16", "nodePrefix": 24, "underlay": "192.168.1.0/24",
//!   "backend": "vxlan", "lans": ["192.168.2.0/24"],
//!   "nodes": [ { "name": "node1", "ip": "192.168.1.11", "podCidr": "10.244.1.0/24" },
//!              { "name": "node2" } ] }
//! ```

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Backend, Cluster, NodeOptions, Protocol, RangeFrom, TrafficPolicy, DEFAULT_UNDERLAY};
use crate::alloc::{DEFAULT_CLUSTER_CIDR, DEFAULT_NODE_PREFIX};
use crate::error::{Error, Result};
use crate::net::parse_cidr;

fn default_cidr() -> String {
    DEFAULT_CLUSTER_CIDR.into()
}
fn default_prefix() -> u8 {
    DEFAULT_NODE_PREFIX
}
fn default_underlay() -> String {
    DEFAULT_UNDERLAY.into()
}
fn default_true() -> bool {
    true
}

/// One node in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Its LAN address; allocated from the underlay if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Its pod range; allocated from the cluster range if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
}

/// A pod already running on a node (the lab and the agent learn them from CNI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// Pod name (namespace "default").
    pub name: String,
    /// Its node.
    pub node: String,
    /// Its address; allocated by the node's IPAM if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
}

/// A NodePort service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// "tcp" or "udp".
    #[serde(default = "default_tcp")]
    pub protocol: String,
    /// Port on every node (30000-32767).
    pub node_port: u16,
    /// Port on the pods.
    pub target_port: u16,
    /// Names of the pods behind it.
    pub endpoints: Vec<String>,
    /// "Cluster" (default: any pod, source masqueraded) or "Local".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<String>,
}

fn default_tcp() -> String {
    "tcp".into()
}

/// A machine on the LAN outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSpec {
    /// Name.
    pub name: String,
    /// Address; allocated if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Cluster range, default 10.244.0.0/16.
    #[serde(default = "default_cidr")]
    pub cluster_cidr: String,
    /// Node prefix, default 24.
    #[serde(default = "default_prefix")]
    pub node_prefix: u8,
    /// The LAN between nodes, default 192.168.1.0/24.
    #[serde(default = "default_underlay")]
    pub underlay: String,
    /// Whether nodes route to each other's ranges; default true.
    #[serde(default = "default_true")]
    pub cluster_network: bool,
    /// How: "host-gw" (default), "vxlan" or "auto".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// More LANs behind a router (which has .1 on each); nodes may be on any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lans: Vec<String>,
    /// Whether pod traffic to anything but the cluster range and the nodes
    /// leaves with its node's address (egress masquerade); default true.
    #[serde(default = "default_true")]
    pub egress_masquerade: bool,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// Pods, for services and for checking a real cluster against the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodSpec>,
    /// NodePort services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// Machines on the LAN outside the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientSpec>,
}

impl ClusterSpec {
    /// Reads a cluster file's text.
    pub fn from_json(text: &str) -> Result<ClusterSpec> {
        serde_json::from_str(text).map_err(|e| Error::config("cluster file", e.to_string()))
    }

    /// Builds the cluster: nodes with a given range first (so an allocated
    /// range never takes one a later node names), then the others.
    pub fn build(&self) -> Result<Cluster> {
        let mut c = Cluster::new(
            parse_cidr(&self.cluster_cidr)?,
            self.node_prefix,
            parse_cidr(&self.underlay)?,
        )?;
        let backend = Backend::of_network(self.backend.as_deref().unwrap_or("host-gw"))?;
        c.set_backend(if self.cluster_network {
            backend
        } else {
            Backend::None
        });
        for lan in &self.lans {
            c.add_lan(parse_cidr(lan)?)?;
        }
        c.egress_masq = self.egress_masquerade;
        let (given, rest): (Vec<_>, Vec<_>) = self.nodes.iter().partition(|n| n.pod_cidr.is_some());
        for n in given.into_iter().chain(rest) {
            let range = match n.pod_cidr.as_deref() {
                Some(r) => RangeFrom::Given(parse_cidr(r)?),
                None => RangeFrom::Allocator,
            };
            let options = NodeOptions {
                ip: n.ip,
                range,
                ..NodeOptions::default()
            };
            c.add_node(&n.name, options)
                .map_err(|e| Error::config(&format!("node {}", n.name), e.to_string()))?;
        }
        for p in &self.pods {
            let at = |e: Error| Error::config(&format!("pod {}", p.name), e.to_string());
            let node = c.node_named(&p.node).map(|n| n.id).ok_or_else(|| {
                at(Error::Unknown {
                    kind: "node",
                    name: p.node.clone(),
                })
            })?;
            c.add_pod_at(node, "default", &p.name, &["app"], p.ip)
                .map_err(at)?;
        }
        for s in &self.services {
            let at = |e: Error| Error::config(&format!("service {}", s.name), e.to_string());
            let protocol: Protocol = s.protocol.parse().map_err(at)?;
            let endpoints = s
                .endpoints
                .iter()
                .map(|name| {
                    c.pod_named(name).map(|p| p.id).ok_or_else(|| {
                        at(Error::Unknown {
                            kind: "pod",
                            name: name.clone(),
                        })
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let id = c
                .add_node_port(&s.name, protocol, s.node_port, s.target_port, &endpoints)
                .map_err(at)?;
            let policy = match s.traffic_policy.as_deref() {
                None | Some("Cluster") => TrafficPolicy::Cluster,
                Some("Local") => TrafficPolicy::Local,
                Some(other) => {
                    return Err(at(Error::config(
                        "trafficPolicy",
                        format!("{other:?} is not Cluster or Local"),
                    )))
                }
            };
            c.set_traffic_policy(id, policy)?;
        }
        for cl in &self.clients {
            c.add_client(&cl.name, cl.ip)
                .map_err(|e| Error::config(&format!("client {}", cl.name), e.to_string()))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_given_and_allocated_nodes_without_collisions() {
        let spec = ClusterSpec::from_json(
            r#"{"nodes":[{"name":"a"},{"name":"b","ip":"192.168.1.50","podCidr":"10.244.0.0/24"}]}"#,
        )
        .unwrap();
        let c = spec.build().unwrap();
        let a = c.node_named("a").unwrap();
        let b = c.node_named("b").unwrap();
        assert_eq!(b.pod_range.to_string(), "10.244.0.0/24");
        assert_eq!(
            a.pod_range.to_string(),
            "10.244.1.0/24",
            "allocated around the given one"
        );
        assert_eq!(b.underlay_ip, Ipv4Addr::new(192, 168, 1, 50));
    }

    #[test]
    fn pods_services_and_clients_are_built_as_in_the_demo() {
        let spec = ClusterSpec::from_json(
            r#"{"nodes":[{"name":"node1","podCidr":"10.244.1.0/24"},{"name":"node2","podCidr":"10.244.2.0/24"}],
                "pods":[{"name":"pod-d","node":"node2","ip":"10.244.2.3"}],
                "services":[{"name":"web","protocol":"udp","nodePort":30080,"targetPort":8080,"endpoints":["pod-d"]}],
                "clients":[{"name":"laptop","ip":"192.168.1.100"}]}"#,
        )
        .unwrap();
        let c = spec.build().unwrap();
        assert_eq!(
            c.pod_named("pod-d").unwrap().ip,
            Ipv4Addr::new(10, 244, 2, 3)
        );
        assert_eq!(
            c.services()[0].endpoints,
            [c.pod_named("pod-d").unwrap().id]
        );
        assert_eq!(c.clients()[0].ip, Ipv4Addr::new(192, 168, 1, 100));
        let bad = spec.services[0].clone();
        let mut s2 = spec.clone();
        s2.services[0] = ServiceSpec {
            endpoints: vec!["nobody".into()],
            ..bad
        };
        assert!(s2.build().unwrap_err().to_string().contains("service web"));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert!(ClusterSpec::from_json("{").is_err());
        assert!(ClusterSpec::from_json(r#"{"nodes":[],"bogus":1}"#).is_err());
        let dup = ClusterSpec::from_json(r#"{"nodes":[{"name":"a","podCidr":"10.244.1.0/24"},{"name":"b","podCidr":"10.244.1.0/24"}]}"#).unwrap();
        let e = dup.build().unwrap_err().to_string();
        assert!(e.contains("node b") && e.contains("overlaps"), "{e}");
        let outside =
            ClusterSpec::from_json(r#"{"nodes":[{"name":"a","ip":"10.0.0.1"}]}"#).unwrap();
        assert!(outside.build().is_err());
    }
}
