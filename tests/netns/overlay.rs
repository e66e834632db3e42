//! The overlay for real, as root: labs whose nodes sit on two LANs behind a
//! router namespace, with each backend. host-gw must fail exactly where the
//! model says; vxlan and auto must pass the whole matrix without NAT, carry
//! packets larger than the overlay's MTU (TCP) or refuse them as the model
//! says (DF), and show the captured VXLAN frames' outer headers equal to the
//! model's. Every lab is torn down on drop, even when an assertion fails.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use podnet_core::forward::capture::{compare, replay};
use podnet_core::forward::{DropReason, L4Repr, Network, Place, ProbeKind, Verdict};
use podnet_core::topology::spec::ClusterSpec;
use podnet_core::topology::Endpoint;
use podnet_kernel::Netns;
use podnet_tests::{text, wait_until, Lab, Served};

fn routed(backend: &str) -> Lab {
    Lab::up(&[
        "--nodes",
        "3",
        "--pods-per-node",
        "1",
        "--lans",
        "2",
        "--backend",
        backend,
    ])
}

#[test]
fn host_gw_across_a_router_fails_exactly_where_the_model_says() {
    let lab = routed("host-gw");
    let out = lab.podnet(&["lab", "check"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "requirements fail: {report}");
    assert!(report.contains("12/24 pairs ok"), "{report}");
    assert!(
        report.contains("model vs kernel: 30/30 pairs agree"),
        "{report}"
    );
    // node2 (LAN 2) is cut off from the pods of node1 and node3 (LAN 1) and
    // they from it; node1 and node3 still reach each other directly. With
    // no route of podnet's, node1 follows its default route to the router,
    // which knows the LANs only.
    assert!(
        report.contains(
            "✗ pod1-1 -> pod2-1: no round trip; model: dropped at router: no route to 10.244.2.2"
        ),
        "{report}"
    );
    assert!(!report.contains("✗ pod1-1 -> pod3-1"), "{report}");
    assert!(
        report.contains("why: node1 -> node2: no 10.244.2.0/24 via 192.168.2.11"),
        "{report}"
    );
    assert!(
        report.contains("every node's kernel table equals its plan"),
        "{report}"
    );
    assert!(
        !report.contains("underlay ("),
        "host-gw tunnels nothing: {report}"
    );
    // The model's reason is the kernel's: the route host-gw would need is refused.
    let add = lab.exec(
        "node1",
        &["ip", "route", "add", "10.244.2.0/24", "via", "192.168.2.11"],
    );
    assert!(!add.status.success());
    assert!(
        text(&add.stderr).contains("Nexthop has invalid gateway"),
        "{}",
        text(&add.stderr)
    );
    // The underlay itself is routed: node1 reaches node2's address through the router.
    let ping = lab.exec("node1", &["ping", "-c", "1", "-W", "2", "192.168.2.11"]);
    assert!(ping.status.success(), "{}", text(&ping.stdout));
}

#[test]
fn vxlan_and_auto_meet_the_requirements_without_nat_across_the_router() {
    for backend in ["vxlan", "auto"] {
        let lab = routed(backend);
        let out = lab.podnet(&["lab", "check"]);
        let report = text(&out.stdout);
        assert!(out.status.success(), "{backend}: {report}");
        // "source unchanged" is part of every ok pair: the receiver saw the sender's address.
        assert!(report.contains("24/24 pairs ok"), "{backend}: {report}");
        assert!(
            report.contains("model vs kernel: 30/30 pairs agree"),
            "{backend}: {report}"
        );
        assert!(
            report.contains("route choice (ip route get): 18/18 lookups agree with the model"),
            "{backend}: {report}"
        );
        assert!(
            report.contains("every node's kernel table equals its plan"),
            "{backend}: {report}"
        );
        // Captured on each sender's eth0: the VXLAN frame's outer and inner
        // headers equal the model's (auto sends node1 <-> node3 directly).
        let tunnelled = if backend == "auto" { 4 } else { 6 };
        let line = format!("underlay (a ping captured on the sender's eth0 inside VXLAN): {tunnelled}/{tunnelled} packets' outer and inner headers equal the model's");
        assert!(report.contains(&line), "{backend}: {report}");
        let routes = lab.routes("node1");
        assert!(
            routes.contains("10.244.2.0/24 via 10.244.2.0 dev podnet.1 proto 150 onlink"),
            "{backend}: {routes}"
        );
        let to_node3 = if backend == "auto" {
            "10.244.3.0/24 via 192.168.1.12 dev eth0 proto 150"
        } else {
            "10.244.3.0/24 via 10.244.3.0 dev podnet.1 proto 150 onlink"
        };
        assert!(routes.contains(to_node3), "{backend}: {routes}");
        let dev = text(
            &lab.exec("node1", &["ip", "-d", "link", "show", "podnet.1"])
                .stdout,
        );
        assert!(dev.contains("mtu 1450"), "{dev}");
        assert!(
            dev.contains("vxlan id 1 local 192.168.1.11 dev eth0") && dev.contains("dstport 8472"),
            "{dev}"
        );
        let fdb = text(
            &lab.exec("node1", &["bridge", "fdb", "show", "dev", "podnet.1"])
                .stdout,
        );
        assert!(
            fdb.contains("0e:50:c0:a8:02:0b dst 192.168.2.11 self permanent"),
            "{fdb}"
        );
        // Pods got the overlay's MTU from the agent's CNI config.
        let pod = text(&lab.exec("pod1-1", &["ip", "link", "show", "eth0"]).stdout);
        assert!(pod.contains("mtu 1450"), "{pod}");
    }
}

/// Runs `f` on a thread inside a pod's (or node's) network namespace.
fn in_ns<T: Send>(lab: &Lab, who: &str, f: impl FnOnce() -> T + Send) -> T {
    let netns = format!("{}-{who}", lab.name);
    let ns = Netns::open(&Path::new("/run/netns").join(netns)).expect("namespace");
    ns.run(f).expect("enter namespace")
}

#[test]
fn large_packets_cross_the_overlay_as_the_model_says() {
    let lab = routed("vxlan");
    let spec = lab.state().spec;
    let cluster = spec.build().unwrap();
    let net = Network::new(&cluster).unwrap();
    let (a, c) = (
        cluster.pod_named("pod1-1").unwrap(),
        cluster.pod_named("pod2-1").unwrap(),
    );
    // DF set: 1450 bytes fit the pod's and the VTEP's MTU, 1451 do not.
    for (size, fits) in [(1422, true), (1423, false)] {
        let ping = lab.exec(
            "pod1-1",
            &[
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                &size.to_string(),
                &c.ip.to_string(),
            ],
        );
        let mut f = ProbeKind::Ping.frame(Ipv4Addr::UNSPECIFIED, c.ip);
        f.dont_fragment = true;
        let model = net
            .trace_repr(Endpoint::Pod(a.id), f, vec![0; size])
            .unwrap();
        assert_eq!(
            ping.status.success(),
            fits,
            "{size}: {}{}",
            text(&ping.stdout),
            text(&ping.stderr)
        );
        match model.verdict {
            Verdict::Delivered { .. } => assert!(fits),
            Verdict::Dropped {
                at,
                reason: DropReason::TooBig { mtu, .. },
            } => {
                assert!(!fits);
                assert_eq!((at, mtu), (Place::Pod(a.id), 1450));
                let said = text(&ping.stdout) + &text(&ping.stderr);
                assert!(
                    said.contains("mtu=1450") || said.contains("Message too long"),
                    "{said}"
                );
            }
            v => panic!("{size}: model {v:?}"),
        }
    }
    // TCP segments at the overlay's MSS: 4 MiB from pod1-1 to pod2-1, intact.
    let payload: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let listener = in_ns(&lab, "pod2-1", || TcpListener::bind((c.ip, 5201)).unwrap());
    let receiver = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        (got, peer)
    });
    let to = SocketAddrV4::new(c.ip, 5201);
    let mut stream = in_ns(&lab, "pod1-1", || {
        TcpStream::connect_timeout(&to.into(), Duration::from_secs(5)).unwrap()
    });
    stream.write_all(&payload).unwrap();
    drop(stream);
    let (got, peer) = receiver.join().unwrap();
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "the bytes arrived intact");
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(a.ip),
        "no NAT: the receiver sees the sending pod"
    );
}

