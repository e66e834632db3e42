//! Services: one stable address for pods that come and go.
//!
//! A [`Service`] is what the API server holds: a namespace and name, a
//! type (ClusterIP, or NodePort on top of it), a ClusterIP from the
//! cluster's service range, its ports (each with a target port by number
//! or by the name a container gives it, and a node port for a NodePort),
//! the pods behind it (picked by a label selector, or listed), session
//! affinity and the external traffic policy. Its endpoints follow the pods:
//! a pod added with matching labels joins, a deleted one leaves. What
//! kube-proxy makes of it on each node is [`crate::services`].

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use super::{check_name, Cluster, Pod, PodId, Protocol, ServiceId, TrafficPolicy, NODE_PORT_RANGE};
use crate::error::{Error, Result};

/// Labels of a pod or a namespace; a selector is labels that must all match.
pub type Labels = BTreeMap<String, String>;

/// The service range the API server hands ClusterIPs out of
/// (`--service-cluster-ip-range`, kubeadm's default).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/16";

/// What kind of Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ServiceType {
    /// A ClusterIP only: reached from inside the cluster.
    #[default]
    ClusterIp,
    /// A ClusterIP, and a port on every node.
    NodePort,
}

impl ServiceType {
    /// The name in a Service spec.
    pub fn key(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
        }
    }
}

/// `spec.sessionAffinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SessionAffinity {
    /// Every new connection picks an endpoint at random.
    #[default]
    None,
    /// A client address keeps its endpoint for `timeout` seconds
    /// (`sessionAffinityConfig.clientIP.timeoutSeconds`, 10800 by default).
    ClientIp {
        /// Seconds.
        timeout: u32,
    },
}

/// The API server's default ClientIP affinity timeout: three hours.
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

/// Where a service port sends traffic on its pods.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetPort {
    /// This port number.
    Number(u16),
    /// The container port of this name (each pod may give it another number).
    Name(String),
}

impl std::fmt::Display for TargetPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetPort::Number(n) => write!(f, "{n}"),
            TargetPort::Name(n) => f.write_str(n),
        }
    }
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServicePort {
    /// Its name (may be empty when the Service has one port).
    pub name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the ClusterIP.
    pub port: u16,
    /// Where it goes on the pods.
    pub target: TargetPort,
    /// The port on every node (NodePort Services: 30000–32767).
    pub node_port: Option<u16>,
}

/// A port a container declares (`containers[].ports`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerPort {
    /// Its name (what a Service's named targetPort refers to).
    pub name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port.
    pub port: u16,
    /// `hostPort`: the same port on the node's own addresses.
    pub host_port: Option<u16>,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Id.
    pub id: ServiceId,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// ClusterIP or NodePort.
    pub kind: ServiceType,
    /// Its ClusterIP, from the cluster's service range.
    pub cluster_ip: Ipv4Addr,
    /// Its ports.
    pub ports: Vec<ServicePort>,
    /// The label selector; `None`: the endpoints are listed by hand.
    pub selector: Option<Labels>,
    /// The ready pods behind it (the selector's pods, kept up to date).
    pub endpoints: Vec<PodId>,
    /// Endpoints that are no pod of the pod network (the API server behind
    /// `default/kubernetes`, a hostNetwork pod's node): their addresses.
    pub external: Vec<Ipv4Addr>,
    /// Session affinity.
    pub affinity: SessionAffinity,
    /// `externalTrafficPolicy`: whether traffic from outside may go to
    /// another node's pod (Cluster) or only to this node's (Local).
    pub traffic_policy: TrafficPolicy,
    /// Whether kube-proxy marks what a NodePort translates under policy
    /// Cluster for masquerade. It always does; turning it off is a sandbox
    /// fault that shows why: a pod on another node answers the client
    /// directly, from an address the client never talked to.
    pub masquerade: bool,
}

impl Service {
    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// kube-proxy's name of one port: `namespace/name:port` (no `:port`
    /// when the port has no name).
    pub fn port_name(&self, port: &ServicePort) -> String {
        match port.name.as_str() {
            "" => self.full_name(),
            n => format!("{}:{n}", self.full_name()),
        }
    }

