//! Captured frames become traces, and the model is compared with them.
//!
//! The captures here are written by hand from what Linux shows on each
//! device for a cross-node ping in the demo cluster (TTL lowered by each
//! node, MACs rewritten by each router), not derived from the model.
//! They run natively and, compiled to wasm32, in headless Chromium, where
//! the explainer's live scene uses the same functions.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::net::Ipv4Addr;

use podnet_core::forward::capture::{
    assemble, compare, observable, replay, Capture, Dir, Field, PacketKey, Tap,
};
use podnet_core::forward::{DropReason, FrameRepr, Network, Place, ProbeKind, Step, Verdict};
use podnet_core::net::MacAddr;
use podnet_core::topology::{scenario, Cluster, Endpoint};

fn mac(prefix: [u8; 2], ip: &str) -> MacAddr {
    MacAddr::from_ip(prefix, ip.parse().unwrap())
}

fn frame(ttl: u8, src_mac: MacAddr, dst_mac: MacAddr) -> FrameRepr {
    let mut f = ProbeKind::Ping.frame(Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 2, 2));
    f.ttl = ttl;
    f.src_mac = src_mac;
    f.dst_mac = dst_mac;
    f
}

/// pod-a (node1) pings pod-c (node2), as the capture sockets see it.
fn captured(c: &Cluster) -> Vec<Capture> {
    let a = c.pod_named("pod-a").unwrap().id;
    let pc = c.pod_named("pod-c").unwrap().id;
    let n1 = c.node_named("node1").unwrap().id;
    let n2 = c.node_named("node2").unwrap().id;
    let pod_a = mac([0x0a, 0x58], "10.244.1.2");
    let br1 = mac([0x0a, 0x58], "10.244.1.1");
    let eth1 = mac([0x52, 0x54], "192.168.1.11");
    let eth2 = mac([0x52, 0x54], "192.168.1.12");
    let br2 = mac([0x0a, 0x58], "10.244.2.1");
    let pod_c = mac([0x0a, 0x58], "10.244.2.2");
    let cap = |tap, dir, frame| Capture {
        tap,
        dir,
        at_us: 1_000,
        frame,
        outer: None,
    };
    vec![
        cap(Tap::PodEth(pc), Dir::In, frame(62, br2, pod_c)),
        cap(Tap::Uplink(n1), Dir::Out, frame(63, eth1, eth2)),
        cap(Tap::HostVeth(a), Dir::In, frame(64, pod_a, br1)),
        cap(
            Tap::LanPort(Endpoint::Node(n2)),
            Dir::Out,
            frame(63, eth1, eth2),
        ),
        cap(Tap::Bridge(n2), Dir::Out, frame(62, br2, pod_c)),
        cap(Tap::PodEth(a), Dir::Out, frame(64, pod_a, br1)),
        cap(
            Tap::LanPort(Endpoint::Node(n1)),
            Dir::In,
            frame(63, eth1, eth2),
        ),
        cap(Tap::Bridge(n1), Dir::In, frame(64, pod_a, br1)),
        cap(Tap::Uplink(n2), Dir::In, frame(63, eth1, eth2)),
        cap(Tap::HostVeth(pc), Dir::Out, frame(62, br2, pod_c)),
    ]
}

#[test]
fn captures_in_any_order_become_the_path() {
    let c = scenario::demo();
    let t = assemble(&c, &captured(&c), Vec::new()).unwrap();
    let labels: Vec<String> = t.hops.iter().map(|h| h.place.label(&c)).collect();
    let pc = c.pod_named("pod-c").unwrap();
    assert_eq!(
        labels,
        vec![
            "default/pod-a eth0".to_string(),
            format!("node1 {}", c.pod_named("pod-a").unwrap().host_veth),
            "node1 cni0".into(),
            "node1 eth0".into(),
            "LAN".into(),
            "node2 eth0".into(),
            "node2 cni0".into(),
            format!("node2 {}", pc.host_veth),
            "default/pod-c eth0".into(),
        ]
    );
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(pc.id)
        }
    );
    assert_eq!(t.from, Endpoint::Pod(c.pod_named("pod-a").unwrap().id));
    assert!(
        t.hops.iter().any(|h| matches!(
            h.step,
            Step::BridgeForward { port } if port == pc.host_veth
        )),
        "node2's bridge sends it out of pod-c's port"
    );
    assert!(!t.nat_seen());
}

#[test]
fn the_model_matches_what_linux_does() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let kernel = assemble(&c, &captured(&c), Vec::new()).unwrap();
    let model = replay(&net, &kernel).unwrap();
    let cmp = compare(&model, &kernel);
    assert!(cmp.agrees(), "{cmp:#?}");
    // Every place the kernel was captured at is compared, each once.
    assert_eq!(cmp.rows.len(), observable(&model).len());
    // Routing inside the nodes is modelled but cannot be captured.
    assert!(model.hops.iter().any(|h| matches!(h.place, Place::Node(_))));
    assert!(observable(&model)
        .iter()
        .all(|s| !matches!(s.place, Place::Node(_))));
}

