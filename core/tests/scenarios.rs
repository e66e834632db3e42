//! The seed's stories, checked hop by hop against what Linux does.
//!
//! These run natively and, compiled to wasm32, in headless Chromium: the
//! browser gets the very same answers.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::net::Ipv4Addr;

use podnet_core::forward::{
    pcap, Cell, DropReason, FrameRepr, Matrix, Network, Place, ProbeKind, Proto, Step, Verdict,
};
use podnet_core::topology::{scenario, Backend, Endpoint, TrafficPolicy};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn cross_node_pod_to_pod_keeps_the_source_and_follows_host_gw() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
    let (n1, n2) = (
        c.node_named("node1").unwrap(),
        c.node_named("node2").unwrap(),
    );
    let t = net
        .probe(Endpoint::Pod(a.id), cpod.ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(cpod.id)
        }
    );
    let places: Vec<Place> = t.hops.iter().map(|h| h.place).collect();
    use Place::*;
    assert_eq!(
        places,
        [
            Pod(a.id),
            Pod(a.id),
            Veth(a.id),
            Bridge(n1.id),
            Node(n1.id),
            Node(n1.id),
            Uplink(n1.id),
            Lan(0),
            Uplink(n2.id),
            Node(n2.id),
            Node(n2.id),
            Bridge(n2.id),
            Veth(cpod.id),
            Pod(cpod.id)
        ]
    );
    let routes: Vec<String> = t
        .hops
        .iter()
        .filter_map(|h| match h.step {
            Step::Send { route } | Step::Forward { route } => Some(route.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        [
            "default via 10.244.1.1 dev eth0",
            "10.244.2.0/24 via 192.168.1.12 dev eth0 proto podnet",
            "10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1"
        ]
    );
    let got = t.received().unwrap();
    assert_eq!(
        (got.src, got.dst, got.ttl),
        (a.ip, cpod.ip, 62),
        "two routers, no NAT"
    );
    assert_eq!(got.dst_mac, cpod.mac);
    assert_eq!(got.src_mac, n2.bridge_mac);
    assert!(!t.nat_seen());
    // On the LAN the frame goes node1 eth0 -> node2 eth0 while the IPs stay the pods'.
    let lan = t.hops.iter().find(|h| h.place == Lan(0)).unwrap().frame;
    assert_eq!(
        (lan.src_mac, lan.dst_mac, lan.src, lan.dst),
        (n1.mac, n2.mac, a.ip, cpod.ip)
    );
}

#[test]
fn same_node_pods_talk_through_the_bridge_only() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let (a, b) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-b").unwrap());
    let t = net
        .probe(Endpoint::Pod(a.id), b.ip, ProbeKind::Udp(53))
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(b.id)
        }
    );
    assert!(t
        .hops
        .iter()
        .all(|h| !matches!(h.place, Place::Node(_) | Place::Lan(_))));
    assert_eq!(t.received().unwrap().ttl, 64);
}

#[test]
fn unconnected_nodes_with_one_range_deliver_to_the_wrong_pod() {
    let c = scenario::unconnected_nodes();
    let net = Network::new(&c).unwrap();
    let (a, b, d) = (
        c.pod_named("pod-a").unwrap(),
        c.pod_named("pod-b").unwrap(),
        c.pod_named("pod-d").unwrap(),
    );
    assert_eq!(b.ip, d.ip, "both nodes handed out 10.244.0.3");
    let t = net
        .probe(Endpoint::Pod(a.id), d.ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(b.id)
        },
        "pod-d on node2 never sees it"
    );
    let m = Matrix::compute(&net).unwrap();
    let idx = |e| m.endpoints.iter().position(|&x| x == e).unwrap();
    assert_eq!(
        m.get(idx(Endpoint::Pod(a.id)), idx(Endpoint::Pod(d.id))),
        Some(&Cell::WrongDestination {
            reached: Endpoint::Pod(b.id)
        })
    );
    let r = m.requirements();
    assert!(!r.met());
    assert!(r.pod_to_pod.ok < r.pod_to_pod.total);
}

