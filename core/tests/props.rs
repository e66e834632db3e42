//! Properties: nothing panics on any input, allocators keep their invariants,
//! and any host-gw cluster meets the CNI requirements. Host only: proptest
//! needs the OS's randomness.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use podnet_core::alloc::{AllocKey, ClusterAllocator, NodeIpam};
use podnet_core::forward::{FrameRepr, L4Repr, Matrix, Network, ProbeKind};
use podnet_core::net::{parse_cidr, MacAddr};
use podnet_core::topology::{Backend, Cluster, Endpoint, NodeId, NodeOptions, DEFAULT_UNDERLAY};
use proptest::prelude::*;

fn l4() -> impl Strategy<Value = L4Repr> {
    prop_oneof![
        (any::<bool>(), any::<u16>(), any::<u16>())
            .prop_map(|(request, id, seq)| L4Repr::IcmpEcho { request, id, seq }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(src_port, dst_port)| L4Repr::Udp { src_port, dst_port }),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u16>()
        )
            .prop_map(
                |(src_port, dst_port, seq, ack, flags, window)| L4Repr::Tcp {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window
                }
            ),
    ]
}

fn frame() -> impl Strategy<Value = FrameRepr> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        l4(),
    )
        .prop_map(
            |(s, d, src, dst, ttl, ident, dont_fragment, l4)| FrameRepr {
                src_mac: MacAddr(s),
                dst_mac: MacAddr(d),
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                ttl,
                ident,
                dont_fragment,
                l4,
            },
        )
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = FrameRepr::parse(&bytes);
    }

    #[test]
    fn emit_parse_round_trips(f in frame(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let bytes = f.emit(&payload).unwrap();
        let (back, p) = FrameRepr::parse(&bytes).unwrap();
        prop_assert_eq!(back, f);
        prop_assert_eq!(p, &payload[..]);
    }

    #[test]
    fn any_cidr_text_or_prefix_is_an_error_not_a_panic(s in "\\PC{0,24}", a in any::<u32>(), len in 0u8..40, node in 0u8..40) {
        let _ = parse_cidr(&s);
        if let Ok(net) = Ipv4Network::new(Ipv4Addr::from(a), len.min(32)) {
            let _ = ClusterAllocator::new(net, node);
            let _ = NodeIpam::for_subnet(net);
        }
    }

    #[test]
    fn node_ipam_never_hands_out_an_address_twice(ops in proptest::collection::vec((any::<bool>(), 0u8..40), 1..300), prefix in 24u8..=29) {
        let subnet = Ipv4Network::new(Ipv4Addr::new(10, 244, 7, 0), prefix).unwrap();
        let mut ipam = NodeIpam::for_subnet(subnet).unwrap();
        for (add, who) in ops {
            let key = AllocKey::new(format!("c{who}"), "eth0");
            let before = ipam.clone();
            let res = if add { ipam.allocate(key).map(|_| ()) } else { ipam.release(&key).map(|_| ()) };
            if res.is_err() {
                prop_assert_eq!(&ipam, &before, "a refused operation changes nothing");
            }
        }
        let all = ipam.allocations();
        let ips: HashSet<Ipv4Addr> = all.iter().map(|a| a.ip).collect();
        prop_assert_eq!(ips.len(), all.len());
        for a in &all {
            prop_assert!(subnet.contains(a.ip) && a.ip != subnet.network() && a.ip != subnet.broadcast() && a.ip != ipam.gateway());
        }
        let back: NodeIpam = serde_json::from_str(&serde_json::to_string(&ipam).unwrap()).unwrap();
        prop_assert_eq!(back, ipam);
    }

    #[test]
    fn cluster_ranges_never_overlap(ops in proptest::collection::vec((any::<bool>(), 0u32..16), 1..100)) {
        let mut a = ClusterAllocator::new(parse_cidr("10.244.0.0/20").unwrap(), 24).unwrap();
        let mut held: Vec<Ipv4Network> = Vec::new();
        for (add, i) in ops {
            if add {
                if let Ok(r) = a.allocate() { held.push(r); }
            } else if let Some(r) = held.get(i as usize % held.len().max(1)).copied() {
                a.release(r).unwrap();
                held.retain(|&x| x != r);
            }
        }
        let got: Vec<Ipv4Network> = a.allocated().collect();
        for (i, x) in got.iter().enumerate() {
            for y in &got[i + 1..] {
                prop_assert!(!x.overlaps(*y));
            }
        }
        prop_assert_eq!(got.len(), held.len());
        let back: ClusterAllocator = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        prop_assert_eq!(back, a);
    }

    #[test]
    fn any_probe_in_any_cluster_ends_and_quiet_walks_agree(
        nodes in 1usize..5, pods in 0usize..4, host_gw in any::<bool>(), dst in any::<u32>(), from in 0usize..32, kind in 0u8..3
    ) {
        let mut c = Cluster::parse("10.244.0.0/16", 26, DEFAULT_UNDERLAY).unwrap();
        c.set_backend(if host_gw { Backend::HostGw } else { Backend::None });
        for n in 0..nodes {
            let id = c.add_node(&format!("n{n}"), NodeOptions::default()).unwrap();
            for p in 0..pods {
                c.add_pod(id, &format!("p{n}-{p}")).unwrap();
            }
        }
        let net = Network::new(&c).unwrap();
        let eps = c.endpoints();
        let from = eps[from % eps.len()];
        let kind = [ProbeKind::Ping, ProbeKind::Udp(53), ProbeKind::TcpSyn(80)][kind as usize];
        // Half the time a real address in the cluster, else anything.
        let pick = c.address_of(eps[dst as usize % eps.len()]).unwrap();
        for to in [Ipv4Addr::from(dst), pick] {
            let t = net.probe(from, to, kind).unwrap();
            let o = net.probe_outcome(from, to, kind).unwrap();
            prop_assert_eq!(t.verdict, o.verdict);
            prop_assert!(t.hops.len() < 64);
        }
        let _ = net.probe(Endpoint::Node(NodeId(999)), pick, kind).unwrap_err();
    }

    #[test]
    fn every_host_gw_cluster_meets_the_cni_requirements(nodes in 1usize..6, pods in 1usize..4, prefix in 20u8..=28) {
        let mut c = Cluster::parse("10.96.0.0/12", prefix, "172.16.0.0/16").unwrap();
        for n in 0..nodes {
            let id = c.add_node(&format!("n{n}"), NodeOptions::default()).unwrap();
            for p in 0..pods {
                c.add_pod(id, &format!("p{n}-{p}")).unwrap();
            }
        }
        let m = Matrix::compute(&Network::new(&c).unwrap()).unwrap();
        let r = m.requirements();
        prop_assert!(r.met(), "{:?}", r);
        for (i, cell) in m.cells.iter().enumerate() {
            prop_assert!(cell.is_ok(), "cell {} {:?}", i, cell);
        }
    }
}

