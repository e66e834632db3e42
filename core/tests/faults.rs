//! The breakages the sandbox's challenges start from, and the replies
//! conntrack rewrites: each fault breaks the requirement matrix where the
//! kernel would, and undoing it makes the matrix whole again. Run natively
//! and in headless Chromium, where the sandbox's challenges use them.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::net::{Ipv4Addr, SocketAddrV4};

use podnet_core::forward::{Cell, DropReason, Matrix, Network, ProbeKind, Step, Verdict};
use podnet_core::net::parse_cidr;
use podnet_core::topology::{
    scenario, Cluster, Endpoint, NodeOptions, RangeFrom, TrafficPolicy, DEFAULT_UNDERLAY,
};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn matrix(c: &Cluster) -> Matrix {
    Matrix::compute(&Network::new(c).unwrap()).unwrap()
}

#[test]
fn a_node_port_reply_has_its_nat_undone_by_conntrack() {
    let c = scenario::node_port();
    let laptop = c.clients()[0].id;
    let net = Network::new(&c).unwrap();
    let req = net
        .probe(
            Endpoint::Client(laptop),
            ip("192.168.1.11"),
            ProbeKind::TcpSyn(30080),
        )
        .unwrap();
    // Both nodes keep an entry; only node1's translates (DNAT and masquerade).
    let (n1, n2) = (
        c.node_named("node1").unwrap().id,
        c.node_named("node2").unwrap().id,
    );
    let entry = |n| req.conntrack.iter().find(|e| e.node == n).copied();
    let at1 = entry(n1).expect("node1's entry");
    assert_ne!(at1.original, at1.translated, "{at1:?}");
    let at2 = entry(n2).expect("node2's entry");
    assert_eq!(at2.original, at2.translated, "node2 only forwards: {at2:?}");
    let reply = net.reply(&req).unwrap().expect("the pod answers");
    assert_eq!(
        reply.verdict,
        Verdict::Delivered {
            to: Endpoint::Client(laptop)
        }
    );
    let got = reply.received().unwrap();
    assert_eq!(
        (got.src, got.l4.ports().unwrap().0, got.dst),
        (ip("192.168.1.11"), 30080, ip("192.168.1.100")),
        "the laptop hears from the node and port it asked"
    );
    let un_snat = reply
        .hops
        .iter()
        .position(|h| matches!(h.step, Step::UnSnat { to, .. } if to == ip("192.168.1.100")));
    let un_dnat = reply.hops.iter().position(|h| {
        matches!(h.step, Step::UnDnat { to, .. } if to == SocketAddrV4::new(ip("192.168.1.11"), 30080))
    });
    assert!(un_snat.is_some() && un_dnat.is_some(), "{:#?}", reply.hops);
    let m = matrix(&c);
    assert_eq!(m.node_ports.len(), 2, "one service on two nodes");
    assert!(m.requirements().met(), "{:?}", m.requirements());
}

#[test]
fn without_masquerade_a_node_port_reply_goes_astray() {
    let mut c = scenario::node_port();
    let svc = c.services()[0].id;
    c.set_masquerade(svc, false).unwrap();
    let m = matrix(&c);
    let node1 = c.node_named("node1").unwrap().id;
    let node2 = c.node_named("node2").unwrap().id;
    let cell = |n| m.node_ports.iter().find(|x| x.node == n).unwrap().cell;
    // node1 sent it to pod-d on node2; pod-d answers the laptop directly.
    assert!(
        matches!(cell(node1), Cell::ReplyAstray { expected, .. } if expected == SocketAddrV4::new(ip("192.168.1.11"), 30080)),
        "{:?}",
        cell(node1)
    );
    // node2 has the endpoint itself: its own conntrack sees the reply.
    assert_eq!(cell(node2), Cell::Ok);
    assert!(!m.requirements().met());
    assert_eq!(m.requirements().node_port.ok, 1);
    // Either fix works: masquerade again, or keep traffic on the endpoint's node.
    c.set_masquerade(svc, true).unwrap();
    assert!(matrix(&c).requirements().met());
    c.set_masquerade(svc, false).unwrap();
    c.set_traffic_policy(svc, TrafficPolicy::Local).unwrap();
    let local = matrix(&c);
    assert!(
        matches!(
            local
                .node_ports
                .iter()
                .find(|x| x.node == node1)
                .unwrap()
                .cell,
            Cell::Dropped {
                reason: DropReason::NoLocalEndpoints { .. },
                ..
            }
        ),
        "policy Local: node1 has no endpoint of its own (kube-proxy's XLB chain marks it to drop)"
    );
}

