//! Sending a frame through a compiled [`Network`]: the entry points
//! ([`Network::trace`], [`Network::probe`], [`Network::reply`]), where the
//! frame is between stages, the packet and what the kernel keeps with it,
//! and the loop that hands it from stage to stage until it is delivered or
//! dropped. Every step is reported to a
//! [`Recorder`], which keeps every hop (a [`Trace`](super::Trace)) or
//! nothing (the reachability matrix, where only the verdict matters).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::frame::{parse_packet, Encap, FrameRepr, ProbeKind};
use super::network::{Network, NodeRt};
use super::trace::{Conntrack, DropReason, Hop, Place, RuleHit, Step, Trace, Tuple, Verdict};
use crate::error::{Error, Result};
use crate::topology::Endpoint;

/// No real path in this model is longer; a walk that gets here is a loop.
const MAX_STEPS: usize = 64;

/// Where the frame is between steps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At {
    PodSend(usize),
    PodRecv(usize),
    Bridge(usize),
    NodeSend(usize),
    NodeRecv(usize),
    Lan(usize),
    Router,
    ClientSend(usize),
    ClientRecv(usize),
}

/// Receives each step of a walk.
pub(crate) trait Recorder {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr, outer: Option<Encap>);
    /// An iptables rule that acted at the next hop.
    fn rule(&mut self, _table: &str, _line: String) {}
}

/// What a walk knows besides the frame: the request's conntrack entries
/// when it is a reply, and the endpoint the caller chose for a Service.
#[derive(Clone, Copy)]
pub(crate) struct How<'a> {
    pub(crate) undo: &'a [Conntrack],
    pub(crate) pick: Option<usize>,
    /// The answer to a request (whose conntrack entries may be none: two
    /// pods of one bridge without br_netfilter).
    pub(crate) reply: bool,
}

impl<'a> How<'a> {
    /// A new connection, balanced as the flow's hash says.
    pub(crate) const NEW: How<'static> = How {
        undo: &[],
        pick: None,
        reply: false,
    };

    /// The same, following the `pick`-th endpoint of every Service.
    pub(crate) fn picking(self, pick: usize) -> How<'a> {
        How {
            pick: Some(pick),
            ..self
        }
    }

    /// The reply of a connection these entries know.
    pub(crate) fn reply(undo: &'a [Conntrack]) -> How<'a> {
        How {
            undo,
            pick: None,
            reply: true,
        }
    }
}

/// Keeps every hop and every rule: a [`Trace`]'s.
#[derive(Default)]
pub(crate) struct Record {
    hops: Vec<Hop>,
    rules: Vec<RuleHit>,
}

impl Recorder for Record {
    fn hop(&mut self, place: Place, step: Step, frame: &FrameRepr, outer: Option<Encap>) {
        self.hops.push(Hop {
            place,
            step,
            frame: *frame,
            outer,
        });
    }

    fn rule(&mut self, table: &str, line: String) {
        self.rules.push(RuleHit {
            hop: self.hops.len(),
            table: table.into(),
            line,
        });
    }
}

/// Keeps nothing: for callers that only need the [`Outcome`].
pub(crate) struct Quiet;

impl Recorder for Quiet {
    fn hop(&mut self, _: Place, _: Step, _: &FrameRepr, _: Option<Encap>) {}
}

/// How a walk ended, without the hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Delivered or dropped.
    pub verdict: Verdict,
    /// The frame as it left the sender.
    pub sent: Option<FrameRepr>,
    /// The frame as the receiver got it.
    pub received: Option<FrameRepr>,
    /// The conntrack entry of each node it passed, for the reply.
    pub conntrack: Vec<Conntrack>,
}

/// What a stage returns: where the frame goes next, or how the walk ends.
pub(crate) type Next = std::result::Result<At, End>;

/// The end of a walk: the last place and the verdict there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    pub(crate) place: Place,
    pub(crate) verdict: Verdict,
}

impl End {
    pub(crate) fn drop(at: Place, reason: DropReason) -> End {
        End {
            place: at,
            verdict: Verdict::Dropped { at, reason },
        }
    }

    pub(crate) fn deliver(place: Place, to: Endpoint) -> End {
        End {
            place,
            verdict: Verdict::Delivered { to },
        }
    }

