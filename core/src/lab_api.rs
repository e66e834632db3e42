//! The messages of `podnet lab serve`'s HTTP API, for the server and the page alike.
//!
//! Contract: every type the lab server sends or receives is defined here,
//! once, as plain serde data; the lab server serializes them and the browser
//! deserializes them, so a change on one side does not compile without the
//! other. Nothing here does I/O.
//!
//! | route | body |
//! |---|---|
//! | `GET /api/lab` | [`LabView`] |
//! | `POST /api/probe` | [`ProbeRequest`] → [`ProbeResult`] |
//! | `GET /api/stream` | WebSocket of [`Event`]s |
//! | `GET /api/traces?after=N` | `[`[`LiveTrace`]`]` |
//! | `GET /api/stats` | [`StatsView`] |
//! | any error | [`ErrorBody`] |
//!
//! `podnet lab record` writes the same messages into one [`Recording`],
//! which the page plays back without a lab.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::forward::{L4Repr, Proto, Trace};
use crate::topology::spec::ClusterSpec;
use crate::topology::Cluster;

/// What a namespace is in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The LAN switch.
    Lan,
    /// A node's host namespace.
    Node,
    /// A pod.
    Pod,
    /// The machine outside the cluster.
    Client,
}

/// A link as the kernel reports it, with its IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind (`veth`, `bridge`; empty for plain devices such as `lo`).
    pub kind: String,
    /// MAC address.
    pub mac: String,
    /// The bridge it is a port of.
    pub controller: Option<u32>,
    /// The peer's index (veth), possibly in another namespace.
    pub peer: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// MTU.
    pub mtu: Option<u32>,
    /// The largest IPv4 GSO packet the link takes (`gso_ipv4_max_size`).
    pub gso_max: u32,
    /// IPv4 addresses.
    pub addrs: Vec<Ipv4Network>,
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// Destination.
    pub dst: String,
    /// Gateway.
    pub via: Option<Ipv4Addr>,
    /// Who added it (`rtm_protocol`: 2 kernel, 3 boot, 4 static, 150 podnet).
    pub proto: u8,
}

/// One namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsView {
    /// The namespace (`/run/netns/…`).
    pub netns: String,
    /// What it is.
    pub role: Role,
    /// The node, pod or client name.
    pub name: String,
    /// Its links.
    pub links: Vec<LinkView>,
    /// Its main table's IPv4 routes.
    pub routes: Vec<RouteView>,
}

/// `GET /api/lab`: the whole lab as its kernels report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabView {
    /// Lab name.
    pub name: String,
    /// The cluster as the kernels report it, in the cluster file's format.
    pub spec: ClusterSpec,
    /// Every namespace.
    pub namespaces: Vec<NsView>,
    /// A Kubernetes lab: how each node joined, as `lab up` saw it on the API server.
    #[serde(default)]
    pub joins: Vec<NodeJoinView>,
}

/// One node joining a Kubernetes lab, observed on its API server by `lab
/// up`: milliseconds since `lab up` started, for each of the moments
/// [`join::timeline`](crate::join::timeline) models.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeJoinView {
    /// Node name.
    pub name: String,
    /// The Node object appeared (its kubelet registered it).
    pub registered_ms: Option<u64>,
    /// `spec.podCIDR` appeared.
    pub range_ms: Option<u64>,
    /// The range node IPAM gave.
    pub pod_cidr: Option<String>,
    /// The CNI config appeared in the node's `/etc/cni/net.d`.
    pub cni_config_ms: Option<u64>,
    /// The Ready condition turned True.
    pub ready_ms: Option<u64>,
    /// The Ready condition's message while NotReady, as the kubelet wrote it.
    pub not_ready_message: Option<String>,
    /// Ranges node IPAM took and gave back after the previous node's range
    /// and before this one's, as kube-controller-manager's log says: each
    /// moved it on, so this node's range is that many further on
    /// ([`join::Taken::Released`](crate::join::Taken::Released)).
    #[serde(default)]
    pub given_back_before: u32,
}

impl LabView {
    /// The cluster the kernels describe, as core models it.
    pub fn cluster(&self) -> Result<Cluster> {
        self.spec.build()
    }
}

/// What a lab probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabProbe {
    /// An ICMP echo request.
    #[default]
    Ping,
    /// One UDP datagram to the lab's responder port.
    Udp,
    /// One UDP datagram to the lab's NodePort on a node (DNAT to the service's pod).
    #[serde(rename = "nodeport")]
    NodePort,
}

impl LabProbe {
    /// Every choice, in menu order.
    pub const ALL: [LabProbe; 3] = [LabProbe::Ping, LabProbe::Udp, LabProbe::NodePort];

    /// The packet's protocol.
    pub fn proto(self) -> Proto {
        match self {
            LabProbe::Ping => Proto::Ping,
            LabProbe::Udp | LabProbe::NodePort => Proto::Udp,
        }
    }

    /// The name on the wire (`ping`, `udp`, `nodeport`).
    pub fn key(self) -> &'static str {
        match self {
            LabProbe::Ping => "ping",
            LabProbe::Udp => "udp",
            LabProbe::NodePort => "nodeport",
        }
    }

    /// Parses a wire name.
    pub fn from_key(s: &str) -> Option<LabProbe> {
        LabProbe::ALL.into_iter().find(|p| p.key() == s)
    }
}