#[test]
fn a_captured_overlay_packet_has_both_layers_and_the_model_agrees() {
    let s = Served::up(&[
        "--nodes",
        "3",
        "--pods-per-node",
        "1",
        "--lans",
        "2",
        "--backend",
        "vxlan",
    ]);
    let view = s.get("/api/lab");
    let spec: ClusterSpec = serde_json::from_value(view["spec"].clone()).expect("spec");
    let cluster = spec.build().expect("the kernels describe a valid cluster");
    let net = Network::new(&cluster).unwrap();
    let r = s.probe("pod1-1", "pod2-1");
    assert_eq!(r["answered"], true, "{r}");
    let id = r["icmp_id"].as_u64().unwrap() as u16;
    for request in [true, false] {
        let t = wait_until("the captured packet", Duration::from_secs(5), || {
            s.traces().into_iter().find(|t| {
                matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::IcmpEcho { request: q, id: i, .. }) if q == request && i == id)
            })
        });
        let outer: Vec<_> = t.trace.hops.iter().filter_map(|h| h.outer).collect();
        assert!(
            outer.len() >= 4,
            "captured on both uplinks and both LANs inside VXLAN: {:#?}",
            t.trace.explain(&cluster)
        );
        assert!(outer
            .iter()
            .all(|e| e.vni == 1 && matches!(e.outer.l4, L4Repr::Udp { dst_port: 8472, .. })));
        assert!(
            t.trace
                .hops
                .iter()
                .any(|h| h.place == Place::Lan(1) && h.outer.is_some()),
            "seen behind the router"
        );
        let model = replay(&net, &t.trace).unwrap();
        let cmp = compare(&model, &t.trace);
        assert!(
            cmp.agrees(),
            "model and kernel differ\nkernel: {:#?}\nmodel: {:#?}\nrows: {:#?}",
            t.trace.explain(&cluster),
            model.explain(&cluster),
            cmp.rows
        );
    }
}