    /// A host that does not forward takes a packet only for its own address.
    pub(crate) fn receive(place: Place, me: Endpoint, ip: Ipv4Addr, dst: Ipv4Addr) -> End {
        if dst == ip {
            End::deliver(place, me)
        } else {
            End::drop(place, DropReason::NotForThisHost { dst })
        }
    }
}

/// One walk's packet: the frame as it is now, and what the kernel keeps with it.
pub(crate) struct Walk<'r, R> {
    /// The outermost headers: the outer ones while encapsulated.
    pub(crate) f: FrameRepr,
    /// The frame inside VXLAN and the VNI, while encapsulated.
    pub(crate) inner: Option<(FrameRepr, u32)>,
    /// The (inner) packet's IPv4 total length.
    pub(crate) len: usize,
    /// The frame as it left the sender, once it has.
    pub(crate) sent: Option<FrameRepr>,
    /// The packet's mark (`skb->mark`): kube-proxy's masquerade and drop
    /// bits; it stays on one node.
    pub(crate) mark: u32,
    /// Which endpoint a Service's balancing chain takes (the caller's
    /// choice), or `None`: a hash of the flow, as steady as conntrack keeps
    /// a connection on its endpoint.
    pub(crate) pick: Option<usize>,
    /// The pod whose veth the frame entered the bridge from.
    pub(crate) in_port: Option<usize>,
    /// nat PREROUTING and conntrack already ran for this packet on this
    /// node (in the bridge, with br_netfilter): the tuple it had before.
    pub(crate) nat_done: Option<Tuple>,
    /// Conntrack took it as the reply of a connection it knows (no NAT
    /// rule is asked for it).
    pub(crate) answered: bool,
    /// The conntrack entry of each node passed so far.
    pub(crate) conntrack: Vec<Conntrack>,
    /// The request's, when this packet is its reply.
    pub(crate) undo: &'r [Conntrack],
    /// This packet answers a request (its socket is the client's, whatever
    /// ports the pod declares).
    pub(crate) reply: bool,
    pub(crate) rec: &'r mut R,
}

impl<R: Recorder> Walk<'_, R> {
    /// Keeps this node's conntrack entry for the packet: the tuple as it
    /// came (`before`) and as it leaves, the same where no NAT applied. A
    /// packet conntrack already knew as a reply (`answered`) adds none.
    pub(crate) fn track(&mut self, rt: &NodeRt, before: Tuple, answered: bool) {
        if answered || self.inner.is_some() {
            return;
        }
        let after = Tuple::of(&self.f);
        // A node's own packet gets its source from the route: not NAT.
        let before = match before.src.ip().is_unspecified() {
            true => Tuple {
                src: SocketAddrV4::new(*after.src.ip(), before.src.port()),
                ..before
            },
            false => before,
        };
        if !self.conntrack.iter().any(|c| c.node == rt.node.id) {
            self.conntrack.push(Conntrack {
                node: rt.node.id,
                original: before,
                translated: after,
            });
        }
    }

    pub(crate) fn hop(&mut self, place: Place, step: Step) {
        match self.inner {
            Some((inner, vni)) => {
                let outer = Encap { outer: self.f, vni };
                self.rec.hop(place, step, &inner, Some(outer));
            }
            None => self.rec.hop(place, step, &self.f, None),
        }
    }

    /// A packet over a device's MTU: dropped if DF is set (or the sender's
    /// own socket is told "message too long"), else fragmented.
    pub(crate) fn check_mtu(&mut self, place: Place, mtu: u16) -> Result<(), End> {
        let mtu_len = usize::from(mtu);
        if self.len <= mtu_len {
            return Ok(());
        }
        let f = self.inner.map_or(self.f, |(i, _)| i);
        let len = u16::try_from(self.len).unwrap_or(u16::MAX);
        if f.dont_fragment || mtu_len < 28 {
            return Err(End::drop(place, DropReason::TooBig { mtu, len }));
        }
        // Each fragment carries up to (mtu - 20) rounded down to 8 bytes.
        let per = (mtu_len - 20) / 8 * 8;
        let count = (self.len - 20).div_ceil(per);
        self.hop(
            place,
            Step::Fragment {
                mtu,
                count: u16::try_from(count).unwrap_or(u16::MAX),
            },
        );
        self.len = mtu_len;
        Ok(())
    }

    /// Records the last hop and returns the outcome.
    pub(crate) fn finish(mut self, end: End) -> Outcome {
        let step = match end.verdict {
            Verdict::Delivered { .. } => Step::Deliver,
            Verdict::Dropped { reason, .. } => Step::Drop(reason),
        };
        self.hop(end.place, step);
        let f = self.inner.map_or(self.f, |(i, _)| i);
        let received = matches!(end.verdict, Verdict::Delivered { .. }).then_some(f);
        Outcome {
            verdict: end.verdict,
            sent: self.sent,
            received,
            conntrack: self.conntrack,
        }
    }
}
impl<'c> Network<'c> {
    /// Walks a real frame (bytes) sent by `from`; a VXLAN-encapsulated
    /// one is sent as it is, its inner frame carried inside.
    pub fn trace(&self, from: Endpoint, frame: &[u8]) -> Result<Trace> {
        let (repr, encap, payload) = parse_packet(frame)?;
        let mut rec = Record::default();
        let len = repr.ip_len(payload.len());
        let out = self.walk_from(from, repr, encap, len, How::NEW, &mut rec)?;
        Ok(Trace {
            from,
            injected: encap.map_or(repr, |e| e.outer),
            sent: out.sent,
            payload: payload.to_vec(),
            hops: rec.hops,
            verdict: out.verdict,
            conntrack: out.conntrack,
            rules: rec.rules,
        })
    }
    /// Walks a frame given as headers plus payload.
    pub fn trace_repr(&self, from: Endpoint, frame: FrameRepr, payload: Vec<u8>) -> Result<Trace> {
        self.trace_answer(from, frame, payload, How::NEW)
    }

