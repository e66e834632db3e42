//! The seed's scenarios, built through the same allocators a user's cluster uses.
//!
//! | builder | what it shows |
//! |---|---|
//! | [`one_node`] | one node's internal network 10.244.0.0/24; a pod with two containers and one address |
//! | [`unconnected_nodes`] | two nodes set up on their own, both on 10.244.0.0/24: "this isn't going to work" |
//! | [`demo`] | a cluster network: node1 10.244.1.0/24, node2 10.244.2.0/24, host-gw routes |
//! | [`node_port`] | the demo plus a NodePort service and a laptop outside the cluster |
//! | [`routed`] | the demo's nodes on two LANs behind a router, with a backend: host-gw fails, VXLAN delivers |
//! | [`netpol`] | upstream's NetworkPolicy layout: namespaces x, y, z with pods a, b, c on two nodes |

use crate::net::parse_cidr;

use super::{
    Backend, Cluster, Labels, NewService, NodeOptions, Protocol, RangeFrom, ServicePort,
    TargetPort, DEFAULT_UNDERLAY,
};

const BUILT_IN: &str = "built-in scenarios are valid";

/// Names of the scenarios, in the seed's order, for menus and the CLI.
pub const NAMES: [&str; 8] = [
    "one-node",
    "unconnected-nodes",
    "demo",
    "service",
    "node-port",
    "routed-host-gw",
    "routed-vxlan",
    "routed-auto",
];

/// A scenario by name.
pub fn by_name(name: &str) -> Option<Cluster> {
    match name {
        "one-node" => Some(one_node()),
        "unconnected-nodes" => Some(unconnected_nodes()),
        "demo" => Some(demo()),
        "service" => Some(service()),
        "node-port" => Some(node_port()),
        "routed-host-gw" => Some(routed(Backend::HostGw)),
        "routed-vxlan" => Some(routed(Backend::Vxlan)),
        "routed-auto" => Some(routed(Backend::Auto)),
        _ => None,
    }
}

/// One node: pods on its internal network 10.244.0.0/24; `web` has two
/// containers sharing one address.
pub fn one_node() -> Cluster {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect(BUILT_IN);
    c.set_backend(Backend::None);
    let n = c
        .add_node(
            "node1",
            NodeOptions::range(RangeFrom::Standalone(
                parse_cidr("10.244.0.0/24").expect(BUILT_IN),
            )),
        )
        .expect(BUILT_IN);
    c.add_pod_in(n, "default", "web", &["nginx", "log-shipper"])
        .expect(BUILT_IN);
    c.add_pod(n, "db").expect(BUILT_IN);
    c.add_pod(n, "cache").expect(BUILT_IN);
    c
}

/// Two nodes that are not part of a cluster network: each uses the default
/// 10.244.0.0/24, so both have a 10.244.0.2 and a 10.244.0.3.
pub fn unconnected_nodes() -> Cluster {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect(BUILT_IN);
    c.set_backend(Backend::None);
    let range = parse_cidr("10.244.0.0/24").expect(BUILT_IN);
    for (node, pods) in [("node1", ["pod-a", "pod-b"]), ("node2", ["pod-c", "pod-d"])] {
        let n = c
            .add_node(node, NodeOptions::range(RangeFrom::Standalone(range)))
            .expect(BUILT_IN);
        for p in pods {
            c.add_pod(n, p).expect(BUILT_IN);
        }
    }
    c
}

/// The demo cluster: node1 with 10.244.1.0/24, node2 with 10.244.2.0/24,
/// two pods each, host-gw routes between them.
pub fn demo() -> Cluster {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect(BUILT_IN);
    for (node, range, pods) in [
        ("node1", "10.244.1.0/24", ["pod-a", "pod-b"]),
        ("node2", "10.244.2.0/24", ["pod-c", "pod-d"]),
    ] {
        let n = c
            .add_node(
                node,
                NodeOptions::range(RangeFrom::Given(parse_cidr(range).expect(BUILT_IN))),
            )
            .expect(BUILT_IN);
        for p in pods {
            c.add_pod(n, p).expect(BUILT_IN);
        }
    }
    c
}

/// The Service's ClusterIP in [`service`].
pub const WEB_IP: &str = "10.96.0.20";

/// The demo with a Service: `web` (ClusterIP 10.96.0.20, TCP and UDP 80
/// → 8080) in front of the pods labelled `app=web` — pod-b on node1,
/// pod-c and pod-d on node2 — that pod-a, on node1, calls. The nodes have
/// their LAN's default route, as machines do (a ClusterIP needs a route).
pub fn service() -> Cluster {
    let mut c = demo();
    c.route_nodes_to_lan_gateways().expect(BUILT_IN);
    let web: Labels = [("app".to_string(), "web".to_string())].into();
    for p in ["pod-b", "pod-c", "pod-d"] {
        let id = c.pod_named(p).expect(BUILT_IN).id;
        c.set_pod_labels(id, web.clone()).expect(BUILT_IN);
    }
    let port = |protocol| ServicePort {
        name: protocol_name(protocol).into(),
        protocol,
        port: 80,
        target: TargetPort::Number(8080),
        node_port: None,
    };
    c.add_service(NewService {
        cluster_ip: Some(WEB_IP.parse().expect(BUILT_IN)),
        ports: vec![port(Protocol::Tcp), port(Protocol::Udp)],
        ..NewService::cluster_ip("web", Protocol::Tcp, 80, 8080).with_selector(web)
    })
    .expect(BUILT_IN);
    c
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "http",
        Protocol::Udp => "udp",
    }
}

