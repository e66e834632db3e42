//! Services in the model, as kube-proxy and the kernel treat them: a
//! ClusterIP DNATed on the sending node to one of the pods behind it, the
//! reply un-DNATed by conntrack (in the bridge when the endpoint is on the
//! same node), a pod reaching itself through its own Service (hairpin),
//! a Service without endpoints, and the endpoint list following the pods.

use std::net::{Ipv4Addr, SocketAddrV4};

use podnet_core::forward::{DropReason, Network, Place, ProbeKind, Step, Trace, Verdict};
use podnet_core::services::choices;
use podnet_core::topology::scenario::{self, WEB_IP};
use podnet_core::topology::{Cluster, Endpoint, NewService, Protocol};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn pod(c: &Cluster, name: &str) -> Endpoint {
    Endpoint::Pod(c.pod_named(name).unwrap().id)
}

/// `from` asks web:80 over TCP, kube-proxy's balancing taking endpoint `pick`.
fn ask(c: &Cluster, from: &str, pick: usize) -> (Trace, Option<Trace>) {
    let net = Network::new(c).unwrap();
    let t = net
        .probe_picking(pod(c, from), ip(WEB_IP), ProbeKind::TcpSyn(80), pick)
        .unwrap();
    let reply = net.reply(&t).unwrap();
    (t, reply)
}

#[test]
fn each_endpoint_gets_a_third_in_kube_proxys_order() {
    let c = scenario::service();
    let s = c.service_named("web").unwrap();
    let odds = choices(&c, s, &s.ports[0]);
    let order: Vec<String> = odds.iter().map(|(e, _)| e.addr.to_string()).collect();
    assert_eq!(
        order,
        ["10.244.1.3:8080", "10.244.2.2:8080", "10.244.2.3:8080"]
    );
    for (_, p) in &odds {
        assert!((p - 1.0 / 3.0).abs() < 1e-9, "{odds:?}");
    }
    assert!((odds.iter().map(|(_, p)| p).sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
fn a_cluster_ip_is_dnated_on_the_sending_node_and_the_reply_undone() {
    let c = scenario::service();
    let a = c.pod_named("pod-a").unwrap().clone();
    for (pick, to) in [(0, "pod-b"), (1, "pod-c"), (2, "pod-d")] {
        let (t, reply) = ask(&c, "pod-a", pick);
        assert_eq!(t.verdict, Verdict::Delivered { to: pod(&c, to) });
        let got = t.received().unwrap();
        let target = c.pod_named(to).unwrap().ip;
        assert_eq!(
            (got.src, got.dst),
            (a.ip, target),
            "no masquerade: a pod's source stays"
        );
        assert_eq!(got.l4.ports().unwrap().1, 8080);
        // The DNAT is node1's, the sender's, with kube-proxy's rules named.
        let dnat = t
            .hops
            .iter()
            .position(|h| matches!(h.step, Step::Dnat { .. }))
            .unwrap();
        assert!(matches!(
            t.hops[dnat].place,
            Place::Bridge(n) | Place::Node(n) if n == a.node
        ));
        let rules: Vec<&str> = t.rules.iter().map(|r| r.line.as_str()).collect();
        assert!(
            rules
                .iter()
                .any(|l| l.starts_with("-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp")),
            "{rules:#?}"
        );
        assert!(
            rules
                .iter()
                .any(|l| l.ends_with(&format!("-j DNAT --to-destination {target}:8080"))),
            "{rules:#?}"
        );
        // The answer comes from the address pod-a asked.
        let back = reply.unwrap();
        assert_eq!(
            back.verdict,
            Verdict::Delivered {
                to: pod(&c, "pod-a")
            }
        );
        let answer = back.received().unwrap();
        assert_eq!(
            SocketAddrV4::new(answer.src, answer.l4.ports().unwrap().0),
            SocketAddrV4::new(ip(WEB_IP), 80),
            "{:#?}",
            back.explain(&c)
        );
    }
}

#[test]
fn an_endpoint_on_the_same_node_is_reached_in_the_bridge_and_needs_br_netfilter_for_the_reply() {
    let mut c = scenario::service();
    let (t, reply) = ask(&c, "pod-a", 0);
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: pod(&c, "pod-b")
        }
    );
    // br_netfilter: the DNAT happens in node1's bridge, which forwards it
    // to pod-b's port itself: never routed, its TTL stays.
    assert_eq!(t.received().unwrap().ttl, t.sent.unwrap().ttl);
    assert!(reply
        .unwrap()
        .hops
        .iter()
        .any(|h| matches!((h.place, h.step), (Place::Bridge(_), Step::UnDnat { .. }))));
    // Without it the reply crosses the bridge unseen: pod-a gets pod-b's
    // own address, which its connection to the ClusterIP does not know.
    let node1 = c.node_named("node1").unwrap().id;
    c.set_bridge_nf(node1, false).unwrap();
    let (t, reply) = ask(&c, "pod-a", 0);
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: pod(&c, "pod-b")
        }
    );
    let reply = reply.unwrap();
    let answer = reply.received().unwrap();
    assert_eq!(answer.src, c.pod_named("pod-b").unwrap().ip);
}

