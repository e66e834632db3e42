//! The CNI requirements as a matrix: who reaches whom, and with which source address.
//!
//! Kubernetes asks every network plugin for two things: every pod reaches
//! every pod, and every node reaches every pod (and back), **without NAT**.
//! [`Matrix::compute`] sends a ping from every node and pod to every node and
//! pod, and records per pair whether it arrived, at whom, whether the
//! receiver saw the sender's own address, and whether the echo reply found
//! its way back (a request that arrives but cannot be answered is no
//! connectivity: without routes back, a ping still fails). Only the outcome of each walk is
//! kept, so a 1,000-pod cluster is checked in well under the time the hop
//! lists would take.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use super::frame::ProbeKind;
use super::network::Network;
use super::trace::{DropReason, Place, Trace, Tuple, Verdict};
use super::walk::Outcome;
use crate::error::Result;
use crate::topology::{ClientId, Cluster, Endpoint, NodeId, Protocol, ServiceId};

/// From a node or pod to one port of a Service's ClusterIP, asked once for
/// every endpoint kube-proxy's dice could land on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCell {
    /// The sender.
    pub from: Endpoint,
    /// The Service.
    pub service: ServiceId,
    /// The port asked (on the ClusterIP).
    pub port: u16,
    /// One cell per endpoint, in kube-proxy's order (one when it has none).
    pub picks: Vec<Cell>,
}

impl ServiceCell {
    /// Ok when every pick is; else the first that is not.
    pub fn cell(&self) -> Cell {
        self.picks
            .iter()
            .copied()
            .find(|c| !c.is_ok())
            .unwrap_or(Cell::Ok)
    }

    /// The first pick that fails (its endpoint's place in kube-proxy's
    /// order), or 0.
    pub fn failing_pick(&self) -> usize {
        self.picks.iter().position(|c| !c.is_ok()).unwrap_or(0)
    }

    /// The cell in words.
    pub fn explain(&self, c: &Cluster) -> String {
        let n = self.picks.len();
        match self.cell() {
            Cell::Ok => format!(
                "whichever of the {n} endpoint(s) kube-proxy picks answers, and the answer comes back from the ClusterIP"
            ),
            cell => {
                let k = self.failing_pick();
                let why = cell.explain(c);
                match cell {
                    Cell::Dropped {
                        reason: DropReason::NoEndpoints { .. },
                        ..
                    } => why,
                    _ => format!("when the dice pick endpoint {} of {n}: {why}", k + 1),
                }
            }
        }
    }
}

/// The result for one ordered pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cell {
    /// Arrived with the sender's address.
    Ok,
    /// Arrived, but the receiver saw another source address.
    NatSeen {
        /// Source as sent.
        sent: Ipv4Addr,
        /// Source as received.
        seen: Ipv4Addr,
    },
    /// Delivered to someone else (a duplicate address).
    WrongDestination {
        /// Who got it.
        reached: Endpoint,
    },
    /// Lost.
    Dropped {
        /// Where.
        at: Place,
        /// Why.
        reason: DropReason,
    },
    /// The request arrived but the reply did not reach the sender.
    ReplyLost {
        /// What happened to the reply.
        verdict: Verdict,
    },
    /// The reply reached the sender, but from an address or port it never
    /// sent to: its TCP stack answers with a reset, a UDP socket ignores it.
    ReplyAstray {
        /// Where the request went.
        expected: SocketAddrV4,
        /// Where the reply came from.
        seen: SocketAddrV4,
    },
}

/// From outside through one node's NodePort: a client's request to the
/// node's address and node port, judged with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePortCell {
    /// The client (the first outside machine).
    pub client: ClientId,
    /// The node whose port it asks.
    pub node: NodeId,
    /// The service.
    pub service: ServiceId,
    /// Ok when an endpoint got it and the reply came back from the node and port asked.
    pub cell: Cell,
}

impl NodePortCell {
    /// The cell in words: a NodePort's request is meant to be translated,
    /// so its green and its failures read differently from a pair's.
    pub fn explain(&self, c: &Cluster) -> String {
        let node = c.short_name_of(Endpoint::Node(self.node));
        match self.cell {
            Cell::Ok => format!(
                "an endpoint of the service got it through {node}'s port, and the answer came back from there"
            ),
            Cell::WrongDestination { reached } => format!(
                "delivered to {}, which is not an endpoint of the service",
                c.short_name_of(reached)
            ),
            Cell::ReplyLost {
                verdict: Verdict::Delivered { to },
            } => format!(
                "an endpoint got it, but its answer went to {} instead",
                c.short_name_of(to)
            ),
            other => other.explain(c),
        }
    }
}