#[test]
fn the_cluster_network_is_what_meets_the_cni_requirements() {
    let mut c = scenario::demo();
    let on = Matrix::compute(&Network::new(&c).unwrap())
        .unwrap()
        .requirements();
    assert!(on.met(), "{on:?}");
    assert_eq!(on.pod_to_pod.total, 12);
    assert_eq!(on.node_to_pod.total, 8);
    c.set_backend(Backend::None);
    let net = Network::new(&c).unwrap();
    let off = Matrix::compute(&net).unwrap().requirements();
    assert_eq!(off.pod_to_pod.ok, 4, "only same-node pairs: {off:?}");
    assert_eq!(
        off.pod_to_node.ok, 4,
        "a pod's ping reaches the other node, but its reply has no route back: {off:?}"
    );
    let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
    let t = net
        .probe(Endpoint::Pod(a.id), cpod.ip, ProbeKind::Ping)
        .unwrap();
    assert!(matches!(
        t.verdict,
        Verdict::Dropped {
            reason: DropReason::NoRoute { .. },
            at: Place::Node(_)
        }
    ));
}

#[test]
fn a_node_reaches_its_pods_and_the_others_with_its_own_address() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let n1 = c.node_named("node1").unwrap();
    for (pod, src) in [("pod-a", "10.244.1.1"), ("pod-c", "192.168.1.11")] {
        let p = c.pod_named(pod).unwrap();
        let t = net
            .probe(Endpoint::Node(n1.id), p.ip, ProbeKind::TcpSyn(22))
            .unwrap();
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(p.id)
            }
        );
        assert_eq!(t.received().unwrap().src, ip(src), "{pod}");
        assert_eq!(t.sent.unwrap().src, ip(src));
    }
}

