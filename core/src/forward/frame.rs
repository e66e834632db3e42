//! Real frames: parsed from bytes and emitted to bytes with etherparse.
//!
//! etherparse provides the zero-copy views and the header writers; this file
//! adds the small `Copy` value [`FrameRepr`] the simulation carries from hop
//! to hop (the Ethernet + IPv4 + ICMP/UDP/TCP fields a router looks at or
//! rewrites). [`FrameRepr::parse`] validates, [`FrameRepr::emit`] writes a
//! frame with correct IPv4 and transport checksums, so every hop of a trace
//! can be turned back into the exact bytes that would be on that wire.
//! IPv4 options, TCP options, VLAN tags and fragments are not carried.

use std::net::Ipv4Addr;

use etherparse::{
    EtherType, Ethernet2Header, IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpNumber, Ipv4Header,
    LinkHeader, NetHeaders, PacketHeaders, TcpHeader, TransportHeader, UdpHeader,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::MacAddr;

/// TCP flag bits as on the wire (FIN = 0x01 … CWR = 0x80).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// The transport layer as the model carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum L4Repr {
    /// ICMP echo request (ping) or reply.
    IcmpEcho {
        /// Request (type 8) or reply (type 0).
        request: bool,
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
    /// Any other ICMP message, carried as its first eight bytes.
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// Bytes 4..8 of the header.
        rest: [u8; 4],
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// TCP (without options).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Flags, see [`tcp_flags`].
        flags: u8,
        /// Window size.
        window: u16,
    },
    /// Another IP protocol, its bytes left in the payload.
    Unknown {
        /// IP protocol number.
        protocol: u8,
    },
}

impl L4Repr {
    /// TCP or UDP, as a Service's or a container's port names it (`None`: ICMP).
    pub fn transport(&self) -> Option<crate::topology::Protocol> {
        match self {
            L4Repr::Tcp { .. } => Some(crate::topology::Protocol::Tcp),
            L4Repr::Udp { .. } => Some(crate::topology::Protocol::Udp),
            _ => None,
        }
    }

    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            L4Repr::IcmpEcho { .. } | L4Repr::Icmp { .. } => 1,
            L4Repr::Tcp { .. } => 6,
            L4Repr::Udp { .. } => 17,
            L4Repr::Unknown { protocol } => *protocol,
        }
    }

    /// Source and destination ports for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            L4Repr::Udp { src_port, dst_port }
            | L4Repr::Tcp {
                src_port, dst_port, ..
            } => Some((src_port, dst_port)),
            _ => None,
        }
    }

    /// Rewrites ports (NAT); a no-op for protocols without ports.
    pub fn set_ports(&mut self, src: u16, dst: u16) {
        if let L4Repr::Udp { src_port, dst_port }
        | L4Repr::Tcp {
            src_port, dst_port, ..
        } = self
        {
            *src_port = src;
            *dst_port = dst;
        }
    }
}

/// The headers of one Ethernet/IPv4 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameRepr {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// IPv4 source; 0.0.0.0 in an injected frame means "let the sender's kernel choose".
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// Don't-fragment bit.
    pub dont_fragment: bool,
    /// Transport header.
    pub l4: L4Repr,
}