#[test]
fn a_pod_reaching_itself_through_its_service_needs_hairpin_and_is_masqueraded() {
    let mut c = scenario::service();
    let b = c.pod_named("pod-b").unwrap().clone();
    let (t, reply) = ask(&c, "pod-b", 0);
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: pod(&c, "pod-b")
        }
    );
    // kube-proxy's endpoint chain marks it (`-s <itself> -j KUBE-MARK-MASQ`):
    // pod-b sees the bridge's address, so its answer goes back through it.
    let got = t.received().unwrap();
    assert_eq!((got.src, got.dst), (ip("10.244.1.1"), b.ip));
    assert!(t
        .rules
        .iter()
        .any(|r| r.line.contains(&format!("-s {}/32", b.ip))
            && r.line.ends_with("-j KUBE-MARK-MASQ")));
    let back = reply.unwrap();
    assert_eq!(
        back.verdict,
        Verdict::Delivered {
            to: pod(&c, "pod-b")
        }
    );
    let answer = back.received().unwrap();
    assert_eq!((answer.src, answer.dst), (ip(WEB_IP), b.ip));
    // Hairpin mode off: the bridge will not send it back out of pod-b's port.
    let node1 = c.node_named("node1").unwrap().id;
    c.set_hairpin(node1, false).unwrap();
    let (t, _) = ask(&c, "pod-b", 0);
    assert!(
        matches!(
            t.verdict,
            Verdict::Dropped {
                reason: DropReason::HairpinOff { port },
                ..
            } if port == b.host_veth
        ),
        "{:#?}",
        t.explain(&c)
    );
}

#[test]
fn a_service_without_endpoints_is_refused_and_a_ping_gets_no_answer() {
    let mut c = scenario::service();
    let nobody = [("app".to_string(), "nobody".to_string())].into();
    c.add_service(NewService::cluster_ip("empty", Protocol::Tcp, 80, 8080).with_selector(nobody))
        .unwrap();
    let empty = c.service_named("empty").unwrap().clone();
    assert!(empty.endpoints.is_empty(), "the selector picks no pod");
    let net = Network::new(&c).unwrap();
    let t = net
        .probe(pod(&c, "pod-a"), empty.cluster_ip, ProbeKind::TcpSyn(80))
        .unwrap();
    assert!(
        matches!(t.verdict, Verdict::Dropped { reason: DropReason::NoEndpoints { service }, .. } if service == empty.id),
        "{:#?}",
        t.explain(&c)
    );
    assert!(t.rules.iter().any(|r| r.table == "filter"
        && r.line.contains("has no endpoints")
        && r.line.contains("REJECT")));
    // A ClusterIP answers only its Service's ports: a ping is no one's.
    let ping = net
        .probe(pod(&c, "pod-a"), ip(WEB_IP), ProbeKind::Ping)
        .unwrap();
    assert!(matches!(ping.verdict, Verdict::Dropped { .. }));
}

#[test]
fn the_endpoints_follow_the_pods_and_the_cluster_ip_stays() {
    let mut c = scenario::service();
    let before = c.service_named("web").unwrap().clone();
    let d = c.pod_named("pod-d").unwrap().clone();
    c.remove_pod(d.id).unwrap();
    let node2 = c.node_named("node2").unwrap().id;
    let new = c.add_pod(node2, "pod-d2").unwrap();
    assert_eq!(c.service_named("web").unwrap().endpoints.len(), 2);
    c.set_pod_labels(new, [("app".into(), "web".into())].into())
        .unwrap();
    let after = c.service_named("web").unwrap();
    assert_eq!(after.cluster_ip, before.cluster_ip);
    assert_eq!(after.endpoints.len(), 3);
    assert!(after.endpoints.contains(&new) && !after.endpoints.contains(&d.id));
}

#[test]
fn bad_services_are_refused_and_change_nothing() {
    let mut c = scenario::service();
    let before = c.clone();
    let mut outside = NewService::cluster_ip("far", Protocol::Tcp, 80, 80);
    outside.cluster_ip = Some(ip("10.97.0.1"));
    assert!(c
        .add_service(outside)
        .unwrap_err()
        .to_string()
        .contains("service range"));
    let mut taken = NewService::cluster_ip("twin", Protocol::Tcp, 80, 80);
    taken.cluster_ip = Some(ip(WEB_IP));
    assert!(c
        .add_service(taken)
        .unwrap_err()
        .to_string()
        .contains("default/web"));
    assert!(c
        .add_service(NewService::node_port("np", Protocol::Tcp, 80, 80))
        .is_err());
    c.add_service(NewService::node_port("np", Protocol::Tcp, 30080, 80))
        .unwrap();
    let twice = c.add_service(NewService::node_port("np2", Protocol::Tcp, 30080, 80));
    assert!(twice.unwrap_err().to_string().contains("default/np"));
    assert!(c
        .add_service(NewService::cluster_ip("web", Protocol::Tcp, 80, 80))
        .is_err());
    c.remove_service(c.service_named("np").unwrap().id).unwrap();
    assert_eq!(c.services(), before.services());
}

#[test]
fn a_reply_reaches_a_pod_that_declares_ports_whatever_port_it_asked_from() {
    use podnet_core::topology::ContainerPort;
    // pod-b declares only 8080 and asks pod-a, beside it on node1's
    // bridge, from an ephemeral port: the answer is for its socket.
    let mut c = scenario::service();
    let b = c.pod_named("pod-b").unwrap().id;
    let http = ContainerPort {
        name: "http".into(),
        protocol: Protocol::Tcp,
        port: 8080,
        host_port: None,
    };
    c.set_pod_ports(b, vec![http]).unwrap();
    let node1 = c.node_named("node1").unwrap().id;
    for bridge_nf in [true, false] {
        c.set_bridge_nf(node1, bridge_nf).unwrap();
        let net = Network::new(&c).unwrap();
        let a_ip = c.pod_named("pod-a").unwrap().ip;
        let t = net
            .probe(Endpoint::Pod(b), a_ip, ProbeKind::TcpSyn(8080))
            .unwrap();
        assert_eq!(
            t.verdict,
            Verdict::Delivered {
                to: pod(&c, "pod-a")
            }
        );
        let reply = net.reply(&t).unwrap().expect("a reply");
        assert_eq!(
            reply.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(b)
            },
            "br_netfilter {bridge_nf}"
        );
    }
}