/// The demo plus service `web` on node port 30080 → pod-d:8080 (on node2),
/// and a laptop at 192.168.1.100 outside the cluster; the nodes with their
/// LAN's default route.
pub fn node_port() -> Cluster {
    let mut c = demo();
    c.route_nodes_to_lan_gateways().expect(BUILT_IN);
    let pod = c.pod_named("pod-d").expect(BUILT_IN).id;
    c.add_service(NewService::node_port("web", Protocol::Tcp, 30080, 8080).with_endpoints(&[pod]))
        .expect(BUILT_IN);
    c.add_client("laptop", Some("192.168.1.100".parse().expect(BUILT_IN)))
        .expect(BUILT_IN);
    c
}

/// The overlay's second LAN.
pub const SECOND_LAN: &str = "192.168.2.0/24";

/// The demo's pods on three nodes: node1 (192.168.1.11) and node3
/// (192.168.1.13) on the first LAN, node2 (192.168.2.12) on a second one
/// behind a router (.1 on both). host-gw reaches node3 but not node2: its
/// next hop is not on-link. VXLAN reaches both; `auto` goes direct to node3
/// and through the tunnel to node2.
pub fn routed(backend: Backend) -> Cluster {
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect(BUILT_IN);
    c.set_backend(backend);
    c.add_lan(parse_cidr(SECOND_LAN).expect(BUILT_IN))
        .expect(BUILT_IN);
    for (node, ip, range, pods) in [
        (
            "node1",
            "192.168.1.11",
            "10.244.1.0/24",
            &["pod-a", "pod-b"][..],
        ),
        (
            "node2",
            "192.168.2.12",
            "10.244.2.0/24",
            &["pod-c", "pod-d"][..],
        ),
        ("node3", "192.168.1.13", "10.244.3.0/24", &["pod-e"][..]),
    ] {
        let n = c
            .add_node(
                node,
                NodeOptions {
                    ip: Some(ip.parse().expect(BUILT_IN)),
                    range: RangeFrom::Given(parse_cidr(range).expect(BUILT_IN)),
                    ..NodeOptions::default()
                },
            )
            .expect(BUILT_IN);
        for p in pods {
            c.add_pod(n, p).expect(BUILT_IN);
        }
    }
    c
}

/// The layout of Kubernetes' own NetworkPolicy tests
/// ([`crate::policy::layout`]) as a cluster: node1 (10.244.1.0/24) runs
/// pods a and b of each namespace, node2 (10.244.2.0/24) pods c, each at
/// the layout's address with its labels and named ports, and the
/// namespaces x, y and z labelled. Its pods are in the layout's order, so
/// a truth table's pod `i` is this cluster's pod `i`.
pub fn netpol() -> Cluster {
    use crate::policy::{layout, PolicyProtocol};
    let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect(BUILT_IN);
    let mut nodes = Vec::new();
    for (node, range) in [("node1", "10.244.1.0/24"), ("node2", "10.244.2.0/24")] {
        let range = RangeFrom::Given(parse_cidr(range).expect(BUILT_IN));
        nodes.push(c.add_node(node, NodeOptions::range(range)).expect(BUILT_IN));
    }
    let (namespaces, pods) = layout::layout();
    for p in pods {
        let node = if p.node == "node1" {
            nodes[0]
        } else {
            nodes[1]
        };
        let id = c
            .add_pod_with_sandbox(node, &p.namespace, &p.name, &["serve"], Some(p.ip), None)
            .expect(BUILT_IN);
        let ports = p
            .ports
            .iter()
            .map(|n| super::ContainerPort {
                name: n.name.clone(),
                protocol: match n.protocol {
                    PolicyProtocol::Udp => Protocol::Udp,
                    _ => Protocol::Tcp,
                },
                port: n.port,
                host_port: None,
            })
            .collect();
        c.set_pod_ports(id, ports).expect(BUILT_IN);
        c.set_pod_labels(id, p.labels).expect(BUILT_IN);
    }
    c.set_namespaces(namespaces);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_the_seeds_addresses() {
        for name in NAMES {
            assert!(by_name(name).is_some(), "{name}");
        }
        let d = demo();
        let ips: Vec<String> = d.pods().iter().map(|p| p.ip.to_string()).collect();
        assert_eq!(
            ips,
            ["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3"]
        );
        let u = unconnected_nodes();
        let ips: Vec<String> = u.pods().iter().map(|p| p.ip.to_string()).collect();
        assert_eq!(
            ips,
            ["10.244.0.2", "10.244.0.3", "10.244.0.2", "10.244.0.3"]
        );
        assert_eq!(one_node().pod_named("web").unwrap().containers.len(), 2);
    }
}
