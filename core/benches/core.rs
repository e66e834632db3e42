//! Core benchmarks: allocation at Kubernetes' scale limits, one trace in a
//! big cluster (plain host-gw, and inside VXLAN across a router), the full
//! CNI requirement matrix, and Services: one node's kube-proxy rules for
//! 1,000 Services and one packet to a ClusterIP in a 1,000-node cluster;
//! one NetworkPolicy verdict among 10,000 pods and 1,000 policies.
//!
//! `cargo bench -p podnet-core` runs criterion for each and then prints one
//! `FIGURE` line per benchmark with the median, the target from the issue and
//! whether it was met. The figures are measured, never asserted: a slow
//! machine prints MISSED rather than failing a test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use podnet_core::alloc::{AllocKey, ClusterAllocator, NodeIpam};
use podnet_core::forward::{Matrix, Network, ProbeKind, Verdict};
use podnet_core::net::parse_cidr;
use podnet_core::policy::{
    NamedPort, Namespace, NetworkPolicy, Party, PolicyPod, PolicyProtocol, PolicySet,
};
use podnet_core::services;
use podnet_core::topology::{Backend, Cluster, Endpoint, NewService, NodeOptions, PodId, Protocol};

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 110;

fn keys() -> Vec<Vec<AllocKey>> {
    (0..NODES)
        .map(|n| {
            (0..PODS_PER_NODE)
                .map(|p| AllocKey::new(format!("{n:04x}{p:060x}"), "eth0"))
                .collect()
        })
        .collect()
}

/// 5,000 node ranges from 10.0.0.0/8, then 110 pod addresses in each.
fn allocate_all(keys: Vec<Vec<AllocKey>>) -> usize {
    let mut ranges = ClusterAllocator::new(parse_cidr("10.0.0.0/8").unwrap(), 24).unwrap();
    let mut count = 0;
    for node_keys in keys {
        let mut ipam = NodeIpam::for_subnet(ranges.allocate().unwrap()).unwrap();
        count += 1;
        for key in node_keys {
            ipam.allocate(key).unwrap();
            count += 1;
        }
        black_box(&ipam);
    }
    count
}

fn cluster(nodes: usize, pods: usize) -> Cluster {
    let mut c = Cluster::parse("10.0.0.0/8", 24, "172.16.0.0/16").unwrap();
    for n in 0..nodes {
        let id = c
            .add_node(&format!("node{n}"), NodeOptions::default())
            .unwrap();
        for p in 0..pods {
            c.add_pod(id, &format!("pod{n}-{p}")).unwrap();
        }
    }
    c
}

/// `nodes` nodes with one pod each, alternating between two LANs behind a
/// router, every peer through VXLAN.
fn overlay_cluster(nodes: usize) -> Cluster {
    let mut c = Cluster::parse("10.0.0.0/8", 24, "172.16.0.0/16").unwrap();
    c.set_backend(Backend::Vxlan);
    c.add_lan(parse_cidr("172.17.0.0/16").unwrap()).unwrap();
    for n in 0..nodes {
        let id = c
            .add_node(&format!("node{n}"), NodeOptions::on_lan((n % 2) as u8))
            .unwrap();
        c.add_pod(id, &format!("pod{n}")).unwrap();
    }
    c
}

/// `services` ClusterIP Services (TCP 80 → 8080) over `cluster`'s pods,
/// `per` endpoints each, every one's endpoints spread over the nodes.
fn with_services(mut c: Cluster, services: usize, per: usize) -> Cluster {
    let pods: Vec<PodId> = c.pods().iter().map(|p| p.id).collect();
    for s in 0..services {
        let endpoints: Vec<PodId> = (0..per)
            .map(|e| pods[(s + e * (pods.len() / per)) % pods.len()])
            .collect();
        c.add_service(
            NewService::cluster_ip(&format!("svc{s}"), Protocol::Tcp, 80, 8080)
                .with_endpoints(&endpoints),
        )
        .unwrap();
    }
    c
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..repeat)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn figure(name: &str, took: Duration, target: Duration) {
    let verdict = if took < target { "met" } else { "MISSED" };
    println!("FIGURE {name}: {took:.2?} (target < {target:?}) {verdict}");
}