#[test]
fn a_rewritten_field_is_named() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let mut caps = captured(&c);
    // As if node2 did not lower the TTL on its way to the pod.
    for cap in caps.iter_mut().filter(|c| c.frame.ttl == 62) {
        cap.frame.ttl = 63;
    }
    let kernel = assemble(&c, &caps, Vec::new()).unwrap();
    let cmp = compare(&replay(&net, &kernel).unwrap(), &kernel);
    assert!(!cmp.agrees());
    assert_eq!(cmp.differences(), 3);
    assert!(cmp
        .rows
        .iter()
        .filter(|r| !r.agrees())
        .all(|r| r.differs == [Field::Ttl]));
}

#[test]
fn a_packet_lost_on_the_way_is_a_missing_row_and_a_different_verdict() {
    let c = scenario::demo();
    let net = Network::new(&c).unwrap();
    let caps: Vec<Capture> = captured(&c)
        .into_iter()
        .filter(|c| c.frame.ttl > 62)
        .collect();
    let kernel = assemble(&c, &caps, Vec::new()).unwrap();
    let n2 = c.node_named("node2").unwrap().id;
    assert_eq!(
        kernel.verdict,
        Verdict::Dropped {
            at: Place::Uplink(n2),
            reason: DropReason::Vanished
        }
    );
    let cmp = compare(&replay(&net, &kernel).unwrap(), &kernel);
    assert!(!cmp.verdicts_agree);
    let missing: Vec<_> = cmp
        .rows
        .iter()
        .filter(|r| r.kernel.is_none())
        .map(|r| r.model.unwrap().place)
        .collect();
    assert_eq!(missing.len(), 3);
    assert_eq!(missing[0], Place::Bridge(n2));
}

#[test]
fn a_numbered_packet_keeps_its_key_through_nat_and_an_unnumbered_one_does_not() {
    let mut before = ProbeKind::Udp(30080).frame(
        Ipv4Addr::new(192, 168, 1, 100),
        Ipv4Addr::new(192, 168, 1, 11),
    );
    before.ident = 4711;
    let mut after = before;
    // DNAT to the pod, masquerade to the node: addresses and a port change.
    after.src = Ipv4Addr::new(192, 168, 1, 11);
    after.dst = Ipv4Addr::new(10, 244, 2, 2);
    after.l4.set_ports(41000, 7946);
    after.ttl -= 1;
    let payload = b"podnet live probe";
    assert_eq!(
        PacketKey::of(&before, payload),
        PacketKey::of(&after, payload)
    );
    assert_ne!(
        PacketKey::of(&before, payload),
        PacketKey::of(&before, b"another")
    );
    let mut next = before;
    next.ident += 1;
    assert_ne!(
        PacketKey::of(&before, payload),
        PacketKey::of(&next, payload)
    );
    // Unnumbered: only the flow tells packets apart, and NAT changes the flow.
    before.ident = 0;
    after.ident = 0;
    assert_ne!(
        PacketKey::of(&before, payload),
        PacketKey::of(&after, payload)
    );
}

#[test]
fn nothing_captured_is_no_trace() {
    assert!(assemble(&scenario::demo(), &[], Vec::new()).is_none());
}

/// pod-a (node1) sends UDP to Service web (10.96.0.20:80) and node1's
/// kube-proxy rules send it to `target` on node2, as the capture sockets
/// see it: the ClusterIP up to node1's bridge (DNAT is later, in
/// PREROUTING), the endpoint's address from node1's eth0 on.
fn captured_to_service(c: &Cluster, target: &str) -> Vec<Capture> {
    let a = c.pod_named("pod-a").unwrap().id;
    let t = c.pod_named(target).unwrap();
    let n1 = c.node_named("node1").unwrap().id;
    let n2 = c.node_named("node2").unwrap().id;
    let pod_a = mac([0x0a, 0x58], "10.244.1.2");
    let br1 = mac([0x0a, 0x58], "10.244.1.1");
    let eth1 = mac([0x52, 0x54], "192.168.1.11");
    let eth2 = mac([0x52, 0x54], "192.168.1.12");
    let br2 = mac([0x0a, 0x58], "10.244.2.1");
    let pod_t = mac([0x0a, 0x58], &t.ip.to_string());
    let udp = |ttl, src_mac, dst_mac, dst: Ipv4Addr, port| {
        let mut f = ProbeKind::Udp(80).frame(Ipv4Addr::new(10, 244, 1, 2), dst);
        let (sport, _) = f.l4.ports().unwrap();
        f.l4.set_ports(sport, port);
        f.ttl = ttl;
        f.src_mac = src_mac;
        f.dst_mac = dst_mac;
        f
    };
    let vip = Ipv4Addr::new(10, 96, 0, 20);
    let cap = |tap, dir, frame| Capture {
        tap,
        dir,
        at_us: 1_000,
        frame,
        outer: None,
    };
    vec![
        cap(Tap::PodEth(a), Dir::Out, udp(64, pod_a, br1, vip, 80)),
        cap(Tap::HostVeth(a), Dir::In, udp(64, pod_a, br1, vip, 80)),
        cap(Tap::Bridge(n1), Dir::In, udp(64, pod_a, br1, vip, 80)),
        cap(Tap::Uplink(n1), Dir::Out, udp(63, eth1, eth2, t.ip, 8080)),
        cap(Tap::Uplink(n2), Dir::In, udp(63, eth1, eth2, t.ip, 8080)),
        cap(Tap::Bridge(n2), Dir::Out, udp(62, br2, pod_t, t.ip, 8080)),
        cap(
            Tap::HostVeth(t.id),
            Dir::Out,
            udp(62, br2, pod_t, t.ip, 8080),
        ),
        cap(Tap::PodEth(t.id), Dir::In, udp(62, br2, pod_t, t.ip, 8080)),
    ]
}