    /// The first port with a node port: what a NodePort Service is asked on.
    pub fn node_port(&self) -> Option<(&ServicePort, u16)> {
        self.ports
            .iter()
            .find_map(|p| p.node_port.map(|np| (p, np)))
    }
}

/// What a new Service is; the cluster adds the id, picks a ClusterIP when
/// none is given and finds the endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// ClusterIP or NodePort.
    pub kind: ServiceType,
    /// A ClusterIP asked for (`spec.clusterIP`), or the next free one.
    pub cluster_ip: Option<Ipv4Addr>,
    /// Its ports.
    pub ports: Vec<ServicePort>,
    /// Pods by label, or (with `None`) the pods listed in `endpoints`.
    pub selector: Option<Labels>,
    /// The pods, when there is no selector.
    pub endpoints: Vec<PodId>,
    /// Endpoint addresses that are no pod (an Endpoints object's other addresses).
    pub external: Vec<Ipv4Addr>,
    /// Session affinity.
    pub affinity: SessionAffinity,
    /// External traffic policy.
    pub traffic_policy: TrafficPolicy,
}

impl NewService {
    /// A ClusterIP Service in namespace "default" with one unnamed port.
    pub fn cluster_ip(name: &str, protocol: Protocol, port: u16, target: u16) -> NewService {
        NewService {
            namespace: "default".into(),
            name: name.into(),
            kind: ServiceType::ClusterIp,
            cluster_ip: None,
            ports: vec![ServicePort {
                name: String::new(),
                protocol,
                port,
                target: TargetPort::Number(target),
                node_port: None,
            }],
            selector: None,
            endpoints: Vec::new(),
            external: Vec::new(),
            affinity: SessionAffinity::None,
            traffic_policy: TrafficPolicy::Cluster,
        }
    }

    /// A NodePort Service in namespace "default": one port, `node_port` on
    /// every node and `target` on the pods (also on its ClusterIP, as
    /// `target`, the way `kubectl expose` numbers it).
    pub fn node_port(name: &str, protocol: Protocol, node_port: u16, target: u16) -> NewService {
        let mut s = NewService::cluster_ip(name, protocol, target, target);
        s.kind = ServiceType::NodePort;
        s.ports[0].node_port = Some(node_port);
        s
    }

    /// The same, in front of these pods.
    pub fn with_endpoints(mut self, pods: &[PodId]) -> NewService {
        self.endpoints = pods.to_vec();
        self
    }

    /// The same, in front of the pods whose labels match.
    pub fn with_selector(mut self, selector: Labels) -> NewService {
        self.selector = Some(selector);
        self
    }
}

/// One endpoint of one service port: the pod and where on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortEndpoint {
    /// The pod (`None`: an address that is no pod).
    pub pod: Option<PodId>,
    /// Its address and the port the target resolves to on it.
    pub addr: SocketAddrV4,
}