#[test]
fn node_port_dnats_to_the_pod_and_masquerades_under_policy_cluster() {
    let mut c = scenario::node_port();
    let laptop = c.clients()[0].id;
    let d = c.pod_named("pod-d").unwrap().clone();
    let net = Network::new(&c).unwrap();
    let t = net
        .probe(
            Endpoint::Client(laptop),
            ip("192.168.1.11"),
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(d.id)
        }
    );
    let got = t.received().unwrap();
    assert_eq!(
        (got.src, got.dst, got.l4.ports().unwrap().1),
        (ip("192.168.1.11"), d.ip, 8080)
    );
    assert!(t.hops.iter().any(|h| matches!(h.step, Step::Dnat { .. })));
    assert!(t.hops.iter().any(|h| matches!(h.step, Step::Snat { .. })));
    // The pod IP itself is not reachable from outside: the laptop has no route.
    let direct = net
        .probe(Endpoint::Client(laptop), d.ip, ProbeKind::TcpSyn(8080))
        .unwrap();
    assert!(matches!(
        direct.verdict,
        Verdict::Dropped {
            reason: DropReason::NoRoute { .. },
            ..
        }
    ));
    // Policy Local: node1 has no local endpoint; node2 keeps the client's address.
    let svc = c.services()[0].id;
    c.set_traffic_policy(svc, TrafficPolicy::Local).unwrap();
    let net = Network::new(&c).unwrap();
    let t = net
        .probe(
            Endpoint::Client(laptop),
            ip("192.168.1.11"),
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    assert!(matches!(
        t.verdict,
        Verdict::Dropped {
            reason: DropReason::NoLocalEndpoints { .. },
            ..
        }
    ));
    let t = net
        .probe(
            Endpoint::Client(laptop),
            ip("192.168.1.12"),
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    assert_eq!(t.received().unwrap().src, ip("192.168.1.100"));
}

#[test]
fn forwarding_off_ttl_and_masquerade() {
    let mut c = scenario::node_port();
    let (a, cpod) = (
        c.pod_named("pod-a").unwrap().clone(),
        c.pod_named("pod-c").unwrap().clone(),
    );
    let n2 = c.node_named("node2").unwrap().id;
    c.set_ip_forward(n2, false).unwrap();
    let net = Network::new(&c).unwrap();
    let t = net
        .probe(Endpoint::Pod(a.id), cpod.ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Dropped {
            at: Place::Node(n2),
            reason: DropReason::ForwardingDisabled
        }
    );
    let mut f = ProbeKind::Ping.frame(a.ip, c.pod_named("pod-b").unwrap().ip);
    f.ttl = 1;
    assert!(
        net.trace_repr(Endpoint::Pod(a.id), f, vec![])
            .unwrap()
            .verdict
            != Verdict::Dropped {
                at: Place::Lan(0),
                reason: DropReason::TtlExceeded
            }
    );
    f.dst = cpod.ip;
    let t = net.trace_repr(Endpoint::Pod(a.id), f, vec![]).unwrap();
    assert!(matches!(
        t.verdict,
        Verdict::Dropped {
            reason: DropReason::TtlExceeded,
            ..
        }
    ));
    c.set_ip_forward(n2, true).unwrap();
    c.ip_masq = true;
    let net = Network::new(&c).unwrap();
    let laptop = c.clients()[0].clone();
    let t = net
        .probe(Endpoint::Pod(a.id), laptop.ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.received().unwrap().src,
        ip("192.168.1.11"),
        "ipMasq hides the pod from the LAN"
    );
    let t = net
        .probe(Endpoint::Pod(a.id), cpod.ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.received().unwrap().src,
        a.ip,
        "but never inside the cluster range"
    );
}

#[test]
fn frames_in_and_out_are_real_bytes() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
    let bytes = ProbeKind::Udp(9)
        .frame(a.ip, cpod.ip)
        .emit(b"payload")
        .unwrap();
    let t = net.trace(Endpoint::Pod(a.id), &bytes).unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(cpod.id)
        }
    );
    assert_eq!(t.payload, b"payload");
    let file = pcap::to_pcapng(&t, &c);
    assert_eq!(
        &file[..4],
        &0x0A0D_0D0Au32.to_le_bytes(),
        "a pcapng section"
    );
    let records = pcap::read_pcapng(&file).expect("it reads back");
    // On a wire, once each: pod-a's veth, the LAN, pod-c's veth; not the
    // route lookups, the bridges or the kernels in between.
    let names: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    let veth = |p: &podnet_core::topology::Pod| {
        format!("{} {}", c.node(p.node).unwrap().name, p.host_veth)
    };
    assert_eq!(
        names,
        [veth(a).as_str(), "LAN", veth(cpod).as_str()],
        "{names:?}"
    );
    for (i, (_, data, comment)) in records.iter().enumerate() {
        let (frame, payload) = FrameRepr::parse(data).unwrap();
        assert_ne!(frame.src_mac, podnet_core::net::MacAddr::default());
        assert_ne!(frame.dst_mac, podnet_core::net::MacAddr::default());
        assert_eq!(payload, b"payload");
        assert!(comment.starts_with("hop "), "{comment}");
        // No two records the same frame: nothing Wireshark would call a retransmission.
        assert!(
            records[..i].iter().all(|r| r.1 != *data),
            "record {i} repeats"
        );
    }
    // The TTL went down once, at node1 (node2 forwards after the LAN).
    let ttl = |k: usize| FrameRepr::parse(&records[k].1).unwrap().0.ttl;
    assert_eq!(ttl(0) - 1, ttl(1));
    assert!(
        records[1].2.contains("LAN: switch: to node2"),
        "{}",
        records[1].2
    );
    assert!(
        pcap::read_pcapng(&file[4..]).is_none(),
        "garbage is no pcapng"
    );
    assert!(net.trace(Endpoint::Pod(a.id), &bytes[..20]).is_err());
}