#[test]
fn switching_the_backend_converges_without_a_restart() {
    let lab = Lab::up(&["--nodes", "2", "--pods-per-node", "1", "--backend", "vxlan"]);
    assert!(lab.routes("node1").contains("dev podnet.1"));
    // Rewrite the cluster file to host-gw: the agents follow.
    let mut state = lab.state();
    state.spec.backend = None;
    std::fs::write(
        state.cluster_file(),
        serde_json::to_string_pretty(&state.spec).unwrap(),
    )
    .unwrap();
    let routes = wait_until("host-gw routes", Duration::from_secs(15), || {
        let r = lab.routes("node1");
        r.contains("10.244.2.0/24 via 192.168.1.12 dev eth0 proto 150")
            .then_some(r)
    });
    assert!(!routes.contains("podnet.1"), "{routes}");
    let links = text(&lab.exec("node1", &["ip", "link"]).stdout);
    assert!(!links.contains("podnet.1"), "the VTEP is gone: {links}");
    // The reply needs node2's agent to have followed too: each node
    // converges on its own, and node1's routes say nothing of node2's.
    wait_until("node2's host-gw route", Duration::from_secs(15), || {
        lab.routes("node2")
            .contains("10.244.1.0/24 via 192.168.1.11 dev eth0 proto 150")
            .then_some(())
    });
    let ping = lab.exec("pod1-1", &["ping", "-c", "1", "-W", "2", "10.244.2.2"]);
    assert!(ping.status.success(), "{}", text(&ping.stdout));
}