#[test]
fn a_masqueraded_ping_to_the_outside_gets_its_reply_back() {
    let mut c = scenario::node_port();
    c.egress_masq = true;
    let a = c.pod_named("pod-a").unwrap().id;
    let net = Network::new(&c).unwrap();
    let req = net
        .probe(Endpoint::Pod(a), ip("192.168.1.100"), ProbeKind::Ping)
        .unwrap();
    assert_eq!(req.received().unwrap().src, ip("192.168.1.11"));
    let reply = net.reply(&req).unwrap().unwrap();
    assert_eq!(
        reply.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(a)
        }
    );
    assert!(reply
        .hops
        .iter()
        .any(|h| matches!(h.step, Step::UnSnat { .. })));
}

#[test]
fn a_missing_route_breaks_one_direction_and_putting_it_back_mends_it() {
    let mut c = scenario::demo();
    let (n1, n2) = (
        c.node_named("node1").unwrap().id,
        c.node_named("node2").unwrap().id,
    );
    let range2 = c.node(n2).unwrap().pod_range;
    assert!(matrix(&c).requirements().met());
    c.set_route_missing(n1, range2, true).unwrap();
    let plan = c.plan(n1).unwrap();
    assert!(plan.owned_routes().all(|r| r.dst != range2));
    let m = matrix(&c);
    assert!(!m.requirements().pod_to_pod.all_ok());
    let a = c.pod_named("pod-a").unwrap().id;
    let cpod = c.pod_named("pod-c").unwrap().id;
    let (req, _) = Matrix::pair_traces(
        &Network::new(&c).unwrap(),
        Endpoint::Pod(a),
        Endpoint::Pod(cpod),
    )
    .unwrap();
    assert!(
        matches!(
            req.verdict,
            Verdict::Dropped {
                reason: DropReason::NoRoute { .. },
                ..
            }
        ),
        "{:?}",
        req.verdict
    );
    // node2 → node1 still has its route: its pods' requests arrive, replies do not.
    let (req, reply) = Matrix::pair_traces(
        &Network::new(&c).unwrap(),
        Endpoint::Pod(cpod),
        Endpoint::Pod(a),
    )
    .unwrap();
    assert_eq!(
        req.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(a)
        }
    );
    assert!(matches!(reply.unwrap().verdict, Verdict::Dropped { .. }));
    c.set_route_missing(n1, range2, false).unwrap();
    assert!(matrix(&c).requirements().met());
}

#[test]
fn forwarding_off_drops_what_a_node_routes_for_its_pods() {
    let mut c = scenario::demo();
    let n2 = c.node_named("node2").unwrap().id;
    c.set_ip_forward(n2, false).unwrap();
    let m = matrix(&c);
    let r = m.requirements();
    assert!(!r.pod_to_pod.all_ok());
    assert!(m.cells.iter().any(|cell| matches!(
        cell,
        Cell::Dropped {
            reason: DropReason::ForwardingDisabled,
            ..
        }
    )));
    c.set_ip_forward(n2, true).unwrap();
    assert!(matrix(&c).requirements().met());
}

#[test]
fn a_wrong_pod_gateway_goes_unanswered() {
    let mut c = scenario::demo();
    let a = c.pod_named("pod-a").unwrap().id;
    c.set_pod_gateway(a, Some(ip("10.244.1.254"))).unwrap();
    let n1 = c.node_named("node1").unwrap().id;
    let plan = c.plan(n1).unwrap();
    assert_eq!(
        plan.veths[0].pod_routes[1].to_string(),
        "default via 10.244.1.254 dev eth0"
    );
    let m = matrix(&c);
    assert!(m.cells.iter().any(|cell| matches!(
        cell,
        Cell::Dropped { reason: DropReason::NoArpReply { ip }, .. } if *ip == self::ip("10.244.1.254")
    )));
    // Its own bridge's pods are on-link: only what needs the gateway fails.
    let b = c.pod_named("pod-b").unwrap().id;
    let net = Network::new(&c).unwrap();
    let (req, _) = Matrix::pair_traces(&net, Endpoint::Pod(a), Endpoint::Pod(b)).unwrap();
    assert_eq!(
        req.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(b)
        }
    );
    c.set_pod_gateway(a, None).unwrap();
    assert!(matrix(&c).requirements().met());
}