#[test]
fn a_packet_to_a_service_replays_to_the_endpoint_the_kernel_chose() {
    let c = scenario::service();
    let net = Network::new(&c).unwrap();
    for target in ["pod-c", "pod-d"] {
        let pod = c.pod_named(target).unwrap();
        let kernel = assemble(&c, &captured_to_service(&c, target), Vec::new()).unwrap();
        assert_eq!(
            kernel.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(pod.id)
            }
        );
        let model = replay(&net, &kernel).unwrap();
        let (_, from, to) = model.dnat().expect("the model's DNAT hop");
        assert_eq!(from.to_string(), "10.96.0.20:80");
        assert_eq!(*to.ip(), pod.ip, "{target}");
        let cmp = compare(&model, &kernel);
        assert!(cmp.verdicts_agree, "{target}: {cmp:#?}");
    }
}

#[test]
fn a_local_node_port_replays_to_the_node_s_own_endpoint_the_kernel_chose() {
    use podnet_core::topology::{NewService, Protocol, TrafficPolicy};
    // web on node port 30080 with policy Local, endpoints on both nodes;
    // the laptop asks node2, which draws only among its own two.
    let mut c = scenario::demo();
    c.route_nodes_to_lan_gateways().unwrap();
    let ids: Vec<_> = ["pod-a", "pod-c", "pod-d"]
        .iter()
        .map(|p| c.pod_named(p).unwrap().id)
        .collect();
    let web = c
        .add_service(NewService::node_port("web", Protocol::Tcp, 30080, 8080).with_endpoints(&ids))
        .unwrap();
    c.set_traffic_policy(web, TrafficPolicy::Local).unwrap();
    let laptop = c
        .add_client("laptop", Some(Ipv4Addr::new(192, 168, 1, 100)))
        .unwrap();
    let node2 = c.node_named("node2").unwrap().underlay_ip;
    let net = Network::new(&c).unwrap();
    for (pick, pod) in [(0, "pod-c"), (1, "pod-d")] {
        // What the kernel did, as the model does it with that pick.
        let kernel = net
            .probe_picking(
                Endpoint::Client(laptop),
                node2,
                ProbeKind::TcpSyn(30080),
                pick,
            )
            .unwrap();
        let want = Verdict::Delivered {
            to: Endpoint::Pod(c.pod_named(pod).unwrap().id),
        };
        assert_eq!(kernel.verdict, want);
        assert_eq!(replay(&net, &kernel).unwrap().verdict, want, "{pod}");
    }
}

/// The recording the explainer ships (static/lab-recording.json, made by
/// `podnet lab record` on a real lab) still reads as core's types, each
/// probe's request is among its packets, and the model agrees with the
/// kernel at every place of every request: if core's messages or model
/// change, this says to record it again.
#[test]
fn the_shipped_recording_reads_and_the_model_agrees_with_it() {
    use podnet_core::lab_api::Recording;
    let rec: Recording =
        serde_json::from_str(include_str!("../../static/lab-recording.json")).unwrap();
    let cluster = rec.lab.cluster().unwrap();
    let net = Network::new(&cluster).unwrap();
    assert!(rec.sends.len() >= 3, "a ping, a NodePort and a Service");
    let protos: std::collections::BTreeSet<_> =
        rec.sends.iter().map(|s| s.request.proto.key()).collect();
    assert_eq!(protos.len(), 3, "{protos:?}");
    for s in &rec.sends {
        assert!(s.result.answered, "{:?}", s.request);
        let request = s.traces.iter().find(|t| s.result.sent(t));
        let request = request.unwrap_or_else(|| panic!("{:?}: no request captured", s.request));
        assert!(matches!(request.trace.verdict, Verdict::Delivered { .. }));
        let model = replay(&net, &request.trace).unwrap();
        let cmp = compare(&model, &request.trace);
        assert!(cmp.agrees(), "{:?}: {cmp:?}", s.request);
    }
}