#[test]
fn the_summary_says_why_someone_else_got_the_packet() {
    // A shared address: the seed's "this isn't going to work".
    let c = scenario::unconnected_nodes();
    let net = Network::new(&c).unwrap();
    let a = c.endpoint_named("pod-a").unwrap();
    let d = c.endpoint_named("pod-d").unwrap();
    let t = net
        .probe(a, c.address_of(d).unwrap(), ProbeKind::Ping)
        .unwrap();
    let s = t.summary(&c, Some(d));
    assert!(!s.ok);
    assert_eq!(
        s.text,
        "Delivered to default/pod-b, not to default/pod-d: both have 10.244.0.3. This isn't going to work."
    );
    // A NodePort: the Service sent it on, as it should.
    let c = scenario::node_port();
    let net = Network::new(&c).unwrap();
    let laptop = c.endpoint_named("laptop").unwrap();
    let node1 = c.endpoint_named("node1").unwrap();
    let t = net
        .probe(
            laptop,
            c.address_of(node1).unwrap(),
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    let s = t.summary(&c, Some(node1));
    assert!(s.ok, "{}", s.text);
    assert!(
        s.text.starts_with(
            "Delivered to default/pod-d; source rewritten from 192.168.1.100 to 192.168.1.11 (NAT)."
        ),
        "{}",
        s.text
    );
    assert!(
        s.text.contains("sent to node1, whose NodePort service web rewrote the destination (DNAT 192.168.1.11:30080 -> 10.244.2.3:8080)"),
        "{}",
        s.text
    );
    assert!(!s.text.contains("share") && !s.text.contains("both have"));
    // Without an intended receiver, only the delivery and the source.
    assert_eq!(
        t.summary(&c, None).text,
        "Delivered to default/pod-d; source rewritten from 192.168.1.100 to 192.168.1.11 (NAT)."
    );
}

#[test]
fn names_and_protocols_are_looked_up_in_one_place() {
    let c = scenario::node_port();
    assert!(matches!(c.endpoint_named("pod-a"), Ok(Endpoint::Pod(_))));
    assert!(matches!(
        c.endpoint_named("default/pod-a"),
        Ok(Endpoint::Pod(_))
    ));
    assert!(matches!(c.endpoint_named("node2"), Ok(Endpoint::Node(_))));
    assert!(matches!(
        c.endpoint_named("laptop"),
        Ok(Endpoint::Client(_))
    ));
    let e = c.endpoint_named("pod-zz").unwrap_err().to_string();
    assert!(
        e.contains("pod-zz") && e.contains("default/pod-c") && e.contains("laptop"),
        "{e}"
    );
    for p in Proto::ALL {
        assert_eq!(p.key().parse::<Proto>().unwrap(), p);
    }
    assert_eq!(Proto::Tcp.probe(80), ProbeKind::TcpSyn(80));
    let e = "icmp".parse::<Proto>().unwrap_err().to_string();
    assert!(e.contains("ping, udp, tcp"), "{e}");
}

#[test]
fn egress_masquerade_hides_pods_from_the_outside_but_not_from_each_other_or_the_nodes() {
    let mut c = scenario::node_port();
    c.egress_masq = true;
    let net = Network::new(&c).unwrap();
    let a = c.endpoint_named("pod-a").unwrap();
    let seen = |to: &str| {
        let ip = c.address_of(c.endpoint_named(to).unwrap()).unwrap();
        net.probe(a, ip, ProbeKind::Udp(53))
            .unwrap()
            .received()
            .map(|f| f.src)
    };
    assert_eq!(
        seen("laptop"),
        Some(ip("192.168.1.11")),
        "to the outside: the node's address"
    );
    assert_eq!(seen("pod-c"), Some(ip("10.244.1.2")), "pod to pod: no NAT");
    assert_eq!(seen("node2"), Some(ip("10.244.1.2")), "pod to node: no NAT");
    let m = Matrix::compute(&net).unwrap();
    assert!(m.requirements().pod_to_pod.all_ok());
    assert!(m.requirements().pod_to_node.all_ok());
    assert!(m.requirements().node_to_pod.all_ok());
}

/// The overlay scene's story: the same pods, two LANs, three backends.
mod overlay {
    use std::net::Ipv4Addr;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::ip;
    use podnet_core::forward::{parse_packet, Encap, L4Repr};
    use podnet_core::forward::{
        pcap, DropReason, FrameRepr, Matrix, Network, Place, ProbeKind, Step, Verdict,
    };
    use podnet_core::topology::vxlan;
    use podnet_core::topology::{scenario, Backend, Endpoint};

    fn ping(
        c: &podnet_core::topology::Cluster,
        from: &str,
        to: &str,
    ) -> podnet_core::forward::Trace {
        let net = Network::new(c).unwrap();
        let (a, b) = (c.pod_named(from).unwrap(), c.pod_named(to).unwrap());
        net.probe(Endpoint::Pod(a.id), b.ip, ProbeKind::Ping)
            .unwrap()
    }

    #[test]
    fn host_gw_across_a_router_has_no_on_link_next_hop() {
        let c = scenario::routed(Backend::HostGw);
        let n1 = c.node_named("node1").unwrap();
        let plan = c.plan(n1.id).unwrap();
        assert_eq!(plan.skipped.len(), 1, "node2 is behind the router");
        assert_eq!(plan.skipped[0].node, "node2");
        assert!(
            plan.skipped[0].reason.contains("on-link"),
            "{}",
            plan.skipped[0].reason
        );
        let t = ping(&c, "pod-a", "pod-c");
        assert_eq!(
            t.verdict,
            Verdict::Dropped {
                at: Place::Node(n1.id),
                reason: DropReason::NoRoute {
                    dst: ip("10.244.2.2")
                }
            }
        );
        // The peer on node1's own LAN still works directly.
        let t = ping(&c, "pod-a", "pod-e");
        assert!(matches!(t.verdict, Verdict::Delivered { .. }));
        assert!(!t.encapsulated());
        // The underlay itself is routed: node1 reaches node2's address.
        let net = Network::new(&c).unwrap();
        let n2 = c.node_named("node2").unwrap();
        let t = net
            .probe(Endpoint::Node(n1.id), n2.underlay_ip, ProbeKind::Ping)
            .unwrap();
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: Endpoint::Node(n2.id)
            }
        );
        assert!(t.hops.iter().any(|h| h.place == Place::Router));
    }

    #[test]
    fn vxlan_carries_the_pod_packet_inside_udp_across_the_router() {
        let c = scenario::routed(Backend::Vxlan);
        let (n1, n2) = (
            c.node_named("node1").unwrap(),
            c.node_named("node2").unwrap(),
        );
        let plan = c.plan(n1.id).unwrap();
        let routes: Vec<String> = plan.owned_routes().map(|r| r.to_string()).collect();
        assert_eq!(
            routes,
            [
                "10.244.2.0/24 via 10.244.2.0 dev podnet.1 proto podnet onlink",
                "10.244.3.0/24 via 10.244.3.0 dev podnet.1 proto podnet onlink",
            ]
        );
        let v = plan.vtep.as_ref().unwrap();
        assert_eq!((v.vni, v.port, v.mtu, plan.mtu), (1, 8472, 1450, 1450));
        assert_eq!(v.address.to_string(), "10.244.1.0/32");
        assert_eq!(v.peers[0].underlay, n2.underlay_ip);
        let t = ping(&c, "pod-a", "pod-c");
        let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(cpod.id)
            }
        );
        assert_eq!(t.received().unwrap().src, a.ip, "no NAT");
        // On the underlay: the pod packet inside, node addresses outside.
        let lan: Vec<&podnet_core::forward::Hop> = t
            .hops
            .iter()
            .filter(|h| matches!(h.place, Place::Lan(_)))
            .collect();
        assert_eq!(lan.len(), 2, "LAN 1 to the router, LAN 2 to node2");
        for h in &lan {
            let e = h.outer.expect("encapsulated on the underlay");
            assert_eq!((e.outer.src, e.outer.dst), (n1.underlay_ip, n2.underlay_ip));
            assert_eq!((h.frame.src, h.frame.dst), (a.ip, cpod.ip));
            assert_eq!(e.vni, vxlan::VNI);
            assert!(matches!(e.outer.l4, L4Repr::Udp { dst_port: 8472, .. }));
            assert_eq!(h.frame.dst_mac, n2.vtep_mac);
        }
        assert_eq!(lan[0].outer.unwrap().outer.ttl, 64);
        assert_eq!(
            lan[1].outer.unwrap().outer.ttl,
            63,
            "the router lowers the outer TTL"
        );
        assert_eq!(lan[1].frame.ttl, 63, "and leaves the inner one alone");
        assert!(t.hops.iter().any(|h| h.step
            == Step::Encap {
                vni: 1,
                remote: n2.underlay_ip
            }));
        assert!(t.hops.iter().any(|h| h.step == Step::Decap { vni: 1 }));
        // The bytes on the wire are a real VXLAN frame, 50 bytes longer.
        let i = t.hops.iter().position(|h| h.outer.is_some()).unwrap();
        let bytes = t.frame_bytes(i).unwrap();
        let (inner, encap, _) = parse_packet(&bytes).unwrap();
        assert_eq!(inner, t.hops[i].frame);
        assert_eq!(encap, t.hops[i].outer);
        let plain = t.hops[i].frame.emit(&t.payload).unwrap();
        assert_eq!(bytes.len(), plain.len() + 50);
        // And the whole CNI requirement holds without NAT.
        let m = Matrix::compute(&Network::new(&c).unwrap()).unwrap();
        assert!(m.requirements().met(), "{:?}", m.requirements());
    }

    #[test]
    fn auto_goes_direct_on_the_lan_and_through_the_tunnel_across_it() {
        let c = scenario::routed(Backend::Auto);
        let n1 = c.node_named("node1").unwrap();
        let routes: Vec<String> = c
            .plan(n1.id)
            .unwrap()
            .owned_routes()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            routes,
            [
                "10.244.2.0/24 via 10.244.2.0 dev podnet.1 proto podnet onlink",
                "10.244.3.0/24 via 192.168.1.13 dev eth0 proto podnet",
            ]
        );
        assert!(ping(&c, "pod-a", "pod-c").encapsulated());
        let direct = ping(&c, "pod-a", "pod-e");
        assert!(!direct.encapsulated());
        assert!(matches!(direct.verdict, Verdict::Delivered { .. }));
        assert!(Matrix::compute(&Network::new(&c).unwrap())
            .unwrap()
            .requirements()
            .met());
    }

    #[test]
    fn a_packet_over_the_overlay_mtu_is_dropped_with_df_and_fragmented_without() {
        let mut c = scenario::routed(Backend::Vxlan);
        // A pod whose MTU was left at the link's 1500 (what a wrong CNI
        // config does) sends 1500 bytes: the VTEP's 1450 decides.
        c.mtu = 1500;
        let net = Network::new(&c).unwrap();
        let (a, cpod) = (c.pod_named("pod-a").unwrap(), c.pod_named("pod-c").unwrap());
        let n1 = c.node_named("node1").unwrap();
        let mut f = ProbeKind::Udp(8080).frame(Ipv4Addr::UNSPECIFIED, cpod.ip);
        let big = vec![0u8; 1400];
        let t = net.trace_repr(Endpoint::Pod(a.id), f, big.clone()).unwrap();
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(cpod.id)
            },
            "1428 fits"
        );
        let t = net
            .trace_repr(Endpoint::Pod(a.id), f, vec![0u8; 1440])
            .unwrap();
        assert_eq!(
            t.verdict,
            Verdict::Dropped {
                at: Place::Pod(a.id),
                reason: DropReason::TooBig {
                    mtu: 1450,
                    len: 1468
                }
            },
            "the pod's own MTU is 1450"
        );
        let _ = n1;
        f.dont_fragment = false;
        let t = net
            .trace_repr(Endpoint::Pod(a.id), f, vec![0u8; 1440])
            .unwrap();
        assert!(matches!(t.verdict, Verdict::Delivered { .. }));
        assert!(t.hops.iter().any(|h| h.step
            == Step::Fragment {
                mtu: 1450,
                count: 2
            }));
    }

    #[test]
    fn a_pcap_of_an_overlay_trace_holds_real_vxlan_frames() {
        let c = scenario::routed(Backend::Vxlan);
        let t = ping(&c, "pod-a", "pod-c");
        let file = pcap::to_pcapng(&t, &c);
        let records = pcap::read_pcapng(&file).unwrap();
        let vxlan: Vec<&str> = records
            .iter()
            .filter(|r| {
                matches!(
                    parse_packet(&r.1).unwrap(),
                    (_, Some(Encap { vni: 1, .. }), _)
                )
            })
            .map(|r| r.0.as_str())
            .collect();
        // Once on each LAN it crosses, router between.
        assert_eq!(vxlan, ["LAN 192.168.1.0/24", "LAN 192.168.2.0/24"]);
        let _ = FrameRepr::parse;
    }
}

