//! A trace as a pcapng file, as tcpdump would have captured it on every
//! wire the packet crossed: one interface per capture point (a pod's veth
//! pair, a LAN), named after it, and one record each time the frame is on
//! that wire, with a comment naming the hop.
//!
//! Steps inside a machine (a route lookup, a bridge, NAT, conntrack) are
//! not on a wire, so they are no record: a frame recorded twice unchanged
//! is what Wireshark calls a retransmission. A frame inside VXLAN is
//! recorded on the LAN with its outer headers, the pod's frame inside.
//!
//! The frames are the real bytes of each hop ([`Trace::frame_bytes`]), so
//! Wireshark shows the MAC rewrite at each router, the TTL going down and
//! the NAT rewrites. Timestamps are the hop index in milliseconds, so the
//! order is kept and nothing pretends to be a measured time.

use super::trace::{describe, Place, Step, Trace};
use crate::topology::Cluster;

const SECTION_HEADER: u32 = 0x0A0D_0D0A;
const INTERFACE: u32 = 1;
const ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const LINKTYPE_ETHERNET: u16 = 1;
const SNAPLEN: u32 = 65_535;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const IF_NAME: u16 = 2;

/// Where a hop's frame is on a wire, if it is: the capture point's place.
fn on_wire(step: &Step, place: Place) -> Option<Place> {
    match step {
        // A veth pair is one link, whichever way the frame crosses it.
        Step::CrossVeth => Some(place),
        // The frame on the LAN, as the switch passes it on.
        Step::Switch { .. } | Step::SwitchToRouter => Some(place),
        _ => None,
    }
}

/// Writes the frames of `trace` that were on a wire as a pcapng file.
pub fn to_pcapng(trace: &Trace, cluster: &Cluster) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + trace.hops.len() * 160);
    let mut shb = Vec::new();
    shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    // Section length unknown.
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    end_options(&mut shb);
    block(&mut out, SECTION_HEADER, &shb);
    let mut interfaces: Vec<Place> = Vec::new();
    for (i, h) in trace.hops.iter().enumerate() {
        let Some(point) = on_wire(&h.step, h.place) else {
            continue;
        };
        let Some(bytes) = trace.frame_bytes(i) else {
            continue;
        };
        let id = match interfaces.iter().position(|&p| p == point) {
            Some(id) => id,
            None => {
                let mut idb = Vec::new();
                idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&SNAPLEN.to_le_bytes());
                option(&mut idb, IF_NAME, point.label(cluster).as_bytes());
                end_options(&mut idb);
                block(&mut out, INTERFACE, &idb);
                interfaces.push(point);
                interfaces.len() - 1
            }
        };
        // Microseconds (the default resolution): hop i at i ms.
        let ts = i as u64 * 1000;
        let len = bytes.len() as u32;
        let mut epb = Vec::with_capacity(bytes.len() + 96);
        for v in [id as u32, (ts >> 32) as u32, ts as u32, len, len] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        epb.extend_from_slice(&bytes);
        pad(&mut epb);
        let comment = format!(
            "hop {}: {}: {}",
            i + 1,
            h.place.label(cluster),
            describe(&h.step, cluster)
        );
        option(&mut epb, OPT_COMMENT, comment.as_bytes());
        end_options(&mut epb);
        block(&mut out, ENHANCED_PACKET, &epb);
    }
    out
}

/// A block: its type, total length, body, total length again.
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    pad(out);
}

fn end_options(out: &mut Vec<u8>) {
    out.extend_from_slice(&OPT_END.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

/// To a multiple of 4 bytes, as every pcapng field is.
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// A pcapng file's records: (interface name, frame, comment). For tests
/// and tools that read back what [`to_pcapng`] wrote; `None` when the
/// bytes are not a little-endian pcapng file.
pub fn read_pcapng(file: &[u8]) -> Option<Vec<(String, Vec<u8>, String)>> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(file.get(at..at + 4)?.try_into().ok()?));
    let u16_at = |at: usize| Some(u16::from_le_bytes(file.get(at..at + 2)?.try_into().ok()?));
    if u32_at(0)? != SECTION_HEADER || u32_at(8)? != BYTE_ORDER_MAGIC {
        return None;
    }
    // The options from `at` to `end`: (code, value).
    let options = |mut at: usize, end: usize| {
        let mut found = Vec::new();
        while at + 4 <= end {
            let (code, len) = (u16_at(at)?, usize::from(u16_at(at + 2)?));
            if code == OPT_END {
                break;
            }
            if at + 4 + len > end {
                return None;
            }
            found.push((code, file.get(at + 4..at + 4 + len)?.to_vec()));
            at += 4 + len.next_multiple_of(4);
        }
        Some(found)
    };
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let (mut names, mut records, mut at) = (Vec::new(), Vec::new(), 0);
    while at + 12 <= file.len() {
        let (kind, total) = (u32_at(at)?, u32_at(at + 4)? as usize);
        // Whole 32-bit words, inside the file: anything else is not ours.
        if total < 12 || total % 4 != 0 || total > file.len() - at {
            return None;
        }
        let end = at + total - 4;
        match kind {
            INTERFACE => {
                let name = options(at + 16, end)?
                    .into_iter()
                    .find(|(c, _)| *c == IF_NAME)
                    .map_or_else(String::new, |(_, v)| text(&v));
                names.push(name);
            }
            ENHANCED_PACKET => {
                let id = u32_at(at + 8)? as usize;
                let len = u32_at(at + 20)? as usize;
                if len > end.saturating_sub(at + 28) {
                    return None;
                }
                let data = file.get(at + 28..at + 28 + len)?.to_vec();
                let comment = options(at + 28 + len.next_multiple_of(4), end)?
                    .into_iter()
                    .find(|(c, _)| *c == OPT_COMMENT)
                    .map_or_else(String::new, |(_, v)| text(&v));
                records.push((names.get(id)?.clone(), data, comment));
            }
            _ => {}
        }
        at += total;
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::scenario;

    #[test]
    fn a_damaged_file_is_none_never_a_panic() {
        let c = scenario::demo();
        let t = crate::forward::ping(&c, "pod-a", "pod-d");
        let file = to_pcapng(&t, &c);
        assert_eq!(read_pcapng(&file).map(|r| r.len()), Some(3));
        // Every truncation, and every byte changed in turn.
        for n in 0..file.len() {
            let _ = read_pcapng(&file[..n]);
            for b in [0u8, 0xff, 0x7f] {
                let mut bad = file.clone();
                bad[n] = b;
                let _ = read_pcapng(&bad);
            }
        }
        assert_eq!(read_pcapng(b"not a pcapng at all"), None);
    }
}
