//! A ping or a UDP datagram between two machines of the lab, sent from the
//! page: the request names them, this code looks them up in the lab and
//! sends from inside the sender's namespace. No shell, no user text in any
//! command: only names the lab itself made are accepted.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use nix::sys::time::TimeVal;
use serde::{Deserialize, Serialize};

use super::collect::now_us;
use crate::lab::LabState;
use crate::netlink::{self, Netns};

/// How long a probe waits for its answer.
const WAIT: Duration = Duration::from_millis(1000);
/// The payload every probe carries.
pub const PAYLOAD: &[u8] = b"podnet live probe";

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// ICMP echo request.
    #[default]
    Ping,
    /// One UDP datagram to the lab's responder port.
    Udp,
    /// One UDP datagram to the lab's NodePort on a node (DNAT to the service's pod).
    #[serde(rename = "nodeport")]
    NodePort,
}

/// A probe as the page asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// Sender: a pod or node name of the lab, or `client`.
    pub from: String,
    /// Receiver: likewise.
    pub to: String,
    /// What to send.
    #[serde(default)]
    pub proto: Proto,
}

/// What was sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// The receiver's address.
    pub dst: Ipv4Addr,
    /// What was sent.
    pub proto: Proto,
    /// ICMP identifier (ping).
    pub icmp_id: Option<u16>,
    /// ICMP sequence number (ping).
    pub icmp_seq: Option<u16>,
    /// UDP source port (udp).
    pub src_port: Option<u16>,
    /// When it was sent, µs since the Unix epoch.
    pub sent_us: u64,
    /// An answer came back (echo reply, or for UDP a reply or a port-unreachable).
    pub answered: bool,
    /// Round trip time, µs.
    pub rtt_us: Option<u64>,
}

/// Why a probe was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    /// A name that is not one of the lab's.
    #[error("{0:?} is not a pod, node or client of this lab")]
    Unknown(String),
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

/// Checks a request against the lab: (sender's namespace, receiver's address).
pub fn validate(state: &LabState, req: &ProbeRequest) -> Result<(String, Ipv4Addr), ProbeError> {
    let (ns, _) = state
        .member(&req.from)
        .ok_or_else(|| ProbeError::Unknown(req.from.clone()))?;
    let (_, dst) = state
        .member(&req.to)
        .ok_or_else(|| ProbeError::Unknown(req.to.clone()))?;
    if req.from == req.to {
        return Err(ProbeError::Same);
    }
    if req.proto == Proto::NodePort && !state.nodes.iter().any(|n| n.name == req.to) {
        return Err(ProbeError::NotANode(req.to.clone()));
    }
    Ok((ns, dst))
}

fn internet_checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn io(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Io(e.to_string())
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// One echo request from the current namespace; the reply's round trip.
fn ping(dst: Ipv4Addr, id: u16, seq: u16) -> Result<Option<Duration>, ProbeError> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000)).map_err(io)?;
    let mut pkt = vec![8u8, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(PAYLOAD);
    let sum = internet_checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    let start = Instant::now();
    let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
    sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty()).map_err(io)?;
    let mut buf = [0u8; 1500];
    while start.elapsed() < WAIT {
        let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
            continue;
        };
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        let icmp = &buf[ihl.min(n)..n];
        if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
            return Ok(Some(start.elapsed()));
        }
    }
    Ok(None)
}

/// One datagram to `dst:port`; (source port, round trip if answered).
fn udp(dst: Ipv4Addr, port: u16) -> Result<(u16, Option<Duration>), ProbeError> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io)?;
    sock.connect(SocketAddrV4::new(dst, port)).map_err(io)?;
    let port = sock.local_addr().map_err(io)?.port();
    sock.set_read_timeout(Some(WAIT)).map_err(io)?;
    let start = Instant::now();
    sock.send(PAYLOAD).map_err(io)?;
    let mut buf = [0u8; 64];
    let answered = match sock.recv(&mut buf) {
        Ok(_) => true,
        // Port unreachable came back: the datagram got there.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    };
    Ok((port, answered.then(|| start.elapsed())))
}

/// Runs a probe inside the lab.
pub fn run(state: &LabState, req: &ProbeRequest) -> Result<ProbeResult, ProbeError> {
    let (netns, dst) = validate(state, req)?;
    let ns = Netns::open(&Path::new("/run/netns").join(&netns)).map_err(io)?;
    let sent_us = now_us();
    let mut result = ProbeResult {
        from: req.from.clone(),
        to: req.to.clone(),
        dst,
        proto: req.proto,
        icmp_id: None,
        icmp_seq: None,
        src_port: None,
        sent_us,
        answered: false,
        rtt_us: None,
    };
    let rtt = match req.proto {
        Proto::Ping => {
            let id = NEXT_ID
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(std::process::id() as u16);
            result.icmp_id = Some(id);
            result.icmp_seq = Some(1);
            netlink::on_thread_in(&ns, || ping(dst, id, 1)).map_err(io)??
        }
        Proto::Udp | Proto::NodePort => {
            let to_port = match req.proto {
                Proto::NodePort => crate::lab::NODE_PORT,
                _ => crate::lab::check::PORT,
            };
            let (port, rtt) = netlink::on_thread_in(&ns, || udp(dst, to_port)).map_err(io)??;
            result.src_port = Some(port);
            rtt
        }
    };
    result.answered = rtt.is_some();
    result.rtt_us = rtt.map(|d| d.as_micros() as u64);
    Ok(result)
}