#[test]
fn predictions_are_graded_at_the_hop_that_contradicts_them() {
    use podnet_core::forward::Prediction;
    let c = scenario::node_port();
    let net = Network::new(&c).unwrap();
    let laptop = c.client_named("laptop").unwrap();
    let n1 = c.node_named("node1").unwrap();
    let d = c.pod_named("pod-d").unwrap();
    let t = net
        .probe(
            Endpoint::Client(laptop.id),
            n1.underlay_ip,
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    // The NodePort: delivered to pod-d, seen from node1, with NAT.
    let right = Prediction {
        ends: Some(Endpoint::Pod(d.id)),
        source: Some(n1.underlay_ip),
        nat: true,
    };
    let g = t.grade(&right);
    assert!(g.all_right() && g.wrong_at.is_none(), "{g:?}");
    // "No NAT, the pod sees the laptop": wrong at the DNAT hop.
    let naive = Prediction {
        ends: Some(Endpoint::Pod(d.id)),
        source: Some(laptop.ip),
        nat: false,
    };
    let g = t.grade(&naive);
    assert!(g.ends && !g.source && !g.nat);
    let at = g.wrong_at.unwrap();
    assert!(
        matches!(t.hops[at].step, Step::Dnat { .. }),
        "{:?}",
        t.hops[at]
    );
    // "node1 gets it": wrong where it ends.
    let g = t.grade(&Prediction {
        ends: Some(Endpoint::Node(n1.id)),
        ..right
    });
    assert!(!g.ends);
    assert_eq!(g.wrong_at, Some(t.hops.len() - 1));
    // A captured trace has frames, not the kernel's steps: its NAT is seen
    // in the addresses changing, at the first frame that carries them.
    let mut captured = t.clone();
    for h in &mut captured.hops {
        h.step = Step::Receive { dev: n1.uplink };
    }
    assert!(captured.nat_seen());
    let g = captured.grade(&naive);
    assert!(g.ends && !g.source && !g.nat, "{g:?}");
    assert_eq!(g.wrong_at, Some(at), "the hop the DNAT step was at");
}

#[test]
fn a_matrix_cell_has_its_request_and_reply_hop_by_hop() {
    let mut c = scenario::demo();
    let (a, n1) = (
        c.pod_named("pod-a").unwrap().id,
        c.node_named("node1").unwrap().id,
    );
    let cpod = c.pod_named("pod-c").unwrap().id;
    let net = Network::new(&c).unwrap();
    let (req, reply) = Matrix::pair_traces(&net, Endpoint::Pod(a), Endpoint::Pod(cpod)).unwrap();
    assert_eq!(
        req.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(cpod)
        }
    );
    let reply = reply.expect("a reply");
    assert_eq!(
        reply.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(a)
        }
    );
    assert_eq!(reply.received().unwrap().dst, req.sent.unwrap().src);
    c.set_backend(Backend::None);
    let net = Network::new(&c).unwrap();
    let (req, reply) = Matrix::pair_traces(&net, Endpoint::Node(n1), Endpoint::Pod(cpod)).unwrap();
    assert!(matches!(
        req.verdict,
        Verdict::Dropped {
            reason: DropReason::NoRoute { .. },
            ..
        }
    ));
    assert!(reply.is_none());
}