    /// Sends a test packet as [`Network::probe`] does, with every Service's
    /// balancing taking its `pick`-th endpoint (kube-proxy's order, from 0):
    /// a trace follows the endpoint its caller chose, where the kernel
    /// draws at random ([`crate::services::choices`] gives each its odds).
    pub fn probe_picking(
        &self,
        from: Endpoint,
        to: Ipv4Addr,
        kind: ProbeKind,
        pick: usize,
    ) -> Result<Trace> {
        let frame = kind.frame(Ipv4Addr::UNSPECIFIED, to);
        self.trace_answer(from, frame, Vec::new(), How::NEW.picking(pick))
    }
    /// [`Network::trace_repr`] following the endpoint `pick` (kube-proxy's
    /// order) wherever a Service's rules choose one.
    pub fn trace_picking(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        payload: Vec<u8>,
        pick: usize,
    ) -> Result<Trace> {
        self.trace_answer(from, frame, payload, How::NEW.picking(pick))
    }
    /// [`Network::trace_repr`] for a packet that answers a connection whose
    /// NAT `conntrack` holds: nodes undo it on the way.
    fn trace_answer(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        payload: Vec<u8>,
        how: How<'_>,
    ) -> Result<Trace> {
        let mut rec = Record::default();
        let len = frame.ip_len(payload.len());
        let out = self.walk_from(from, frame, None, len, how, &mut rec)?;
        Ok(Trace {
            from,
            injected: frame,
            sent: out.sent,
            payload,
            hops: rec.hops,
            verdict: out.verdict,
            conntrack: out.conntrack,
            rules: rec.rules,
        })
    }
    /// The answer to a delivered request (echo reply, SYN-ACK, UDP back),
    /// hop by hop from whoever got it to whoever it says sent it; nodes
    /// that translated the request undo that on the reply, as conntrack does.
    pub fn reply(&self, request: &Trace) -> Result<Option<Trace>> {
        match (request.verdict, request.received()) {
            (Verdict::Delivered { to }, Some(got)) => self
                .trace_answer(to, got.reply(), Vec::new(), How::reply(&request.conntrack))
                .map(Some),
            _ => Ok(None),
        }
    }
    /// [`Network::reply`] keeping only the outcome.
    pub fn reply_outcome(&self, request: &Outcome) -> Result<Option<Outcome>> {
        match (request.verdict, request.received) {
            (Verdict::Delivered { to }, Some(got)) => {
                let len = got.ip_len(0);
                let how = How::reply(&request.conntrack);
                self.walk_from(to, got.reply(), None, len, how, &mut Quiet)
                    .map(Some)
            }
            _ => Ok(None),
        }
    }
    /// Sends a test packet from `from` to `to`, the source chosen by the sender's kernel.
    pub fn probe(&self, from: Endpoint, to: Ipv4Addr, kind: ProbeKind) -> Result<Trace> {
        self.trace_repr(from, kind.frame(Ipv4Addr::UNSPECIFIED, to), Vec::new())
    }
    /// Like [`Network::probe`] but keeps only the outcome (no hop list).
    pub fn probe_outcome(&self, from: Endpoint, to: Ipv4Addr, kind: ProbeKind) -> Result<Outcome> {
        self.walk(from, kind.frame(Ipv4Addr::UNSPECIFIED, to), &mut Quiet)
    }