/// Frames fed to the fuzz test, counted so the test can say how many.
static FUZZED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Real frames of the overlay scenario (plain on the pod side,
/// VXLAN-encapsulated on the underlay), the seeds the fuzzer mutates.
fn overlay_seeds() -> (Cluster, Vec<Vec<u8>>) {
    use podnet_core::topology::scenario;
    let c = scenario::routed(Backend::Vxlan);
    let mut seeds = Vec::new();
    {
        let net = Network::new(&c).unwrap();
        for from in c.endpoints() {
            for to in c.endpoints() {
                let dst = c.address_of(to).unwrap();
                for kind in [ProbeKind::Ping, ProbeKind::Udp(53), ProbeKind::TcpSyn(80)] {
                    let t = net.probe(from, dst, kind).unwrap();
                    seeds.extend((0..t.hops.len()).filter_map(|i| t.frame_bytes(i)));
                }
            }
        }
    }
    (c, seeds)
}

/// One mutation of a seed, chosen by `op`: flip bytes, cut, grow, splice
/// in random bytes, or rewrite the fields a VXLAN parser trusts (UDP port,
/// VXLAN flags, inner EtherType, IPv4 length and IHL).
fn mutate(seed: &[u8], op: u8, at: usize, byte: u8, noise: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    let i = if f.is_empty() { 0 } else { at % f.len() };
    match op % 8 {
        0 => {
            if let Some(b) = f.get_mut(i) {
                *b ^= byte | 1;
            }
        }
        1 => f.truncate(i),
        2 => f.extend_from_slice(noise),
        3 => {
            let end = (i + noise.len()).min(f.len());
            f[i..end].copy_from_slice(&noise[..end - i]);
        }
        4 => {
            // The outer UDP destination port: VXLAN or not.
            if f.len() > 37 {
                f[36..38].copy_from_slice(&[0x21, 0x18 ^ (byte & 1)]);
            }
        }
        5 => {
            // VXLAN flags and the inner EtherType.
            for (pos, v) in [(42, byte), (62, byte), (63, !byte)] {
                if let Some(b) = f.get_mut(pos) {
                    *b = v;
                }
            }
        }
        6 => {
            // IPv4 version/IHL and total length of the outer or inner header.
            for pos in [14, 16, 17, 64, 66, 67] {
                if let Some(b) = f.get_mut(pos) {
                    *b = byte.wrapping_add(pos as u8);
                }
            }
        }
        _ => f = noise.to_vec(),
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// ≥ 100,000 random and mutated frames, plain and VXLAN, through the
    /// frame parser and the engine: every one is a value or a typed error.
    /// Run by the test below, which counts them.
    fn fuzzed_frames_plain_and_encapsulated_never_panic(
        muts in proptest::collection::vec(
            (any::<usize>(), any::<u8>(), any::<usize>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..96)),
            100,
        ),
    ) {
        thread_local! {
            static SEEDS: (Cluster, Vec<Vec<u8>>) = overlay_seeds();
        }
        SEEDS.with(|(c, seeds)| {
            let net = Network::new(c).unwrap();
            let from = c.endpoints();
            for (s, op, at, byte, noise) in &muts {
                let frame = mutate(&seeds[s % seeds.len()], *op, *at, *byte, noise);
                match podnet_core::forward::parse_packet(&frame) {
                    Ok(_) | Err(podnet_core::Error::MalformedFrame(_) | podnet_core::Error::UnsupportedFrame(_)) => {}
                    Err(other) => panic!("untyped parse error {other:?}"),
                }
                let sender = from[*at % from.len()];
                if let Ok(t) = net.trace(sender, &frame) {
                    assert!(!t.hops.is_empty());
                    for i in 0..t.hops.len() {
                        let _ = t.frame_bytes(i);
                    }
                }
                FUZZED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
}

#[test]
fn the_fuzz_test_feeds_at_least_100000_frames() {
    // proptest's 1000 cases of 100 frames each.
    let before = FUZZED.load(std::sync::atomic::Ordering::Relaxed);
    fuzzed_frames_plain_and_encapsulated_never_panic();
    let fed = FUZZED.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(fed >= 100_000, "fed {fed} frames");
    println!("fuzz: {fed} frames (plain and VXLAN) through the parser and the engine, no panic");
}
