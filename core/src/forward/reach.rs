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

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::engine::{Network, Quiet};
use super::frame::{FrameRepr, L4Repr, ProbeKind};
use super::trace::{DropReason, Place, Trace, Verdict};
use crate::error::Result;
use crate::topology::Endpoint;

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
}

impl Cell {
    /// Whether the pair meets the requirement.
    pub fn is_ok(&self) -> bool {
        matches!(self, Cell::Ok)
    }
}

/// Passed/total for one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Pairs that meet it.
    pub ok: usize,
    /// Pairs checked.
    pub total: usize,
}

impl Tally {
    /// True when every pair passes (vacuously so when there is none).
    pub fn all_ok(&self) -> bool {
        self.ok == self.total
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
}

impl Requirements {
    /// All three hold.
    pub fn met(&self) -> bool {
        self.pod_to_pod.all_ok() && self.node_to_pod.all_ok() && self.pod_to_node.all_ok()
    }
}

/// Every node and pod against every node and pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// Rows and columns: nodes, then pods.
    pub endpoints: Vec<Endpoint>,
    /// Row-major: `cells[from * n + to]`.
    pub cells: Vec<Cell>,
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
                if let (Cell::Ok, Some(got)) = (cell, out.received) {
                    cell = Self::reply(net, from, to, got)?;
                }
                cells.push(cell);
            }
        }
        Ok(Matrix { endpoints, cells })
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

    /// The echo reply to a request as it arrived: back to whoever the
    /// request said it came from.
    fn reply_frame(request: FrameRepr) -> FrameRepr {
        let mut reply = ProbeKind::Ping.frame(request.dst, request.src);
        if let L4Repr::IcmpEcho { id, seq, .. } = request.l4 {
            reply.l4 = L4Repr::IcmpEcho {
                request: false,
                id,
                seq,
            };
        }
        reply
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
        let reply = match (request.verdict, request.received()) {
            (Verdict::Delivered { to: reached }, Some(got)) => {
                Some(net.trace_repr(reached, Self::reply_frame(*got), Vec::new())?)
            }
            _ => None,
        };
        Ok((request, reply))
    }

    /// Sends the echo reply back from `to` to whoever the request said it came from.
    fn reply(net: &Network, from: Endpoint, to: Endpoint, request: FrameRepr) -> Result<Cell> {
        let back = net.walk(to, Self::reply_frame(request), &mut Quiet)?;
        Ok(match back.verdict {
            Verdict::Delivered { to: reached } if reached == from => Cell::Ok,
            verdict => Cell::ReplyLost { verdict },
        })
    }

    /// The cell for a pair, by position in [`Matrix::endpoints`].
    pub fn get(&self, from: usize, to: usize) -> Option<&Cell> {
        self.cells.get(from * self.endpoints.len() + to)
    }

    /// Counts the three requirements (a pair of an endpoint with itself is not counted).
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
                tally.total += 1;
                tally.ok += usize::from(self.cells[i * n + j].is_ok());
            }
        }
        r
    }
}
