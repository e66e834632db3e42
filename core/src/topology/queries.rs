//! Reading a cluster: its members by id or by name, and what to call them.

use std::net::Ipv4Addr;

use super::{Client, ClientId, Cluster, Endpoint, Node, NodeId, Pod, PodId, Service, ServiceId};
use crate::error::{Error, Result};

impl Cluster {
    /// All nodes, oldest first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All pods, oldest first.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// All services.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// All outside clients.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &self.nodes[i])
    }

    /// A pod by id.
    pub fn pod(&self, id: PodId) -> Option<&Pod> {
        self.pods
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.pods[i])
    }

    /// A service by id.
    pub fn service(&self, id: ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// A client by id.
    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// A node by name.
    pub fn node_named(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// A pod by `name` or `namespace/name`.
    pub fn pod_named(&self, name: &str) -> Option<&Pod> {
        let (ns, name) = name.split_once('/').unwrap_or(("default", name));
        self.pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
    }

    /// A client by name.
    pub fn client_named(&self, name: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// A pod (`name` or `namespace/name`), node or client by name; the error
    /// lists every name the cluster has, so a typo is easy to mend.
    pub fn endpoint_named(&self, name: &str) -> Result<Endpoint> {
        let found = self
            .pod_named(name)
            .map(|p| Endpoint::Pod(p.id))
            .or_else(|| self.node_named(name).map(|n| Endpoint::Node(n.id)))
            .or_else(|| self.client_named(name).map(|c| Endpoint::Client(c.id)));
        found.ok_or_else(|| {
            let names: Vec<String> = self
                .endpoints()
                .into_iter()
                .map(|e| self.name_of(e))
                .collect();
            Error::Unknown {
                kind: "pod, node or client",
                name: format!("{name} (this cluster has: {})", names.join(", ")),
            }
        })
    }

    /// The pods on one node.
    pub fn pods_on(&self, node: NodeId) -> impl Iterator<Item = &Pod> {
        self.pods.iter().filter(move |p| p.node == node)
    }

    /// Every endpoint: nodes, then pods, then clients.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let nodes = self.nodes.iter().map(|n| Endpoint::Node(n.id));
        let pods = self.pods.iter().map(|p| Endpoint::Pod(p.id));
        let clients = self.clients.iter().map(|c| Endpoint::Client(c.id));
        nodes.chain(pods).chain(clients).collect()
    }

    /// The address other machines use to reach an endpoint.
    pub fn address_of(&self, e: Endpoint) -> Option<Ipv4Addr> {
        match e {
            Endpoint::Pod(p) => self.pod(p).map(|p| p.ip),
            Endpoint::Node(n) => self.node(n).map(|n| n.underlay_ip),
            Endpoint::Client(c) => self.client(c).map(|c| c.ip),
        }
    }

    /// A readable name: `node1`, `default/web`, `laptop`.
    pub fn name_of(&self, e: Endpoint) -> String {
        match e {
            Endpoint::Pod(p) => self.pod(p).map(Pod::full_name),
            Endpoint::Node(n) => self.node(n).map(|n| n.name.clone()),
            Endpoint::Client(c) => self.client(c).map(|c| c.name.clone()),
        }
        .unwrap_or_else(|| format!("{e:?} (gone)"))
    }

    /// [`Cluster::name_of`] without the `default/` namespace pods are in
    /// unless told otherwise: what a table or a menu shows.
    pub fn short_name_of(&self, e: Endpoint) -> String {
        let name = self.name_of(e);
        match name.strip_prefix("default/") {
            Some(short) => short.to_string(),
            None => name,
        }
    }
}
