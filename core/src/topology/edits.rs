//! Changing a cluster: nodes, pods, services and clients come and go, and
//! the faults the sandbox's challenges start from. Every edit is checked
//! first and changes nothing when it fails.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::{
    check_name, Client, ClientId, Cluster, Node, NodeId, Pod, PodId, Service, ServiceId,
    MIN_HAND_PREFIX,
};
use crate::alloc::{AllocKey, NodeIpam};
use crate::error::{Error, Result};
use crate::net::{fnv1a, host_veth_name, ifname, MacAddr};

/// How a node joins: which LAN, at which address, with which pod range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// The LAN it is plugged into (an index into [`Cluster::lans`]).
    pub lan: u8,
    /// Its address there (a real node's InternalIP); `None`: the LAN's next free one.
    pub ip: Option<Ipv4Addr>,
    /// Where its pod range comes from.
    pub range: RangeFrom,
}

/// Where a node's pod range comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RangeFrom {
    /// The cluster allocator's next free range (node IPAM).
    #[default]
    Allocator,
    /// A range already decided (a Node's `spec.podCIDR`): it must be free.
    Given(Ipv4Network),
    /// Set by hand (kubelet's `--pod-cidr`, a `podCIDR` written in):
    /// claimed from the allocator when free there, else taken as it is.
    ByHand(Ipv4Network),
    /// A node set up on its own, outside any cluster network: its range is
    /// not checked against other nodes (two such nodes may share one).
    Standalone(Ipv4Network),
}

impl NodeOptions {
    /// On LAN `lan`, everything else allocated.
    pub fn on_lan(lan: u8) -> NodeOptions {
        NodeOptions {
            lan,
            ..NodeOptions::default()
        }
    }

    /// With its range from `range`, on the first LAN.
    pub fn range(range: RangeFrom) -> NodeOptions {
        NodeOptions {
            range,
            ..NodeOptions::default()
        }
    }
}

