//! Traffic inside the lab, sent from inside a member's namespace: the one
//! probe module that `lab check` and `lab serve` both use.
//!
//! - a UDP [`responder`] that answers each datagram with the source address
//!   it saw, and [`udp`], one datagram and its answer: how `lab check` tells
//!   a round trip without NAT from one with it;
//! - [`ping`], one ICMP echo request (built and read with etherparse);
//! - [`run`], what the page asks for through `POST /api/probe`: the request
//!   names two lab members, this code looks them up in the lab and sends.
//!   No shell, no user text in any command: only names the lab made.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type, Ipv4Slice};
use nix::sys::socket::{
    recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use nix::sys::time::TimeVal;
use podnet_core::lab_api::{LabProbe, ProbeRequest, ProbeResult};
use podnet_core::topology::Protocol;

use crate::state::LabState;
use crate::NODE_PORT;
use podnet_kernel::Netns;

/// The port every responder listens on (and the lab's NodePort targets).
pub const PORT: u16 = 7946;
/// The payload every probe carries.
pub const PAYLOAD: &[u8] = b"podnet live probe";
/// How long a page's probe waits for its answer.
const WAIT: Duration = Duration::from_millis(1000);

/// Answers each datagram to `ip:PORT` with the source address it came from
/// and its own (`"<seen> <ip>"`: who answered a Service), until `stop`.
/// Bound to the member's own address, not 0.0.0.0: a wildcard
/// socket on a node would answer a pod from the bridge address (the route's
/// preferred source), and the pod's connected socket would rightly drop it.
pub fn responder(
    ns: Netns,
    ip: Ipv4Addr,
    ready: mpsc::Sender<Result<(), String>>,
    stop: Arc<AtomicBool>,
) {
    let _ = ns.run(|| {
        let sock = match UdpSocket::bind((ip, PORT)) {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
        let _ = ready.send(Ok(()));
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(format!("{} {ip}", peer.ip()).as_bytes(), peer);
            }
        }
    });
}

/// What one UDP datagram found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpAnswer {
    /// The source the sender's kernel chose (address and port), if it had a route.
    pub sent: Option<SocketAddrV4>,
    /// The source a [`responder`] saw, if one answered.
    pub seen: Option<Ipv4Addr>,
    /// The responder's own address (a Service's endpoint that answered).
    pub by: Option<Ipv4Addr>,
    /// The destination refused it (ICMP port unreachable: a Service
    /// without endpoints, or nobody listening).
    pub refused: bool,
    /// Round trip, if anything came back: an answer, or a port-unreachable
    /// (the datagram got there, nobody listened).
    pub rtt: Option<Duration>,
}

/// One datagram from the current namespace to `to:port`, waiting `wait` for the answer.
pub fn udp(to: Ipv4Addr, port: u16, wait: Duration) -> UdpAnswer {
    let mut out = UdpAnswer::default();
    let Ok(sock) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
        return out;
    };
    if sock.connect(SocketAddrV4::new(to, port)).is_err() {
        return out; // no route
    }
    if let Ok(SocketAddr::V4(a)) = sock.local_addr() {
        out.sent = Some(a);
    }
    let _ = sock.set_read_timeout(Some(wait));
    let start = Instant::now();
    match sock.send(PAYLOAD) {
        Ok(_) => {}
        // The node's own netfilter rejected it on the way out (kube-proxy's
        // REJECT in OUTPUT): send fails at once, as a refusal.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            out.rtt = Some(start.elapsed());
            out.refused = true;
            return out;
        }
        Err(_) => return out,
    }
    let mut buf = [0u8; 64];
    match sock.recv(&mut buf) {
        Ok(n) => {
            out.rtt = Some(start.elapsed());
            let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
            let mut words = text.split(' ').map(|w| w.parse().ok());
            out.seen = words.next().flatten();
            out.by = words.next().flatten();
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            out.rtt = Some(start.elapsed());
            out.refused = true;
        }
        Err(_) => {}
    }
    out
}

/// One echo request from the current namespace; the reply's round trip.
pub fn ping(dst: Ipv4Addr, id: u16, seq: u16) -> Result<Option<Duration>, ProbeError> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000)).map_err(io)?;
    let echo = Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq });
    let mut pkt = Icmpv4Header::with_checksum(echo, PAYLOAD)
        .to_bytes()
        .to_vec();
    pkt.extend_from_slice(PAYLOAD);
    let start = Instant::now();
    let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
    sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty()).map_err(io)?;
    let mut buf = [0u8; 1500];
    while start.elapsed() < WAIT {
        let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
            continue;
        };
        if is_echo_reply(&buf[..n], id) {
            return Ok(Some(start.elapsed()));
        }
    }
    Ok(None)
}

/// Whether a raw socket's packet (IPv4 header first) is the echo reply for `id`.
fn is_echo_reply(packet: &[u8], id: u16) -> bool {
    let Ok(ip) = Ipv4Slice::from_slice(packet) else {
        return false;
    };
    matches!(
        Icmpv4Slice::from_slice(ip.payload().payload).map(|icmp| icmp.icmp_type()),
        Ok(Icmpv4Type::EchoReply(h)) if h.id == id
    )
}