impl Cell {
    /// The cell in words, for a page or a terminal.
    pub fn explain(&self, c: &Cluster) -> String {
        match self {
            Cell::Ok => "arrived with the sender's own address, and the reply came back".into(),
            Cell::NatSeen { sent, seen } => {
                format!("arrived, but sent from {sent} and seen from {seen}: NAT")
            }
            Cell::WrongDestination { reached } => format!(
                "delivered to {} instead: duplicate address",
                c.name_of(*reached)
            ),
            Cell::Dropped { at, reason } => format!("dropped at {}: {reason}", at.label(c)),
            Cell::ReplyLost {
                verdict: Verdict::Dropped { at, reason },
            } => format!(
                "arrived, but the reply was dropped at {}: {reason}",
                at.label(c)
            ),
            Cell::ReplyLost {
                verdict: Verdict::Delivered { to },
            } => format!(
                "arrived, but the reply went to {}: duplicate address",
                c.name_of(*to)
            ),
            Cell::ReplyAstray { expected, seen } => format!(
                "arrived, but the reply came from {seen}, not {expected} where the request went: the sender resets it (no NAT undone on the way back)"
            ),
        }
    }

    /// Whether the pair meets the requirement.
    pub fn is_ok(&self) -> bool {
        matches!(self, Cell::Ok)
    }

    /// Whether a NetworkPolicy dropped it: the cluster's owner asked for
    /// that, so it counts against no requirement (the network model holds
    /// where no policy isolates a pod).
    pub fn is_policy_denied(&self) -> bool {
        matches!(
            self,
            Cell::Dropped {
                reason: DropReason::Policy { .. },
                ..
            }
        )
    }
}

/// Passed/total for one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Pairs that meet it.
    pub ok: usize,
    /// Pairs a NetworkPolicy denies ([`Cell::is_policy_denied`]): neither
    /// met nor failing.
    #[serde(default)]
    pub denied: usize,
    /// Pairs checked.
    pub total: usize,
}

impl Tally {
    /// True when every pair passes or is denied by a policy (vacuously so
    /// when there is none).
    pub fn all_ok(&self) -> bool {
        self.failing() == 0
    }

    /// Pairs that neither pass nor are denied by a policy.
    pub fn failing(&self) -> usize {
        self.total - self.ok - self.denied
    }

    fn count(&mut self, cell: &Cell) {
        self.total += 1;
        self.ok += usize::from(cell.is_ok());
        self.denied += usize::from(cell.is_policy_denied());
    }
}

/// The requirements, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Requirements {
    /// Every pod reaches every other pod without NAT.
    pub pod_to_pod: Tally,
    /// Every node reaches every pod without NAT.
    pub node_to_pod: Tally,
    /// Every pod reaches every node without NAT.
    pub pod_to_node: Tally,
    /// An outside client reaches every service through every node's port,
    /// and gets its answer from there (not a CNI requirement: kube-proxy's).
    #[serde(default)]
    pub node_port: Tally,
    /// Every node and pod reaches every Service port, whichever endpoint
    /// is picked, and gets its answer from the ClusterIP (kube-proxy's
    /// rules and the CNI's hairpin and br_netfilter together).
    #[serde(default)]
    pub service: Tally,
}

impl Requirements {
    /// How many pairs fail, over all requirements.
    pub fn failing(&self) -> usize {
        self.tallies().iter().map(Tally::failing).sum()
    }

    /// Pairs a NetworkPolicy denies, in all of them.
    pub fn denied(&self) -> usize {
        self.tallies().iter().map(|t| t.denied).sum()
    }

    fn tallies(&self) -> [Tally; 5] {
        [
            self.pod_to_pod,
            self.node_to_pod,
            self.pod_to_node,
            self.node_port,
            self.service,
        ]
    }

    /// All hold (a pair a policy denies counts against none).
    pub fn met(&self) -> bool {
        self.failing() == 0
    }
}

/// Every node and pod against every node and pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// Rows and columns: nodes, then pods.
    pub endpoints: Vec<Endpoint>,
    /// Row-major: `cells[from * n + to]`.
    pub cells: Vec<Cell>,
    /// When the cluster has services and an outside client: every
    /// service's node port on every node, asked by the first client.
    #[serde(default)]
    pub node_ports: Vec<NodePortCell>,
    /// Every node and pod to every Service port.
    #[serde(default)]
    pub services: Vec<ServiceCell>,
}