impl Cluster {
    fn unique_node_name(&self, name: &str) -> Result<()> {
        check_name("node name", name)?;
        if self.node_named(name).is_some() || self.clients.iter().any(|c| c.name == name) {
            return Err(Error::Duplicate {
                kind: "node",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Adds a node: on LAN `o.lan` (the first by default) at `o.ip` or the
    /// LAN's next free address, with a pod range from where `o.range` says.
    /// Nothing changes when it fails.
    pub fn add_node(&mut self, name: &str, o: NodeOptions) -> Result<NodeId> {
        self.unique_node_name(name)?;
        if let RangeFrom::ByHand(range) = o.range {
            // The IPAM keeps a bit per address: a /16 is 8 KiB, a /0 half a GiB.
            if range.prefix() < MIN_HAND_PREFIX {
                return Err(Error::config(
                    "pod range",
                    format!("{range} is larger than a /{MIN_HAND_PREFIX}, the most one node's range may hold here"),
                ));
            }
            if let Some(l) = self.lans().into_iter().find(|l| l.overlaps(range)) {
                return Err(Error::config(
                    "pod range",
                    format!(
                        "{range} overlaps the LAN {l}: pods would take the nodes' own addresses"
                    ),
                ));
            }
        }
        let ip = match o.ip {
            Some(ip) => ip,
            None => self.next_lan_address(name, o.lan)?,
        };
        let (range, standalone) = match o.range {
            RangeFrom::Allocator => (self.allocator.allocate()?, false),
            RangeFrom::Given(r) => (self.allocator.occupy(r).map(|()| r)?, false),
            // Claimed when free; else taken as it is, even over another
            // node's, as nothing on a real node would stop it.
            RangeFrom::ByHand(r) => (r, self.allocator.occupy(r).is_err()),
            RangeFrom::Standalone(r) => (r, true),
        };
        self.push_node(name, range, standalone, ip)
            .inspect_err(|_| {
                if !standalone {
                    let _ = self.allocator.release(range);
                }
            })
    }

    fn push_node(
        &mut self,
        name: &str,
        range: Ipv4Network,
        standalone: bool,
        ip: Ipv4Addr,
    ) -> Result<NodeId> {
        let ipam = NodeIpam::for_subnet(range)?;
        let key = AllocKey::new(format!("node/{name}"), "eth0");
        let underlay_ip = self.claim_lan_address(key, ip)?;
        let id = NodeId(self.next_id());
        self.nodes.push(Node {
            id,
            name: name.to_string(),
            underlay_ip,
            mac: MacAddr::on_lan(underlay_ip),
            uplink: ifname("eth0"),
            lan: self.lan_of(underlay_ip).unwrap_or(0),
            vtep_mac: MacAddr::from_ip(MacAddr::VTEP_PREFIX, underlay_ip),
            pod_range: range,
            bridge_mac: MacAddr::on_pod_network(ipam.gateway()),
            ipam,
            bridge: ifname("cni0"),
            ip_forward: true,
            standalone,
            bridge_nf: true,
            hairpin: true,
            missing_routes: Vec::new(),
            default_gateway: None,
        });
        Ok(id)
    }

    /// Removes a node, its pods, its range and its LAN address.
    pub fn remove_node(&mut self, id: NodeId) -> Result<()> {
        let node = self.node(id).ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("{id:?}"),
        })?;
        let (name, range, standalone) = (node.name.clone(), node.pod_range, node.standalone);
        let gone: Vec<PodId> = self.pods_on(id).map(|p| p.id).collect();
        for pod in gone {
            self.remove_pod(pod)?;
        }
        if !standalone {
            self.allocator.release(range)?;
        }
        // A claimed address below the automatic range was never in the IPAM.
        let key = AllocKey::new(format!("node/{name}"), "eth0");
        for lan in &mut self.lans {
            let _ = lan.release(&key);
        }
        self.nodes.retain(|n| n.id != id);
        Ok(())
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Result<&mut Node> {
        let node = self.nodes.iter_mut().find(|n| n.id == id);
        node.ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("{id:?}"),
        })
    }

    pub(crate) fn pod_mut(&mut self, id: PodId) -> Result<&mut Pod> {
        let pod = self.pods.iter_mut().find(|p| p.id == id);
        pod.ok_or_else(|| Error::Unknown {
            kind: "pod",
            name: format!("{id:?}"),
        })
    }

    pub(crate) fn service_mut(&mut self, id: ServiceId) -> Result<&mut Service> {
        let s = self.services.iter_mut().find(|s| s.id == id);
        s.ok_or_else(|| Error::Unknown {
            kind: "service",
            name: format!("{id:?}"),
        })
    }

    /// Sets a node's hairpin mode (its pods' bridge ports).
    pub fn set_hairpin(&mut self, id: NodeId, on: bool) -> Result<()> {
        self.node_mut(id)?.hairpin = on;
        Ok(())
    }

    /// Sets (or with `None` removes) a node's default route: via `gateway`,
    /// which must be on the node's LAN and not the node itself.
    pub fn set_default_gateway(&mut self, id: NodeId, gateway: Option<Ipv4Addr>) -> Result<()> {
        let node = self.node(id).ok_or_else(|| Error::Unknown {
            kind: "node",
            name: format!("#{}", id.0),
        })?;
        if let Some(gw) = gateway {
            let lan = self.lans().get(usize::from(node.lan)).copied();
            let on_lan =
                lan.is_some_and(|l| l.contains(gw) && gw != l.network() && gw != l.broadcast());
            if !on_lan || gw == node.underlay_ip {
                return Err(Error::config(
                    "default gateway",
                    format!(
                        "{gw} is not another address on {}'s LAN ({})",
                        node.name,
                        lan.map_or_else(|| "none".to_string(), |l| l.to_string())
                    ),
                ));
            }
        }
        self.node_mut(id)?.default_gateway = gateway;
        Ok(())
    }

    /// Gives every node a default route via its LAN's gateway (the
    /// router a real machine's LAN has), as the clusters with Services
    /// need: a node connecting to a ClusterIP must have a route for it.
    pub fn route_nodes_to_lan_gateways(&mut self) -> Result<()> {
        let ids: Vec<(NodeId, u8)> = self.nodes.iter().map(|n| (n.id, n.lan)).collect();
        for (id, lan) in ids {
            let gw = self.lan_gateway(lan);
            self.set_default_gateway(id, gw)?;
        }
        Ok(())
    }

    /// Sets a node's `net.bridge.bridge-nf-call-iptables`.
    pub fn set_bridge_nf(&mut self, id: NodeId, on: bool) -> Result<()> {
        self.node_mut(id)?.bridge_nf = on;
        Ok(())
    }

    /// Sets a node's `ip_forward`.
    pub fn set_ip_forward(&mut self, id: NodeId, on: bool) -> Result<()> {
        self.node_mut(id)?.ip_forward = on;
        Ok(())
    }

    /// Takes the route to `range` out of a node's table (`ip route del` by
    /// hand, a sandbox fault), or with `missing` false puts it back.
    pub fn set_route_missing(
        &mut self,
        id: NodeId,
        range: Ipv4Network,
        missing: bool,
    ) -> Result<()> {
        let node = self.node_mut(id)?;
        node.missing_routes.retain(|&r| r != range);
        if missing {
            node.missing_routes.push(range);
        }
        Ok(())
    }

    /// Sets the address a pod's default route goes via (`None`: its node's bridge).
    pub fn set_pod_gateway(&mut self, id: PodId, gateway: Option<Ipv4Addr>) -> Result<()> {
        self.pod_mut(id)?.gateway = gateway;
        Ok(())
    }

    /// Starts a pod with one container named "app" in namespace "default".
    pub fn add_pod(&mut self, node: NodeId, name: &str) -> Result<PodId> {
        self.add_pod_in(node, "default", name, &["app"])
    }

    /// Starts a pod: the CNI ADD of a sandbox, with an address from the node's IPAM.
    pub fn add_pod_in(
        &mut self,
        node: NodeId,
        namespace: &str,
        name: &str,
        containers: &[&str],
    ) -> Result<PodId> {
        self.add_pod_at(node, namespace, name, containers, None)
    }

    /// Like [`Cluster::add_pod_in`], with the address given (one a real CNI plugin handed out).
    pub fn add_pod_at(
        &mut self,
        node: NodeId,
        namespace: &str,
        name: &str,
        containers: &[&str],
        ip: Option<Ipv4Addr>,
    ) -> Result<PodId> {
        self.add_pod_with_sandbox(node, namespace, name, containers, ip, None)
    }

    /// Like [`Cluster::add_pod_at`], with the runtime's sandbox id (the
    /// `CNI_CONTAINERID` its CNI ADD had) when known; the model makes one up
    /// otherwise.
    pub fn add_pod_with_sandbox(
        &mut self,
        node: NodeId,
        namespace: &str,
        name: &str,
        containers: &[&str],
        ip: Option<Ipv4Addr>,
        sandbox: Option<&str>,
    ) -> Result<PodId> {
        if let Some(id) = sandbox {
            let ok = !id.is_empty()
                && id.len() <= 256
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(Error::config(
                    "sandbox id",
                    format!("{id:?}: a container id is letters, digits, '_', '.' and '-'"),
                ));
            }
        }
        check_name("namespace", namespace)?;
        check_name("pod name", name)?;
        for c in containers {
            check_name("container name", c)?;
        }
        if self.pod_named(&format!("{namespace}/{name}")).is_some() {
            return Err(Error::Duplicate {
                kind: "pod",
                name: format!("{namespace}/{name}"),
            });
        }
        let id = PodId(self.next_id + 1);
        let container_id = sandbox.map_or_else(
            || format!("{:016x}", fnv1a(&[namespace, name, &id.0.to_string()])),
            str::to_string,
        );
        let host_veth = host_veth_name(&container_id, "eth0");
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.id == node)
            .ok_or_else(|| Error::Unknown {
                kind: "node",
                name: format!("{node:?}"),
            })?;
        let key = AllocKey::new(container_id.clone(), "eth0");
        let ip = match ip {
            Some(ip) => n.ipam.allocate_ip(key, ip).map(|()| ip)?,
            None => n.ipam.allocate(key)?,
        };
        self.next_id();
        self.pods.push(Pod {
            id,
            namespace: namespace.to_string(),
            name: name.to_string(),
            node,
            ip,
            mac: MacAddr::on_pod_network(ip),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            container_id,
            ifname: ifname("eth0"),
            host_veth,
            gateway: None,
            labels: Default::default(),
            ports: Vec::new(),
        });
        Ok(id)
    }

    /// Deletes a pod: the CNI DEL, releasing its address.
    pub fn remove_pod(&mut self, id: PodId) -> Result<()> {
        let pod = self.pod(id).ok_or_else(|| Error::Unknown {
            kind: "pod",
            name: format!("{id:?}"),
        })?;
        let key = AllocKey::new(pod.container_id.clone(), pod.ifname.as_str());
        let node = pod.node;
        if let Some(n) = self.nodes.iter_mut().find(|n| n.id == node) {
            n.ipam.release(&key)?;
        }
        self.pods.retain(|p| p.id != id);
        for s in &mut self.services {
            s.endpoints.retain(|&e| e != id);
        }
        self.refresh_endpoints();
        Ok(())
    }

    /// Adds a machine on the LAN that is not a node; `ip` is chosen if not given.
    pub fn add_client(&mut self, name: &str, ip: Option<Ipv4Addr>) -> Result<ClientId> {
        self.unique_node_name(name)?;
        let key = AllocKey::new(format!("client/{name}"), "eth0");
        let ip = match ip {
            Some(ip) => self.claim_lan_address(key, ip)?,
            None => self.lans[0].allocate(key)?,
        };
        let id = ClientId(self.next_id());
        self.clients.push(Client {
            id,
            name: name.to_string(),
            ip,
            mac: MacAddr::on_lan(ip),
        });
        Ok(id)
    }
}