#[test]
fn a_range_set_by_hand_over_another_nodes_is_skipped_with_the_kernels_reason() {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
    let n1 = c.add_node("node1", NodeOptions::default()).unwrap();
    let n2 = c.add_node("node2", NodeOptions::default()).unwrap();
    let taken = c.node(n1).unwrap().pod_range;
    let n3 = c
        .add_node(
            "node3",
            NodeOptions {
                lan: 0,
                range: RangeFrom::ByHand(taken),
                ..NodeOptions::default()
            },
        )
        .unwrap();
    assert!(c.node(n3).unwrap().standalone, "not the allocator's");
    for (n, name) in [(n1, "p1"), (n2, "p2"), (n3, "p3")] {
        c.add_pod(n, name).unwrap();
    }
    assert_eq!(
        c.pod_named("p1").unwrap().ip,
        c.pod_named("p3").unwrap().ip,
        "two IPAMs, one range: one address twice"
    );
    let plan1 = c.plan(n1).unwrap();
    assert!(plan1
        .skipped
        .iter()
        .any(|s| s.node == "node3" && s.reason.contains("is node1's own too")));
    let plan2 = c.plan(n2).unwrap();
    assert_eq!(plan2.owned_routes().filter(|r| r.dst == taken).count(), 1);
    assert!(plan2
        .skipped
        .iter()
        .any(|s| s.node == "node3" && s.reason.contains("another node's too")));
    let m = matrix(&c);
    assert!(m
        .cells
        .iter()
        .any(|cell| matches!(cell, Cell::WrongDestination { .. })));
    assert!(!m.requirements().met());
    // Given a free range by hand, it is the allocator's and all is well:
    // the range the allocator would have handed out next is now taken.
    let mut fixed = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
    let f1 = fixed.add_node("node1", NodeOptions::default()).unwrap();
    let next = parse_cidr("10.244.1.0/24").unwrap();
    let f3 = fixed
        .add_node(
            "node3",
            NodeOptions {
                lan: 0,
                range: RangeFrom::ByHand(next),
                ..NodeOptions::default()
            },
        )
        .unwrap();
    assert!(!fixed.node(f3).unwrap().standalone);
    fixed.add_pod(f1, "p1").unwrap();
    fixed.add_pod(f3, "p3").unwrap();
    assert!(matrix(&fixed).requirements().met());
    let f4 = fixed.add_node("node4", NodeOptions::default()).unwrap();
    assert_ne!(
        fixed.node(f4).unwrap().pod_range,
        next,
        "the allocator knows the range is taken"
    );
}

#[test]
fn a_range_set_by_hand_inside_another_is_routed_and_the_longest_prefix_decides() {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
    let n1 = c.add_node("node1", NodeOptions::default()).unwrap();
    let half = parse_cidr("10.244.0.128/25").unwrap();
    let n2 = c
        .add_node(
            "node2",
            NodeOptions {
                lan: 0,
                range: RangeFrom::ByHand(half),
                ..NodeOptions::default()
            },
        )
        .unwrap();
    let plan1 = c.plan(n1).unwrap();
    assert!(
        plan1.owned_routes().any(|r| r.dst == half),
        "the kernel takes it"
    );
    assert!(plan1.skipped.is_empty());
    let p1 = c.add_pod(n1, "p1").unwrap();
    let p2 = c.add_pod(n2, "p2").unwrap();
    let net = Network::new(&c).unwrap();
    let to = c.pod(p2).unwrap().ip;
    assert!(half.contains(to));
    let t = net.probe(Endpoint::Pod(p1), to, ProbeKind::Ping).unwrap();
    // p1 thinks the /24 is on its link: it ARPs for p2 on node1's bridge.
    assert!(
        matches!(
            t.verdict,
            Verdict::Dropped {
                reason: DropReason::NoArpReply { .. },
                ..
            }
        ),
        "{:?}",
        t.verdict
    );
}

#[test]
fn a_range_by_hand_too_large_or_on_a_lan_is_refused_and_changes_nothing() {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
    c.add_node("node1", NodeOptions::default()).unwrap();
    let before = c.clone();
    for bad in [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "192.168.1.0/25",
        "192.168.0.0/16",
    ] {
        let err = c
            .add_node(
                "node2",
                NodeOptions::range(RangeFrom::ByHand(parse_cidr(bad).unwrap())),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("larger than a /16")
                || err.to_string().contains("overlaps the LAN"),
            "{bad}: {err}"
        );
        assert_eq!(c, before, "{bad}");
    }
}

#[test]
fn a_reply_is_never_masqueraded_on_a_node_the_request_passed() {
    // The bridge plugin's ipMasq on every node: a NodePort reply leaving
    // node2 for node1 is an established connection's, not a new one.
    let mut c = scenario::node_port();
    c.ip_masq = true;
    let m = matrix(&c);
    assert!(
        m.node_ports.iter().all(|x| x.cell == Cell::Ok),
        "{:?}",
        m.node_ports
    );
    // Without kube-proxy's masquerade, pod-d answers the laptop itself, and
    // node2's egress masquerade leaves that answer alone too: the laptop
    // sees pod-d's own address.
    let mut c = scenario::node_port();
    c.egress_masq = true;
    let svc = c.services()[0].id;
    c.set_masquerade(svc, false).unwrap();
    let d = c.pod_named("pod-d").unwrap().ip;
    let node1 = c.node_named("node1").unwrap().id;
    let m = matrix(&c);
    let cell = m.node_ports.iter().find(|x| x.node == node1).unwrap().cell;
    assert!(
        matches!(cell, Cell::ReplyAstray { seen, .. } if *seen.ip() == d),
        "{cell:?}"
    );
}