impl FrameRepr {
    /// Parses an Ethernet II frame carrying IPv4; returns the headers and the payload after them.
    pub fn parse(bytes: &[u8]) -> Result<(FrameRepr, &[u8])> {
        let headers = PacketHeaders::from_ethernet_slice(bytes)
            .map_err(|e| Error::MalformedFrame(e.to_string()))?;
        let eth = match headers.link {
            Some(LinkHeader::Ethernet2(eth)) => eth,
            _ => return Err(Error::MalformedFrame("no Ethernet II header".into())),
        };
        if !headers.link_exts.is_empty() {
            return Err(Error::UnsupportedFrame(
                "VLAN/MACsec tagged frames are not modelled".into(),
            ));
        }
        let ip = match headers.net {
            Some(NetHeaders::Ipv4(ip, _)) => ip,
            Some(NetHeaders::Ipv6(..)) => {
                return Err(Error::UnsupportedFrame(
                    "IPv6: podnet models IPv4 pod networks".into(),
                ))
            }
            Some(NetHeaders::Arp(_)) => {
                return Err(Error::UnsupportedFrame(
                    "ARP: inject an IPv4 packet; ARP is resolved by the model".into(),
                ))
            }
            None => {
                return Err(Error::UnsupportedFrame(format!(
                    "ether type {:#06x} is not IPv4",
                    u16::from(eth.ether_type)
                )))
            }
        };
        if ip.is_fragmenting_payload() {
            return Err(Error::UnsupportedFrame(
                "IPv4 fragments are not modelled".into(),
            ));
        }
        let l4 = match headers.transport {
            Some(TransportHeader::Icmpv4(h)) => match h.icmp_type {
                Icmpv4Type::EchoRequest(e) => L4Repr::IcmpEcho {
                    request: true,
                    id: e.id,
                    seq: e.seq,
                },
                Icmpv4Type::EchoReply(e) => L4Repr::IcmpEcho {
                    request: false,
                    id: e.id,
                    seq: e.seq,
                },
                Icmpv4Type::TimestampRequest(_) | Icmpv4Type::TimestampReply(_) => {
                    return Err(Error::UnsupportedFrame(
                        "ICMP timestamp messages are not modelled".into(),
                    ))
                }
                _ => {
                    let b = h.to_bytes();
                    L4Repr::Icmp {
                        icmp_type: b[0],
                        code: b[1],
                        rest: [b[4], b[5], b[6], b[7]],
                    }
                }
            },
            Some(TransportHeader::Udp(h)) => L4Repr::Udp {
                src_port: h.source_port,
                dst_port: h.destination_port,
            },
            Some(TransportHeader::Tcp(h)) => {
                let bits = [h.fin, h.syn, h.rst, h.psh, h.ack, h.urg, h.ece, h.cwr];
                let flags = bits
                    .iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &on)| acc | (u8::from(on) << i));
                L4Repr::Tcp {
                    src_port: h.source_port,
                    dst_port: h.destination_port,
                    seq: h.sequence_number,
                    ack: h.acknowledgment_number,
                    flags,
                    window: h.window_size,
                }
            }
            Some(other) => return Err(Error::UnsupportedFrame(format!("{other:?} inside IPv4"))),
            None => L4Repr::Unknown {
                protocol: ip.protocol.0,
            },
        };
        let repr = FrameRepr {
            src_mac: MacAddr(eth.source),
            dst_mac: MacAddr(eth.destination),
            src: Ipv4Addr::from(ip.source),
            dst: Ipv4Addr::from(ip.destination),
            ttl: ip.time_to_live,
            ident: ip.identification,
            dont_fragment: ip.dont_fragment,
            l4,
        };
        Ok((repr, headers.payload.slice()))
    }

    /// Writes the frame with `payload` after the transport header, all checksums computed.
    pub fn emit(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let too_big = |e: String| Error::MalformedFrame(format!("cannot emit: {e}"));
        let transport: Option<TransportHeader> = match self.l4 {
            L4Repr::IcmpEcho { request, id, seq } => {
                let echo = IcmpEchoHeader { id, seq };
                let t = if request {
                    Icmpv4Type::EchoRequest(echo)
                } else {
                    Icmpv4Type::EchoReply(echo)
                };
                Some(TransportHeader::Icmpv4(Icmpv4Header::new(t)))
            }
            L4Repr::Icmp {
                icmp_type,
                code,
                rest,
            } => Some(TransportHeader::Icmpv4(Icmpv4Header::new(
                Icmpv4Type::Unknown {
                    type_u8: icmp_type,
                    code_u8: code,
                    bytes5to8: rest,
                },
            ))),
            L4Repr::Udp { src_port, dst_port } => Some(TransportHeader::Udp(UdpHeader {
                source_port: src_port,
                destination_port: dst_port,
                length: 0,
                checksum: 0,
            })),
            L4Repr::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
            } => {
                let mut h = TcpHeader::new(src_port, dst_port, seq, window);
                h.acknowledgment_number = ack;
                let bit = |b: u8| flags & b != 0;
                (h.fin, h.syn, h.rst, h.psh) = (bit(0x01), bit(0x02), bit(0x04), bit(0x08));
                (h.ack, h.urg, h.ece, h.cwr) = (bit(0x10), bit(0x20), bit(0x40), bit(0x80));
                Some(TransportHeader::Tcp(h))
            }
            L4Repr::Unknown { .. } => None,
        };
        let l4_len = transport.as_ref().map_or(0, |t| t.header_len()) + payload.len();
        let l4_len = u16::try_from(l4_len).map_err(|e| too_big(e.to_string()))?;
        let mut ip = Ipv4Header::new(
            l4_len,
            self.ttl,
            IpNumber(self.l4.protocol()),
            self.src.octets(),
            self.dst.octets(),
        )
        .map_err(|e| too_big(e.to_string()))?;
        ip.identification = self.ident;
        ip.dont_fragment = self.dont_fragment;
        let eth = Ethernet2Header {
            source: self.src_mac.0,
            destination: self.dst_mac.0,
            ether_type: EtherType::IPV4,
        };
        let mut out = Vec::with_capacity(eth.header_len() + ip.header_len() + usize::from(l4_len));
        let io = |e: std::io::Error| too_big(e.to_string());
        eth.write(&mut out).map_err(io)?;
        ip.write(&mut out).map_err(io)?;
        if let Some(mut t) = transport {
            if let TransportHeader::Udp(u) = &mut t {
                u.length = l4_len;
            }
            t.update_checksum_ipv4(&ip, payload)
                .map_err(|e| too_big(e.to_string()))?;
            t.write(&mut out).map_err(io)?;
        }
        out.extend_from_slice(payload);
        Ok(out)
    }
}

