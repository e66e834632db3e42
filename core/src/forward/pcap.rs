//! A trace as a classic libpcap file (Ethernet link type), one record per
//! hop whose frame has its destination MAC (the sender's route lookup,
//! before ARP, is left out: no such frame is ever on a wire).
//!
//! The frames are the real bytes of each hop ([`Trace::frame_bytes`]), so
//! Wireshark shows the MAC rewrite at each router, the TTL going down and
//! the NAT rewrites. Timestamps are the hop index in milliseconds, so the
//! order is kept and nothing pretends to be a measured time.

use super::trace::Trace;
use crate::net::MacAddr;

const MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65_535;

/// Writes the trace's hops as a pcap file.
pub fn to_pcap(trace: &Trace) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + trace.hops.len() * 128);
    for v in [
        MAGIC.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
    ] {
        out.extend_from_slice(v);
    }
    for v in [0u32, 0, SNAPLEN, LINKTYPE_ETHERNET] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, h) in trace.hops.iter().enumerate() {
        // Before ARP has answered a frame has no destination MAC: it is a
        // routing decision, not yet a frame on any wire.
        if h.frame.dst_mac == MacAddr::default() {
            continue;
        }
        let Some(bytes) = trace.frame_bytes(i) else {
            continue;
        };
        let len = bytes.len() as u32;
        for v in [0u32, i as u32 * 1000, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&bytes);
    }
    out
}
