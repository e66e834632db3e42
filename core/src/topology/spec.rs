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

use super::services::DEFAULT_AFFINITY_TIMEOUT;
use super::{
    Backend, Cluster, ContainerPort, Labels, NewService, NodeOptions, Protocol, RangeFrom,
    ServicePort, ServiceType, SessionAffinity, TargetPort, TrafficPolicy, DEFAULT_UNDERLAY,
};
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
    /// Its default route's gateway (the machine's, not podnet's), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_gateway: Option<Ipv4Addr>,
}

/// A pod already running on a node (the lab and the agent learn them from CNI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// Pod name (or `namespace/name`; namespace "default" when not given).
    pub name: String,
    /// Its node.
    pub node: String,
    /// Its address; allocated by the node's IPAM if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Its labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The ports its containers declare (for named target ports and hostPorts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPortSpec>,
    /// The runtime's sandbox id (`CNI_CONTAINERID`), when it has one: what
    /// its host veth and portmap's chain are named after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// A container port, as in a Pod spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPortSpec {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// "TCP" or "UDP" (default TCP).
    #[serde(default = "default_tcp")]
    pub protocol: String,
    /// `containerPort`.
    pub container_port: u16,
    /// `hostPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

/// One port of a Service, as in a Service spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePortSpec {
    /// Its name (may be empty when the Service has one port).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// "TCP" or "UDP" (default TCP).
    #[serde(default = "default_tcp")]
    pub protocol: String,
    /// The port on the ClusterIP.
    pub port: u16,
    /// A number, or the name of a container port; `port` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<serde_json::Value>,
    /// The port on every node (NodePort Services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// Namespace (default "default").
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// "ClusterIP" (default) or "NodePort".
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its ClusterIP; the next free one of the service range if absent.
    #[serde(default, rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<Ipv4Addr>,
    /// Its ports.
    pub ports: Vec<ServicePortSpec>,
    /// Pods by label; without it, the pods named in `endpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Labels>,
    /// The pods behind it by name, or an address for an endpoint that is
    /// no pod (as the Endpoints object lists them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// "None" (default) or "ClientIP".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<String>,
    /// "Cluster" (default: any pod, source masqueraded) or "Local".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<String>,
}

fn default_tcp() -> String {
    "TCP".into()
}

fn default_namespace() -> String {
    "default".into()
}

fn protocol(text: &str) -> Result<Protocol> {
    text.to_ascii_lowercase().parse()
}

impl ServicePortSpec {
    fn build(&self) -> Result<ServicePort> {
        let target = match &self.target_port {
            None => TargetPort::Number(self.port),
            Some(serde_json::Value::Number(n)) => TargetPort::Number(
                n.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        Error::config("targetPort", format!("{n} is not a port (1-65535)"))
                    })?,
            ),
            Some(serde_json::Value::String(s)) => match s.parse::<u16>() {
                Ok(n) if n > 0 => TargetPort::Number(n),
                _ => TargetPort::Name(s.clone()),
            },
            Some(other) => {
                return Err(Error::config(
                    "targetPort",
                    format!("{other} is neither a port number nor a port name"),
                ))
            }
        };
        Ok(ServicePort {
            name: self.name.clone(),
            protocol: protocol(&self.protocol)?,
            port: self.port,
            target,
            node_port: self.node_port,
        })
    }
}