impl Matrix {
    /// Pings every pair (node→node included, though not a CNI requirement).
    pub fn compute(net: &Network) -> Result<Matrix> {
        let cluster = net.cluster();
        let endpoints: Vec<Endpoint> = cluster
            .endpoints()
            .into_iter()
            .filter(|e| !matches!(e, Endpoint::Client(_)))
            .collect();
        let addrs: Vec<Ipv4Addr> = endpoints
            .iter()
            .filter_map(|&e| cluster.address_of(e))
            .collect();
        let mut cells = Vec::with_capacity(endpoints.len() * endpoints.len());
        for &from in &endpoints {
            for (&to, &addr) in endpoints.iter().zip(&addrs) {
                let out = net.probe_outcome(from, addr, ProbeKind::Ping)?;
                let mut cell = Self::judge(
                    to,
                    out.verdict,
                    out.sent.map(|f| f.src),
                    out.received.map(|f| f.src),
                );
                if cell == Cell::Ok {
                    cell = Self::reply(net, from, &out)?;
                }
                cells.push(cell);
            }
        }
        let node_ports = Self::node_ports(net)?;
        let services = Self::services(net, &endpoints)?;
        Ok(Matrix {
            endpoints,
            cells,
            node_ports,
            services,
        })
    }

    /// Every sender to every port of every Service, each possible endpoint.
    fn services(net: &Network, senders: &[Endpoint]) -> Result<Vec<ServiceCell>> {
        let cluster = net.cluster();
        let mut out = Vec::new();
        for s in cluster.services() {
            for port in &s.ports {
                let eps = cluster.port_endpoints(s, port);
                let targets: Vec<Ipv4Addr> = eps.iter().map(|e| *e.addr.ip()).collect();
                let (kind, asked) = Self::node_port_probe(s.cluster_ip, port.protocol, port.port);
                for &from in senders {
                    let picks = (0..eps.len().max(1))
                        .map(|k| {
                            let got = net.probe_outcome_picking(from, s.cluster_ip, kind, k)?;
                            Self::judge_service(net, from, &got, &targets, asked)
                        })
                        .collect::<Result<Vec<Cell>>>()?;
                    out.push(ServiceCell {
                        from,
                        service: s.id,
                        port: port.port,
                        picks,
                    });
                }
            }
        }
        Ok(out)
    }

    /// A request to a ClusterIP: it must reach one of the endpoints, and the
    /// answer must come back to the sender from the address and port asked.
    fn judge_service(
        net: &Network,
        from: Endpoint,
        got: &Outcome,
        endpoints: &[Ipv4Addr],
        asked: SocketAddrV4,
    ) -> Result<Cell> {
        let cluster = net.cluster();
        Ok(match got.verdict {
            Verdict::Dropped { at, reason } => Cell::Dropped { at, reason },
            Verdict::Delivered { to }
                if cluster
                    .address_of(to)
                    .is_some_and(|a| endpoints.contains(&a)) =>
            {
                Self::judge_reply(net, from, got, asked)?
            }
            Verdict::Delivered { to } => Cell::WrongDestination { reached: to },
        })
    }

    /// The answer to a request that reached a right endpoint: it must come
    /// back to the sender from the address and port the sender asked.
    fn judge_reply(
        net: &Network,
        from: Endpoint,
        got: &Outcome,
        asked: SocketAddrV4,
    ) -> Result<Cell> {
        Ok(match net.reply_outcome(got)? {
            Some(back) => match (back.verdict, back.received) {
                (Verdict::Delivered { to }, Some(f)) if to == from => {
                    let seen = Tuple::of(&f).src;
                    if seen == asked {
                        Cell::Ok
                    } else {
                        Cell::ReplyAstray {
                            expected: asked,
                            seen,
                        }
                    }
                }
                (verdict, _) => Cell::ReplyLost { verdict },
            },
            None => Cell::ReplyLost {
                verdict: got.verdict,
            },
        })
    }

    /// A Service cell's two packets for its first failing pick (or the
    /// first): the request to the ClusterIP and the answer.
    pub fn service_traces(net: &Network, cell: &ServiceCell) -> Result<(Trace, Option<Trace>)> {
        let c = net.cluster();
        let s = c
            .service(cell.service)
            .ok_or_else(|| crate::Error::Unknown {
                kind: "service",
                name: format!("{:?}", cell.service),
            })?;
        let protocol = s
            .ports
            .iter()
            .find(|p| p.port == cell.port)
            .map_or(Protocol::Tcp, |p| p.protocol);
        let (kind, _) = Self::node_port_probe(s.cluster_ip, protocol, cell.port);
        let request = net.probe_picking(cell.from, s.cluster_ip, kind, cell.failing_pick())?;
        let reply = net.reply(&request)?;
        Ok((request, reply))
    }

    /// The first client asks every service on every node.
    fn node_ports(net: &Network) -> Result<Vec<NodePortCell>> {
        let cluster = net.cluster();
        let Some(client) = cluster.clients().first() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in cluster.services() {
            let Some((port, node_port)) = s.node_port() else {
                continue;
            };
            for n in cluster.nodes() {
                let (kind, asked) = Self::node_port_probe(n.underlay_ip, port.protocol, node_port);
                let got = net.probe_outcome(Endpoint::Client(client.id), n.underlay_ip, kind)?;
                let cell = match got.verdict {
                    Verdict::Dropped { at, reason } => Cell::Dropped { at, reason },
                    Verdict::Delivered {
                        to: Endpoint::Pod(p),
                    } if s.endpoints.contains(&p) => {
                        Self::judge_reply(net, Endpoint::Client(client.id), &got, asked)?
                    }
                    Verdict::Delivered { to } => Cell::WrongDestination { reached: to },
                };
                out.push(NodePortCell {
                    client: client.id,
                    node: n.id,
                    service: s.id,
                    cell,
                });
            }
        }
        Ok(out)
    }