/// 10,000 pods in 100 namespaces (labelled `app: a0`…`a9` and `ns: nK`),
/// and 1,000 policies: in each namespace ten, each isolating one app for
/// ingress and egress and letting in two other apps of its own namespace
/// and one app from any namespace labelled like the next one, on two ports.
fn policy_world() -> PolicySet {
    let label = |k: &str, v: String| [(k.to_string(), v)].into_iter().collect();
    let namespaces: Vec<Namespace> = (0..100)
        .map(|n| Namespace {
            name: format!("n{n}"),
            labels: label("ns", format!("n{n}")),
        })
        .collect();
    let pods = (0..10_000u32)
        .map(|i| PolicyPod {
            namespace: format!("n{}", i / 100),
            name: format!("p{i}"),
            ip: std::net::Ipv4Addr::from(0x0a00_0000 + i),
            node: format!("node{}", i % 100),
            labels: label("app", format!("a{}", i % 10)),
            ports: vec![NamedPort {
                name: "http".into(),
                protocol: PolicyProtocol::Tcp,
                port: 8080,
            }],
        })
        .collect();
    let policies = (0..1_000)
        .map(|k| {
            let (ns, app) = (k / 10, k % 10);
            let json = serde_json::json!({
                "namespace": format!("n{ns}"),
                "name": format!("pol{k}"),
                "spec": {
                    "podSelector": { "matchLabels": { "app": format!("a{app}") } },
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [
                        { "from": [
                            { "podSelector": { "matchLabels": { "app": format!("a{}", (app + 1) % 10) } } },
                            { "podSelector": { "matchLabels": { "app": format!("a{}", (app + 2) % 10) } } },
                            { "namespaceSelector": { "matchLabels": { "ns": format!("n{}", (ns + 1) % 100) } },
                              "podSelector": { "matchLabels": { "app": format!("a{app}") } } }
                          ],
                          "ports": [ { "port": 80 }, { "port": "http" } ] }
                    ],
                    "egress": [ { "ports": [ { "port": 53, "protocol": "UDP" } ] } ]
                }
            });
            serde_json::from_value::<NetworkPolicy>(json).unwrap()
        })
        .collect();
    PolicySet::new(&namespaces, pods, policies).unwrap()
}

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();

    let all_keys = keys();
    assert_eq!(
        allocate_all(all_keys.clone()),
        NODES + NODES * PODS_PER_NODE
    );
    c.bench_function("alloc: 5,000 node ranges + 550,000 pod IPs", |b| {
        b.iter_batched(|| all_keys.clone(), allocate_all, BatchSize::PerIteration)
    });

    let big = cluster(1_000, 2);
    let net = Network::new(&big).unwrap();
    let (from, to) = (big.pods()[0].id, big.pods()[big.pods().len() - 1].clone());
    let probe = || {
        net.probe(Endpoint::Pod(from), to.ip, ProbeKind::Ping)
            .unwrap()
    };
    assert_eq!(
        probe().verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(to.id)
        }
    );
    c.bench_function("trace: pod -> pod across nodes, 1,000-node cluster", |b| {
        b.iter(probe)
    });

    let overlay = overlay_cluster(1_000);
    let overlay_net = Network::new(&overlay).unwrap();
    let (o_from, o_to) = (overlay.pods()[0].id, overlay.pods()[999].clone());
    let encap = || {
        overlay_net
            .probe(Endpoint::Pod(o_from), o_to.ip, ProbeKind::Ping)
            .unwrap()
    };
    let t = encap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(o_to.id)
        }
    );
    assert!(t.encapsulated(), "across the router inside VXLAN");
    c.bench_function(
        "trace: pod -> pod inside VXLAN across a router, 1,000 nodes",
        |b| b.iter(encap),
    );

    let mid = cluster(100, 10);
    let mid_net = Network::new(&mid).unwrap();
    let matrix = || Matrix::compute(&mid_net).unwrap();
    assert!(matrix().requirements().met());
    c.bench_function("matrix: 100 nodes x 10 pods (1,210,000 pairs)", |b| {
        b.iter(matrix)
    });

    let many = with_services(cluster(100, 100), 1_000, 10);
    let node0 = &many.nodes()[0];
    let render = || {
        let rules = services::render(&many, node0);
        rules.nat.save().len() + rules.filter.save().len()
    };
    let saved = services::render(&many, node0).nat.save();
    assert_eq!(
        saved.matches(" -j DNAT ").count(),
        10_000,
        "one DNAT per endpoint"
    );
    c.bench_function(
        "services: node0's kube-proxy rules, 1,000 Services x 10 endpoints",
        |b| b.iter(render),
    );

    let big_svc = with_services(cluster(1_000, 2), 1, 10);
    let svc_net = Network::new(&big_svc).unwrap();
    let web = big_svc.services()[0].cluster_ip;
    let last = big_svc.services()[0].endpoints.len() - 1;
    let to_service = || {
        svc_net
            .probe_picking(Endpoint::Pod(from), web, ProbeKind::TcpSyn(80), last)
            .unwrap()
    };
    let t = to_service();
    assert!(
        matches!(
            t.verdict,
            Verdict::Delivered {
                to: Endpoint::Pod(_)
            }
        ),
        "{:?}",
        t.verdict
    );
    assert!(t.dnat().is_some(), "DNATed");
    c.bench_function(
        "services: pod -> ClusterIP -> pod on another node, 1,000 nodes",
        |b| b.iter(to_service),
    );

    let world = policy_world();
    // p105 (n1, a5) to p209 (n2, a9) on 8080: a9 in n2 lets in a9 of n1? no
    // — it lets in a9 from n3; so the walk visits every rule and denies.
    let (p105, p209) = (
        world.pod_named("n1/p105").unwrap(),
        world.pod_named("n2/p209").unwrap(),
    );
    let verdict = || {
        world.verdict(
            Party::Pod(p105),
            Party::Pod(p209),
            8080,
            PolicyProtocol::Tcp,
        )
    };
    assert!(!verdict().allowed(), "{}", verdict().explain());
    // And an allowed one: p106 (n1, a6) to p105 (n1, a5) on the named port.
    let p106 = world.pod_named("n1/p106").unwrap();
    assert!(world
        .verdict(
            Party::Pod(p106),
            Party::Pod(p105),
            8080,
            PolicyProtocol::Tcp
        )
        .ingress
        .passes());
    c.bench_function("policy: one verdict, 10,000 pods and 1,000 policies", |b| {
        b.iter(verdict)
    });

    c.final_summary();

    println!();
    let alloc_runs = (0..7)
        .map(|_| {
            let input = all_keys.clone();
            let t = Instant::now();
            black_box(allocate_all(input));
            t.elapsed()
        })
        .collect();
    figure(
        "alloc 5,000 ranges + 550,000 pod IPs",
        median(alloc_runs),
        Duration::from_millis(100),
    );
    let n = 10_000;
    let per_trace = time(5, || (0..n).map(|_| probe().hops.len()).sum::<usize>()) / n;
    figure(
        "one cross-node trace, 1,000 nodes",
        per_trace,
        Duration::from_micros(10),
    );
    let per_encap = time(5, || (0..n).map(|_| encap().hops.len()).sum::<usize>()) / n;
    figure(
        "one VXLAN-encapsulated trace across a router, 1,000 nodes",
        per_encap,
        Duration::from_micros(10),
    );
    figure(
        "reachability matrix 100 x 10 pods",
        time(3, matrix),
        Duration::from_secs(2),
    );
    figure(
        "one node's kube-proxy rules, 1,000 Services x 10 endpoints",
        time(7, render),
        Duration::from_millis(50),
    );
    let per_service = time(5, || (0..n).map(|_| to_service().hops.len()).sum::<usize>()) / n;
    figure(
        "one pod -> ClusterIP trace, 1,000 nodes",
        per_service,
        Duration::from_micros(10),
    );
    let per_verdict = time(5, || (0..n).filter(|_| verdict().allowed()).count()) / n;
    figure(
        "one NetworkPolicy verdict, 10,000 pods and 1,000 policies",
        per_verdict,
        Duration::from_micros(10),
    );
}