/// No hop of any packet, request or reply, shows a zero source MAC: a
/// node's or the laptop's own packet carries its device's MAC from the
/// first hop, before ARP (and one that finds no route still left a host
/// with its MAC), with host-gw, VXLAN and a NodePort.
#[test]
fn no_hop_shows_a_zero_source_mac() {
    let zero = podnet_core::net::MacAddr::default();
    for c in [
        scenario::node_port(),
        scenario::routed(Backend::Vxlan),
        scenario::demo(),
    ] {
        let net = Network::new(&c).unwrap();
        let ends = c.endpoints();
        for &from in &ends {
            for &to in &ends {
                let Some(dst) = c.address_of(to) else {
                    continue;
                };
                for kind in [ProbeKind::Ping, ProbeKind::TcpSyn(30080)] {
                    let t = net.probe(from, dst, kind).unwrap();
                    let reply = net.reply(&t).unwrap();
                    for (which, t) in [("request", Some(&t)), ("reply", reply.as_ref())] {
                        let Some(t) = t else { continue };
                        for h in &t.hops {
                            let at = format!("{which} {from:?} -> {dst} {kind:?} at {:?}", h.place);
                            assert_ne!(h.frame.src_mac, zero, "{at}");
                            if let Some(outer) = &h.outer {
                                assert_ne!(outer.outer.src_mac, zero, "{at} (outer)");
                            }
                        }
                    }
                }
            }
        }
    }
}