/// `POST /api/probe`: send one packet between two machines of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// Sender: a pod or node name of the lab, or `client`.
    pub from: String,
    /// Receiver: likewise, or a Service's name (UDP to its ClusterIP).
    pub to: String,
    /// What to send.
    #[serde(default)]
    pub proto: LabProbe,
}

/// What a probe sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// The receiver's address.
    pub dst: Ipv4Addr,
    /// What was sent.
    pub proto: LabProbe,
    /// ICMP identifier (ping).
    pub icmp_id: Option<u16>,
    /// ICMP sequence number (ping).
    pub icmp_seq: Option<u16>,
    /// UDP source port (udp, nodeport).
    pub src_port: Option<u16>,
    /// When it was sent, µs since the Unix epoch.
    pub sent_us: u64,
    /// An answer came back (echo reply, or for UDP a reply or a port-unreachable).
    pub answered: bool,
    /// Round trip time, µs.
    pub rtt_us: Option<u64>,
}

impl ProbeResult {
    /// Whether a captured packet is the request this probe sent: same
    /// destination, and the ICMP id or UDP source port it was given.
    pub fn sent(&self, t: &LiveTrace) -> bool {
        let Some(sent) = t.trace.sent else {
            return false;
        };
        sent.dst == self.dst
            && match sent.l4 {
                L4Repr::IcmpEcho {
                    request: true, id, ..
                } => self.icmp_id == Some(id),
                L4Repr::Udp { src_port, .. } => self.src_port == Some(src_port),
                _ => false,
            }
    }
}

/// One packet as a live lab's kernels handled it: what the lab's server
/// streams to the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTrace {
    /// Sequence number, from 1.
    pub id: u64,
    /// Kernel timestamp of the first frame, µs since the Unix epoch.
    pub first_us: u64,
    /// Kernel timestamp of the last frame.
    pub last_us: u64,
    /// When the trace was assembled, µs since the Unix epoch.
    pub assembled_us: u64,
    /// Frames captured for it.
    pub frames: usize,
    /// The packet's path, in the simulation's format.
    pub trace: Trace,
}

/// A message on the live stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A packet was captured (boxed: it is far larger than the other message).
    Trace(Box<LiveTrace>),
    /// This client was too slow and missed this many messages.
    Lagged(u64),
    /// The lab's members changed (a Kubernetes lab's Pods came or went):
    /// read `GET /api/lab` again. Carries how many Pods it has now.
    Changed(usize),
}

/// What a page would have received from a lab for a few probes, kept in
/// one file (`podnet lab record`): scene i plays it back on a page served
/// anywhere, without root or a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The podnet version that recorded it.
    pub podnet: String,
    /// When, µs since the Unix epoch.
    pub recorded_us: u64,
    /// `GET /api/lab` at the time.
    pub lab: LabView,
    /// The probes sent, in order.
    pub sends: Vec<RecordedSend>,
}

/// One probe of a [`Recording`] and the packets captured for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSend {
    /// `POST /api/probe`'s body.
    pub request: ProbeRequest,
    /// Its answer.
    pub result: ProbeResult,
    /// The probe's packets the stream carried: the request (the one
    /// [`ProbeResult::sent`] finds), its reply or the ICMP error about it.
    pub traces: Vec<LiveTrace>,
}

/// The capture counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// Frames read from the sockets.
    pub read: u64,
    /// Frames captured.
    pub captured: u64,
    /// Frames ignored.
    pub ignored: u64,
    /// Dropped: queue full.
    pub dropped_queue: u64,
    /// Dropped: socket buffer full.
    pub dropped_kernel: u64,
    /// Dropped: too many open packets.
    pub dropped_open: u64,
    /// Traces assembled.
    pub traces: u64,
    /// Trace messages WebSocket clients missed.
    pub ws_lagged: u64,
}

/// `GET /api/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    /// Capture counters.
    pub capture: CaptureStats,
    /// Packets being assembled.
    pub open: usize,
    /// Packets kept for `/api/traces`.
    pub recent: usize,
    /// The server's resident memory, KiB.
    pub rss_kib: u64,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong, for a person.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_requests_keep_their_wire_names_and_refuse_the_rest() {
        let r: ProbeRequest =
            serde_json::from_str(r#"{"from":"client","to":"node1","proto":"nodeport"}"#).unwrap();
        assert_eq!(r.proto, LabProbe::NodePort);
        let r: ProbeRequest = serde_json::from_str(r#"{"from":"a","to":"b"}"#).unwrap();
        assert_eq!(r.proto, LabProbe::Ping);
        let e = serde_json::from_str::<ProbeRequest>(r#"{"from":"a","to":"b","proto":"tcp"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        assert!(serde_json::from_str::<ProbeRequest>(r#"{"from":"a","to":"b","x":1}"#).is_err());
        for p in LabProbe::ALL {
            assert_eq!(LabProbe::from_key(p.key()), Some(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.key())
            );
        }
    }
}