impl FrameRepr {
    /// The IPv4 total length of this frame carrying `payload` bytes after
    /// its transport header (what an MTU is compared with).
    pub fn ip_len(&self, payload: usize) -> usize {
        let l4 = match self.l4 {
            L4Repr::IcmpEcho { .. } | L4Repr::Icmp { .. } | L4Repr::Udp { .. } => 8,
            L4Repr::Tcp { .. } => 20,
            L4Repr::Unknown { .. } => 0,
        };
        20 + l4 + payload
    }
}

/// The 8-byte VXLAN header (RFC 7348): flags with the I bit, 24 reserved
/// bits, the 24-bit VNI, 8 reserved bits.
pub const VXLAN_HEADER_LEN: usize = 8;

/// The outer headers of a VXLAN-encapsulated frame: Ethernet, IPv4 and UDP
/// (as a [`FrameRepr`] whose transport is [`L4Repr::Udp`]) and the VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Encap {
    /// Outer Ethernet, IPv4 and UDP.
    pub outer: FrameRepr,
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
}

impl Encap {
    /// The 8-byte VXLAN header.
    pub fn header(&self) -> [u8; VXLAN_HEADER_LEN] {
        let v = self.vni.to_be_bytes();
        [0x08, 0, 0, 0, v[1], v[2], v[3], 0]
    }

    /// The whole encapsulated frame: outer headers, VXLAN header, `inner` frame bytes.
    pub fn emit(&self, inner: &[u8]) -> Result<Vec<u8>> {
        let mut payload = Vec::with_capacity(VXLAN_HEADER_LEN + inner.len());
        payload.extend_from_slice(&self.header());
        payload.extend_from_slice(inner);
        self.outer.emit(&payload)
    }
}

/// UDP ports whose payload is taken for VXLAN: podnet's and flannel's
/// 8472, and IANA's 4789.
pub const VXLAN_PORTS: [u16; 2] = [8472, 4789];