    /// [`Network::probe_picking`] keeping only the outcome.
    pub fn probe_outcome_picking(
        &self,
        from: Endpoint,
        to: Ipv4Addr,
        kind: ProbeKind,
        pick: usize,
    ) -> Result<Outcome> {
        let frame = kind.frame(Ipv4Addr::UNSPECIFIED, to);
        let len = frame.ip_len(0);
        self.walk_from(from, frame, None, len, How::NEW.picking(pick), &mut Quiet)
    }
    pub(crate) fn start(&self, from: Endpoint) -> Result<At> {
        let unknown = |kind, id: String| Error::Unknown { kind, name: id };
        Ok(match from {
            Endpoint::Pod(p) => At::PodSend(
                *self
                    .pod_ix
                    .get(&p.0)
                    .ok_or_else(|| unknown("pod", format!("{p:?}")))?,
            ),
            Endpoint::Node(n) => At::NodeSend(
                *self
                    .node_ix
                    .get(&n.0)
                    .ok_or_else(|| unknown("node", format!("{n:?}")))?,
            ),
            Endpoint::Client(c) => At::ClientSend(
                self.clients
                    .iter()
                    .position(|r| r.client.id == c)
                    .ok_or_else(|| unknown("client", format!("{c:?}")))?,
            ),
        })
    }

    /// Walks a frame from `from` until it is delivered or dropped. Each
    /// `process_*` stage applies the one rule the kernel applies there and
    /// returns where the frame goes next, or how the walk ends.
    pub(crate) fn walk<R: Recorder>(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        rec: &mut R,
    ) -> Result<Outcome> {
        let len = frame.ip_len(0);
        self.walk_from(from, frame, None, len, How::NEW, rec)
    }

    /// [`Network::walk`] for a frame `len` bytes long (IPv4 total length),
    /// inside `encap` if given.
    pub(crate) fn walk_from<R: Recorder>(
        &self,
        from: Endpoint,
        frame: FrameRepr,
        encap: Option<Encap>,
        len: usize,
        how: How<'_>,
        rec: &mut R,
    ) -> Result<Outcome> {
        let How { undo, pick, reply } = how;
        let mut at = self.start(from)?;
        let (f, inner) = match encap {
            Some(e) => (e.outer, Some((frame, e.vni))),
            None => (frame, None),
        };
        let mut w = Walk {
            f,
            inner,
            len,
            sent: None,
            mark: 0,
            pick,
            in_port: None,
            nat_done: None,
            answered: false,
            conntrack: Vec::new(),
            undo,
            reply,
            rec,
        };
        for _ in 0..MAX_STEPS {
            let next = match at {
                At::PodSend(p) => self.process_pod_egress(p, &mut w),
                At::Bridge(n) => self.process_bridge(n, &mut w),
                At::PodRecv(p) => Err(self.process_pod_ingress(p, &w)),
                At::NodeSend(n) => self.process_node(n, true, &mut w),
                At::NodeRecv(n) => self.process_node(n, false, &mut w),
                At::Lan(k) => self.process_lan(k, &mut w),
                At::Router => self.process_router(&mut w),
                At::ClientSend(c) => self.process_client_egress(c, &mut w),
                At::ClientRecv(c) => Err(self.process_client_ingress(c, &w)),
            };
            match next {
                Ok(next) => at = next,
                Err(end) => return Ok(w.finish(end)),
            }
        }
        Ok(w.finish(End::drop(Place::Router, DropReason::HopLimit)))
    }
}