/// Why a probe was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    /// A name that is not one of the lab's.
    #[error("{0:?} is not a pod, node, client or Service of this lab")]
    Unknown(String),
    /// A Service is probed with UDP, on a UDP port of its.
    #[error(
        "Service {0:?} is probed with UDP to one of its UDP ports (the lab's Services are UDP)"
    )]
    ServiceIsUdp(String),
    /// Sender and receiver are the same.
    #[error("sender and receiver are the same")]
    Same,
    /// A NodePort is on a node.
    #[error("a NodePort is reached through a node, and {0:?} is not one")]
    NotANode(String),
    /// The kernel refused.
    #[error("{0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Io(e.to_string())
}

/// Where a page's probe goes: the sender's namespace, the address and the
/// UDP port it is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The sender's network namespace.
    pub netns: String,
    /// The receiver's address (a member's, or a Service's ClusterIP).
    pub dst: Ipv4Addr,
    /// The UDP port (the responders', the NodePort, or the Service's).
    pub port: u16,
}

/// Checks a request against the lab. The receiver is a member, or a
/// Service by name (`web`, `default/web`): UDP to its ClusterIP, on its
/// first UDP port.
pub fn validate(state: &LabState, req: &ProbeRequest) -> Result<Target, ProbeError> {
    let (netns, _) = state
        .member(&req.from)
        .ok_or_else(|| ProbeError::Unknown(req.from.clone()))?;
    if req.from == req.to {
        return Err(ProbeError::Same);
    }
    if let Some((_, dst)) = state.member(&req.to) {
        if req.proto == LabProbe::NodePort && !state.nodes.iter().any(|n| n.name == req.to) {
            return Err(ProbeError::NotANode(req.to.clone()));
        }
        let port = if req.proto == LabProbe::NodePort {
            NODE_PORT
        } else {
            PORT
        };
        return Ok(Target { netns, dst, port });
    }
    let cluster = state.spec.build().map_err(io)?;
    let service = cluster
        .service_named(&req.to)
        .ok_or_else(|| ProbeError::Unknown(req.to.clone()))?;
    if req.proto != LabProbe::Udp {
        return Err(ProbeError::ServiceIsUdp(req.to.clone()));
    }
    let port = service
        .ports
        .iter()
        .find(|p| p.protocol == Protocol::Udp)
        .ok_or_else(|| ProbeError::ServiceIsUdp(req.to.clone()))?;
    Ok(Target {
        netns,
        dst: service.cluster_ip,
        port: port.port,
    })
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// Microseconds since the Unix epoch (the capture's clock).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Runs a page's probe inside the lab.
pub fn run(state: &LabState, req: &ProbeRequest) -> Result<ProbeResult, ProbeError> {
    let Target { netns, dst, port } = validate(state, req)?;
    let ns = Netns::open(&crate::ns_path(&netns)).map_err(io)?;
    let mut result = ProbeResult {
        from: req.from.clone(),
        to: req.to.clone(),
        dst,
        proto: req.proto,
        icmp_id: None,
        icmp_seq: None,
        src_port: None,
        sent_us: now_us(),
        answered: false,
        rtt_us: None,
    };
    let rtt = match req.proto {
        LabProbe::Ping => {
            let id = NEXT_ID
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(std::process::id() as u16);
            result.icmp_id = Some(id);
            result.icmp_seq = Some(1);
            ns.run(|| ping(dst, id, 1)).map_err(io)??
        }
        LabProbe::Udp | LabProbe::NodePort => {
            let answer = ns.run(|| udp(dst, port, WAIT)).map_err(io)?;
            let sent = answer
                .sent
                .ok_or_else(|| io(format!("no route to {dst}")))?;
            result.src_port = Some(sent.port());
            answer.rtt
        }
    };
    result.answered = rtt.is_some();
    result.rtt_us = rtt.map(|d| d.as_micros() as u64);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_replies_are_recognized_and_anything_else_is_not() {
        let reply = Icmpv4Header::with_checksum(
            Icmpv4Type::EchoReply(IcmpEchoHeader { id: 7, seq: 1 }),
            PAYLOAD,
        );
        let mut icmp = reply.to_bytes().to_vec();
        icmp.extend_from_slice(PAYLOAD);
        let ip = etherparse::Ipv4Header::new(
            icmp.len() as u16,
            64,
            etherparse::IpNumber::ICMP,
            [10, 244, 2, 2],
            [10, 244, 1, 2],
        )
        .unwrap();
        let mut packet = ip.to_bytes().to_vec();
        packet.extend_from_slice(&icmp);
        assert!(is_echo_reply(&packet, 7));
        assert!(!is_echo_reply(&packet, 8));
        for cut in 0..packet.len() {
            assert!(!is_echo_reply(&packet[..cut], 7), "cut at {cut}");
        }
        assert!(!is_echo_reply(b"\xff\x00garbage", 7));
    }
}