/// Whether a pod's labels carry every label of `selector`. An empty
/// selector selects nothing for a Service (the API server keeps such a
/// Service without endpoints), so `None` is returned by the caller before.
fn matches(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The port a target resolves to on a pod, if the pod has it (a named
/// port it does not declare: not an endpoint of that port).
pub fn resolve(target: &TargetPort, protocol: Protocol, pod: &Pod) -> Option<u16> {
    match target {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => pod
            .ports
            .iter()
            .find(|p| &p.name == name && p.protocol == protocol)
            .map(|p| p.port),
    }
}

impl Cluster {
    /// The cluster's service range.
    pub fn service_cidr(&self) -> Ipv4Network {
        self.service_cidr
    }

    /// Sets the service range (`--service-cluster-ip-range`); refused once
    /// a Service has a ClusterIP, or when it overlaps the pods or a LAN.
    pub fn set_service_cidr(&mut self, range: Ipv4Network) -> Result<()> {
        if !self.services.is_empty() {
            return Err(Error::config(
                "service range",
                "it cannot change once Services have ClusterIPs from it",
            ));
        }
        if let Some(other) = self
            .lans()
            .into_iter()
            .chain([self.cidr()])
            .find(|l| l.overlaps(range))
        {
            return Err(Error::config(
                "service range",
                format!("{range} overlaps {other}"),
            ));
        }
        if range.prefix() > 28 {
            return Err(Error::config(
                "service range",
                format!("{range} is too small for Services (at most /28)"),
            ));
        }
        self.service_cidr = range;
        Ok(())
    }

    /// The ClusterIP a new Service gets: the first free one from .100 of
    /// the range (the API server picks at random; a model that numbers them
    /// keeps its pictures the same from one run to the next).
    fn next_cluster_ip(&self) -> Result<Ipv4Addr> {
        let net = u32::from(self.service_cidr.network());
        let last = u32::from(self.service_cidr.broadcast()) - 1;
        let first = (net + 100).min(last);
        (first..=last)
            .chain(net + 1..first)
            .map(Ipv4Addr::from)
            .find(|ip| self.service_at(*ip).is_none())
            .ok_or_else(|| {
                Error::config(
                    "clusterIP",
                    format!("the service range {} is full", self.service_cidr),
                )
            })
    }

    fn check_cluster_ip(&self, ip: Ipv4Addr, full: &str) -> Result<Ipv4Addr> {
        let range = self.service_cidr;
        if !range.contains(ip) || ip == range.network() || ip == range.broadcast() {
            return Err(Error::config(
                "clusterIP",
                format!("{ip} for {full} is not in the service range {range}"),
            ));
        }
        if let Some(s) = self.service_at(ip) {
            return Err(Error::config(
                "clusterIP",
                format!("{ip} for {full} is already {}'s", s.full_name()),
            ));
        }
        Ok(ip)
    }

    /// Adds a Service; checks everything first and changes nothing when it
    /// fails (a bad name, a ClusterIP outside the range or taken, a node
    /// port outside 30000–32767 or another Service's, an unknown pod).
    pub fn add_service(&mut self, s: NewService) -> Result<ServiceId> {
        check_name("namespace", &s.namespace)?;
        check_name("service name", &s.name)?;
        let full = format!("{}/{}", s.namespace, s.name);
        if self
            .services
            .iter()
            .any(|x| x.namespace == s.namespace && x.name == s.name)
        {
            return Err(Error::Duplicate {
                kind: "service",
                name: full,
            });
        }
        if s.ports.is_empty() {
            return Err(Error::config(
                "ports",
                format!("service {full} has no port"),
            ));
        }
        for (i, p) in s.ports.iter().enumerate() {
            if s.ports.len() > 1 && p.name.is_empty() {
                return Err(Error::config(
                    "ports",
                    format!("service {full}: every port needs a name when there are several"),
                ));
            }
            if s.ports[..i].iter().any(|q| {
                (q.port, q.protocol) == (p.port, p.protocol)
                    || (!p.name.is_empty() && q.name == p.name)
            }) {
                return Err(Error::config(
                    "ports",
                    format!(
                        "service {full}: port {} {} is there twice",
                        p.port,
                        p.protocol.name()
                    ),
                ));
            }
            match (s.kind, p.node_port) {
                (ServiceType::ClusterIp, Some(np)) => {
                    return Err(Error::config(
                        "nodePort",
                        format!(
                            "service {full} is a ClusterIP Service: it has no node port ({np})"
                        ),
                    ))
                }
                (ServiceType::NodePort, Some(np)) => self.check_node_port(np, p.protocol)?,
                _ => {}
            }
        }
        if let Some(missing) = s.endpoints.iter().find(|&&p| self.pod(p).is_none()) {
            return Err(Error::Unknown {
                kind: "pod",
                name: format!("{missing:?}"),
            });
        }
        let cluster_ip = match s.cluster_ip {
            Some(ip) => self.check_cluster_ip(ip, &full)?,
            None => self.next_cluster_ip()?,
        };
        let id = ServiceId(self.next_id());
        self.services.push(Service {
            id,
            namespace: s.namespace,
            name: s.name,
            kind: s.kind,
            cluster_ip,
            ports: s.ports,
            selector: s.selector,
            endpoints: s.endpoints,
            external: s.external,
            affinity: s.affinity,
            traffic_policy: s.traffic_policy,
            masquerade: true,
        });
        self.refresh_endpoints();
        Ok(id)
    }

    fn check_node_port(&self, np: u16, protocol: Protocol) -> Result<()> {
        if !NODE_PORT_RANGE.contains(&np) {
            return Err(Error::config(
                "nodePort",
                format!(
                    "{np} is outside the node port range {}-{}",
                    NODE_PORT_RANGE.start(),
                    NODE_PORT_RANGE.end()
                ),
            ));
        }
        let taken = self.services.iter().find(|s| {
            s.ports
                .iter()
                .any(|p| p.node_port == Some(np) && p.protocol == protocol)
        });
        match taken {
            Some(s) => Err(Error::config(
                "nodePort",
                format!("{np} is already used by service {}", s.full_name()),
            )),
            None => Ok(()),
        }
    }

    /// Deletes a Service (its ClusterIP is free again).
    pub fn remove_service(&mut self, id: ServiceId) -> Result<()> {
        self.service_mut(id)?;
        self.services.retain(|s| s.id != id);
        Ok(())
    }

    /// Makes every selector's endpoint list the pods it selects now, in
    /// the order they were created (a deleted pod leaves, a new one joins).
    pub(crate) fn refresh_endpoints(&mut self) {
        let pods = &self.pods;
        for s in &mut self.services {
            if let Some(sel) = &s.selector {
                s.endpoints = pods
                    .iter()
                    .filter(|p| p.namespace == s.namespace && matches(sel, &p.labels))
                    .map(|p| p.id)
                    .collect();
            }
        }
    }

    /// The endpoints of one port of a Service, in kube-proxy's order (by
    /// the text "ip:port", not numerically); a pod without the named
    /// target port is not one of them.
    pub fn port_endpoints(&self, s: &Service, port: &ServicePort) -> Vec<PortEndpoint> {
        let mut eps: Vec<PortEndpoint> = s
            .endpoints
            .iter()
            .filter_map(|&id| self.pod(id))
            .filter_map(|p| {
                let n = resolve(&port.target, port.protocol, p)?;
                Some(PortEndpoint {
                    pod: Some(p.id),
                    addr: SocketAddrV4::new(p.ip, n),
                })
            })
            .collect();
        if let TargetPort::Number(n) = port.target {
            eps.extend(s.external.iter().map(|&ip| PortEndpoint {
                pod: None,
                addr: SocketAddrV4::new(ip, n),
            }));
        }
        eps.sort_by_key(|e| e.addr.to_string());
        eps.dedup_by_key(|e| e.addr);
        eps
    }

    /// A Service by `namespace/name` (or `name` in "default").
    pub fn service_named(&self, name: &str) -> Option<&Service> {
        let (ns, name) = name.split_once('/').unwrap_or(("default", name));
        self.services
            .iter()
            .find(|s| s.namespace == ns && s.name == name)
    }

    /// The Service whose ClusterIP this is.
    pub fn service_at(&self, ip: Ipv4Addr) -> Option<&Service> {
        self.services.iter().find(|s| s.cluster_ip == ip)
    }

    /// Sets a Service's external traffic policy.
    pub fn set_traffic_policy(&mut self, id: ServiceId, policy: TrafficPolicy) -> Result<()> {
        self.service_mut(id)?.traffic_policy = policy;
        Ok(())
    }

    /// Sets a Service's session affinity.
    pub fn set_affinity(&mut self, id: ServiceId, affinity: SessionAffinity) -> Result<()> {
        self.service_mut(id)?.affinity = affinity;
        Ok(())
    }

    /// Sets whether kube-proxy marks a NodePort's traffic for masquerade
    /// (a sandbox fault when off).
    pub fn set_masquerade(&mut self, id: ServiceId, on: bool) -> Result<()> {
        self.service_mut(id)?.masquerade = on;
        Ok(())
    }

    /// Sets a pod's labels; the Services whose selector picks it follow.
    pub fn set_pod_labels(&mut self, id: PodId, labels: Labels) -> Result<()> {
        self.pod_mut(id)?.labels = labels;
        self.refresh_endpoints();
        Ok(())
    }

    /// Sets the ports a pod's containers declare (named ports, hostPorts).
    pub fn set_pod_ports(&mut self, id: PodId, ports: Vec<ContainerPort>) -> Result<()> {
        self.pod_mut(id)?.ports = ports;
        Ok(())
    }
}