    /// What a client sends to a node port, and the address and port it asks.
    fn node_port_probe(node: Ipv4Addr, protocol: Protocol, port: u16) -> (ProbeKind, SocketAddrV4) {
        let kind = match protocol {
            Protocol::Tcp => ProbeKind::TcpSyn(port),
            Protocol::Udp => ProbeKind::Udp(port),
        };
        (kind, SocketAddrV4::new(node, port))
    }

    fn judge(
        to: Endpoint,
        verdict: Verdict,
        sent: Option<Ipv4Addr>,
        seen: Option<Ipv4Addr>,
    ) -> Cell {
        match verdict {
            Verdict::Dropped { at, reason } => Cell::Dropped { at, reason },
            Verdict::Delivered { to: reached } if reached != to => {
                Cell::WrongDestination { reached }
            }
            Verdict::Delivered { .. } => match (sent, seen) {
                (Some(sent), Some(seen)) if sent != seen => Cell::NatSeen { sent, seen },
                _ => Cell::Ok,
            },
        }
    }

    /// A cell's two packets, hop by hop: the ping from `from` to `to`'s
    /// address, and (if it arrived) the reply, as the cell was judged.
    pub fn pair_traces(
        net: &Network,
        from: Endpoint,
        to: Endpoint,
    ) -> Result<(Trace, Option<Trace>)> {
        let addr = net
            .cluster()
            .address_of(to)
            .ok_or_else(|| crate::Error::Unknown {
                kind: "endpoint",
                name: format!("{to:?}"),
            })?;
        let request = net.probe(from, addr, ProbeKind::Ping)?;
        let reply = net.reply(&request)?;
        Ok((request, reply))
    }

    /// A node-port cell's two packets, hop by hop: the client's request and
    /// the answer, with the NAT undone where conntrack knows it.
    pub fn node_port_traces(net: &Network, cell: &NodePortCell) -> Result<(Trace, Option<Trace>)> {
        let c = net.cluster();
        let unknown = |kind, name: String| crate::Error::Unknown { kind, name };
        let node = c
            .node(cell.node)
            .ok_or_else(|| unknown("node", format!("{:?}", cell.node)))?;
        let s = c
            .service(cell.service)
            .ok_or_else(|| unknown("service", format!("{:?}", cell.service)))?;
        let (port, node_port) = s
            .node_port()
            .ok_or_else(|| unknown("node port of", s.full_name()))?;
        let (kind, _) = Self::node_port_probe(node.underlay_ip, port.protocol, node_port);
        let request = net.probe(Endpoint::Client(cell.client), node.underlay_ip, kind)?;
        let reply = net.reply(&request)?;
        Ok((request, reply))
    }

    /// Sends the echo reply back from whoever got the request to whoever it said it came from.
    fn reply(net: &Network, from: Endpoint, request: &Outcome) -> Result<Cell> {
        let back = net.reply_outcome(request)?;
        Ok(match back.map(|b| b.verdict) {
            Some(Verdict::Delivered { to: reached }) if reached == from => Cell::Ok,
            Some(verdict) => Cell::ReplyLost { verdict },
            None => Cell::ReplyLost {
                verdict: request.verdict,
            },
        })
    }

    /// The cell for a pair, by position in [`Matrix::endpoints`].
    pub fn get(&self, from: usize, to: usize) -> Option<&Cell> {
        self.cells.get(from * self.endpoints.len() + to)
    }

    /// Counts the requirements (a pair of an endpoint with itself is not counted).
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::default();
        let n = self.endpoints.len();
        for (i, &from) in self.endpoints.iter().enumerate() {
            for (j, &to) in self.endpoints.iter().enumerate() {
                let tally = match (from, to) {
                    _ if i == j => continue,
                    (Endpoint::Pod(_), Endpoint::Pod(_)) => &mut r.pod_to_pod,
                    (Endpoint::Node(_), Endpoint::Pod(_)) => &mut r.node_to_pod,
                    (Endpoint::Pod(_), Endpoint::Node(_)) => &mut r.pod_to_node,
                    _ => continue,
                };
                tally.count(&self.cells[i * n + j]);
            }
        }
        for c in &self.node_ports {
            r.node_port.count(&c.cell);
        }
        for c in &self.services {
            r.service.count(&c.cell());
        }
        r
    }
}