impl ServiceSpec {
    /// A one-port Service in "default" of `kind`, in front of `endpoints`.
    pub fn one_port(
        name: &str,
        kind: ServiceType,
        protocol: Protocol,
        port: u16,
        node_port: Option<u16>,
        endpoints: Vec<String>,
    ) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            namespace: default_namespace(),
            kind: Some(kind.key().into()),
            cluster_ip: None,
            ports: vec![ServicePortSpec {
                name: String::new(),
                protocol: protocol.name().to_ascii_uppercase(),
                port,
                target_port: None,
                node_port,
            }],
            selector: None,
            endpoints,
            session_affinity: None,
            external_traffic_policy: None,
        }
    }
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
    /// Namespaces with labels (for policies' namespace selectors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<crate::policy::Namespace>,
    /// NetworkPolicies (`networking.k8s.io/v1`: namespace, name, spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<crate::policy::NetworkPolicy>,
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
            let at = |e: Error| Error::config(&format!("node {}", n.name), e.to_string());
            let id = c.add_node(&n.name, options).map_err(at)?;
            c.set_default_gateway(id, n.default_gateway).map_err(at)?;
        }
        for p in &self.pods {
            let at = |e: Error| Error::config(&format!("pod {}", p.name), e.to_string());
            let node = c.node_named(&p.node).map(|n| n.id).ok_or_else(|| {
                at(Error::Unknown {
                    kind: "node",
                    name: p.node.clone(),
                })
            })?;
            let (ns, name) = p.name.split_once('/').unwrap_or(("default", &p.name));
            let id = c
                .add_pod_with_sandbox(node, ns, name, &["app"], p.ip, p.sandbox.as_deref())
                .map_err(at)?;
            let ports = p
                .ports
                .iter()
                .map(|cp| {
                    Ok(ContainerPort {
                        name: cp.name.clone(),
                        protocol: protocol(&cp.protocol)?,
                        port: cp.container_port,
                        host_port: cp.host_port,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map_err(at)?;
            c.set_pod_ports(id, ports)?;
            if !p.labels.is_empty() {
                c.set_pod_labels(id, p.labels.clone())?;
            }
        }
        for s in &self.services {
            let at = |e: Error| {
                Error::config(
                    &format!("service {}/{}", s.namespace, s.name),
                    e.to_string(),
                )
            };
            s.build_into(&mut c).map_err(at)?;
        }
        for cl in &self.clients {
            c.add_client(&cl.name, cl.ip)
                .map_err(|e| Error::config(&format!("client {}", cl.name), e.to_string()))?;
        }
        c.set_namespaces(self.namespaces.clone());
        c.set_policies(self.policies.clone())?;
        Ok(c)
    }
}

impl ServiceSpec {
    /// Adds this Service to `c`, every field checked as the API server does.
    fn build_into(&self, c: &mut Cluster) -> Result<()> {
        let kind = match self.kind.as_deref() {
            None | Some("ClusterIP") => ServiceType::ClusterIp,
            Some("NodePort") => ServiceType::NodePort,
            Some(other) => {
                return Err(Error::config(
                    "type",
                    format!("{other:?} is not ClusterIP or NodePort"),
                ))
            }
        };
        let affinity = match self.session_affinity.as_deref() {
            None | Some("None") => SessionAffinity::None,
            Some("ClientIP") => SessionAffinity::ClientIp {
                timeout: DEFAULT_AFFINITY_TIMEOUT,
            },
            Some(other) => {
                return Err(Error::config(
                    "sessionAffinity",
                    format!("{other:?} is not None or ClientIP"),
                ))
            }
        };
        let traffic_policy = match self.external_traffic_policy.as_deref() {
            None | Some("Cluster") => TrafficPolicy::Cluster,
            Some("Local") => TrafficPolicy::Local,
            Some(other) => {
                return Err(Error::config(
                    "externalTrafficPolicy",
                    format!("{other:?} is not Cluster or Local"),
                ))
            }
        };
        let mut endpoints = Vec::new();
        let mut external = Vec::new();
        for name in &self.endpoints {
            if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
                external.push(ip);
                continue;
            }
            let full = if name.contains('/') {
                name.clone()
            } else {
                format!("{}/{name}", self.namespace)
            };
            match c.pod_named(&full) {
                Some(p) => endpoints.push(p.id),
                None => {
                    return Err(Error::Unknown {
                        kind: "pod",
                        name: full,
                    })
                }
            }
        }
        let ports = self
            .ports
            .iter()
            .map(ServicePortSpec::build)
            .collect::<Result<Vec<_>>>()?;
        c.add_service(NewService {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            kind,
            cluster_ip: self.cluster_ip,
            ports,
            selector: self.selector.clone(),
            endpoints,
            external,
            affinity,
            traffic_policy,
        })?;
        Ok(())
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
                "services":[{"name":"web","type":"NodePort","ports":[{"protocol":"UDP","port":8080,"nodePort":30080}],"endpoints":["pod-d"]}],
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
        assert!(s2
            .build()
            .unwrap_err()
            .to_string()
            .contains("service default/web"));
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