/// Parses a frame that may be VXLAN-encapsulated: a UDP datagram to a
/// [`VXLAN_PORTS`] port with the I flag set is opened, and the inner frame
/// is returned with the outer headers beside it. Any input gives a value or
/// a typed error, never a panic.
pub fn parse_packet(bytes: &[u8]) -> Result<(FrameRepr, Option<Encap>, &[u8])> {
    let (outer, payload) = FrameRepr::parse(bytes)?;
    let vxlan = matches!(outer.l4, L4Repr::Udp { dst_port, .. } if VXLAN_PORTS.contains(&dst_port));
    if !vxlan {
        return Ok((outer, None, payload));
    }
    let Some((header, inner)) = payload.split_first_chunk::<VXLAN_HEADER_LEN>() else {
        return Err(Error::MalformedFrame(format!(
            "VXLAN: {} bytes after UDP, the header alone is 8",
            payload.len()
        )));
    };
    if header[0] & 0x08 == 0 {
        return Err(Error::MalformedFrame(
            "VXLAN: the I flag (a valid VNI) is not set".into(),
        ));
    }
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    let (inner, rest) = FrameRepr::parse(inner)
        .map_err(|e| Error::MalformedFrame(format!("VXLAN VNI {vni}: inner frame: {e}")))?;
    Ok((inner, Some(Encap { outer, vni }), rest))
}

/// A test packet's protocol as a person names it: the CLI's `--proto`, the
/// sandbox's menu and URL, and (through [`LabProbe`](crate::lab_api::LabProbe))
/// the lab's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// ICMP echo request.
    Ping,
    /// A UDP datagram.
    Udp,
    /// A TCP SYN.
    Tcp,
}

impl Proto {
    /// Every choice, in menu order.
    pub const ALL: [Proto; 3] = [Proto::Ping, Proto::Udp, Proto::Tcp];

    /// The name (`ping`, `udp`, `tcp`).
    pub fn key(self) -> &'static str {
        match self {
            Proto::Ping => "ping",
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }

    /// Parses a name.
    pub fn from_key(s: &str) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| p.key() == s)
    }

    /// The test packet, to `port` where the protocol has ports.
    pub fn probe(self, port: u16) -> ProbeKind {
        match self {
            Proto::Ping => ProbeKind::Ping,
            Proto::Udp => ProbeKind::Udp(port),
            Proto::Tcp => ProbeKind::TcpSyn(port),
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for Proto {
    type Err = Error;
    fn from_str(s: &str) -> Result<Proto> {
        Proto::from_key(s).ok_or_else(|| {
            let names: Vec<&str> = Proto::ALL.iter().map(|p| p.key()).collect();
            Error::config("proto", format!("{s:?} is not one of {}", names.join(", ")))
        })
    }
}

/// What to send: the kind of a test packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeKind {
    /// ICMP echo request.
    Ping,
    /// A UDP datagram to a port.
    Udp(u16),
    /// A TCP SYN to a port.
    TcpSyn(u16),
}

impl FrameRepr {
    /// The answer a receiving stack sends: addresses and ports swapped (MACs
    /// left for its kernel to fill in), an echo request answered by an echo
    /// reply, a SYN by a SYN-ACK.
    pub fn reply(&self) -> FrameRepr {
        let l4 = match self.l4 {
            L4Repr::IcmpEcho { id, seq, .. } => L4Repr::IcmpEcho {
                request: false,
                id,
                seq,
            },
            L4Repr::Udp { src_port, dst_port } => L4Repr::Udp {
                src_port: dst_port,
                dst_port: src_port,
            },
            L4Repr::Tcp {
                src_port,
                dst_port,
                seq,
                flags,
                window,
                ..
            } => L4Repr::Tcp {
                src_port: dst_port,
                dst_port: src_port,
                seq: 1,
                ack: seq.wrapping_add(1),
                flags: if flags & tcp_flags::SYN != 0 {
                    tcp_flags::SYN | tcp_flags::ACK
                } else {
                    tcp_flags::ACK
                },
                window,
            },
            other => other,
        };
        FrameRepr {
            src_mac: MacAddr::default(),
            dst_mac: MacAddr::default(),
            src: self.dst,
            dst: self.src,
            ttl: 64,
            ident: 1,
            dont_fragment: true,
            l4,
        }
    }
}

impl ProbeKind {
    /// The frame a fresh socket would send to `dst`: MACs and (if `src` is
    /// 0.0.0.0) the source address are left for the sender's kernel to fill in.
    pub fn frame(self, src: Ipv4Addr, dst: Ipv4Addr) -> FrameRepr {
        let l4 = match self {
            ProbeKind::Ping => L4Repr::IcmpEcho {
                request: true,
                id: 0x1d0e,
                seq: 1,
            },
            ProbeKind::Udp(port) => L4Repr::Udp {
                src_port: 40000,
                dst_port: port,
            },
            ProbeKind::TcpSyn(port) => L4Repr::Tcp {
                src_port: 40000,
                dst_port: port,
                seq: 1,
                ack: 0,
                flags: tcp_flags::SYN,
                window: 64240,
            },
        };
        FrameRepr {
            src_mac: MacAddr::default(),
            dst_mac: MacAddr::default(),
            src,
            dst,
            ttl: 64,
            ident: 1,
            dont_fragment: true,
            l4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_parse_is_identity_with_valid_checksums() {
        let dst = Ipv4Addr::new(10, 244, 2, 2);
        for kind in [ProbeKind::Ping, ProbeKind::Udp(53), ProbeKind::TcpSyn(80)] {
            let mut f = kind.frame(Ipv4Addr::new(10, 244, 1, 2), dst);
            f.src_mac = MacAddr([2, 0, 0, 0, 0, 1]);
            let bytes = f.emit(b"hello").unwrap();
            let (back, payload) = FrameRepr::parse(&bytes).unwrap();
            assert_eq!(back, f);
            assert_eq!(payload, b"hello");
            // etherparse's slice view checks the IPv4 header checksum for us.
            let sliced = etherparse::SlicedPacket::from_ethernet(&bytes).unwrap();
            if let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net {
                assert_eq!(
                    ip.header().header_checksum(),
                    ip.header().to_header().calc_header_checksum()
                );
            }
        }
    }

    #[test]
    fn vxlan_round_trip_and_truncations_are_errors() {
        let inner =
            ProbeKind::Ping.frame(Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 2, 2));
        let mut outer = ProbeKind::Udp(8472).frame(
            Ipv4Addr::new(192, 168, 1, 11),
            Ipv4Addr::new(192, 168, 2, 12),
        );
        outer.dont_fragment = false;
        let encap = Encap {
            outer,
            vni: 0x00ab_cdef,
        };
        let inner_bytes = inner.emit(b"data").unwrap();
        let bytes = encap.emit(&inner_bytes).unwrap();
        assert_eq!(bytes.len(), inner_bytes.len() + 50, "VXLAN adds 50 bytes");
        let (got, e, payload) = parse_packet(&bytes).unwrap();
        assert_eq!((got, e, payload), (inner, Some(encap), &b"data"[..]));
        for cut in 0..bytes.len() {
            // Every truncation is a typed error or a shorter valid frame, never a panic.
            let _ = parse_packet(&bytes[..cut]);
        }
        let mut no_flag = bytes.clone();
        no_flag[42] = 0;
        assert!(
            matches!(parse_packet(&no_flag), Err(Error::MalformedFrame(m)) if m.contains("I flag"))
        );
    }

    #[test]
    fn refuses_what_it_does_not_model() {
        assert!(matches!(
            FrameRepr::parse(&[0u8; 5]),
            Err(Error::MalformedFrame(_))
        ));
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert!(FrameRepr::parse(&arp).is_err());
    }

    #[test]
    fn a_big_tcp_capture_is_refused_not_misread() {
        // With BIG TCP a GSO packet over 64 KiB carries total length 0, and a
        // capture keeps only the first 64 KiB of it.
        let f =
            ProbeKind::TcpSyn(80).frame(Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 2, 2));
        let mut bytes = f.emit(&[7u8; 1000]).unwrap();
        bytes.resize(65_536, 7);
        bytes[16..18].copy_from_slice(&[0, 0]);
        assert!(matches!(
            FrameRepr::parse(&bytes),
            Err(Error::MalformedFrame(_))
        ));
    }
}
