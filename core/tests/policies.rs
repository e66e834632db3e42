//! NetworkPolicy in the model: the scenarios of Kubernetes 1.20's own
//! NetworkPolicy e2e tests (`test/e2e/network/network_policy.go`, 33
//! cases), restated as podnet's data in `tests/data/netpol-1.20.json`, each
//! evaluated cell by cell; and what the API server refuses, refused.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use podnet_core::policy::{Namespace, NetworkPolicy, Party, PolicyPod, PolicyProtocol, PolicySet};
use serde::Deserialize;

/// One upstream test: a world that may change between checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// The upstream `ginkgo.It` text.
    name: String,
    steps: Vec<Step>,
}

/// The cluster at one moment and what the upstream test checks then.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    note: String,
    namespaces: Vec<Namespace>,
    pods: Vec<PolicyPod>,
    policies: Vec<NetworkPolicy>,
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// `namespace/pod`, or an address outside the pods.
    from: String,
    /// `namespace/pod`, or an address outside the pods.
    to: String,
    port: u16,
    #[serde(default)]
    protocol: PolicyProtocol,
    allowed: bool,
}

fn scenarios() -> Vec<Scenario> {
    serde_json::from_str(include_str!("data/netpol-1.20.json")).expect("the scenario file parses")
}

fn party<'a>(set: &PolicySet, who: &'a str) -> Party<'a> {
    if let Some(i) = set.pod_named(who) {
        return Party::Pod(i);
    }
    let ip: Ipv4Addr = who
        .parse()
        .unwrap_or_else(|_| panic!("{who:?} is neither a pod nor an address"));
    set.pod_at(ip).map_or(Party::Other(ip), Party::Pod)
}

#[test]
fn every_upstream_network_policy_scenario_holds_in_the_model() {
    let all = scenarios();
    // network_policy.go's 33 `ginkgo.It`s, SCTP ones included (as data).
    assert_eq!(
        all.len(),
        33,
        "{:?}",
        all.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    let mut cells = 0;
    for s in &all {
        assert!(!s.steps.is_empty(), "{}", s.name);
        for (k, step) in s.steps.iter().enumerate() {
            assert!(
                !step.expect.is_empty(),
                "{} step {k} checks nothing",
                s.name
            );
            let set = PolicySet::new(&step.namespaces, step.pods.clone(), step.policies.clone())
                .unwrap_or_else(|e| panic!("{} step {k}: {e}", s.name));
            for e in &step.expect {
                cells += 1;
                let v = set.verdict(party(&set, &e.from), party(&set, &e.to), e.port, e.protocol);
                if v.allowed() != e.allowed {
                    failures.push(format!(
                        "{} (step {k}{}): {} -> {}:{} {:?}: expected {}, model says {}",
                        s.name,
                        if step.note.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", step.note)
                        },
                        e.from,
                        e.to,
                        e.port,
                        e.protocol,
                        if e.allowed { "allowed" } else { "denied" },
                        v.explain()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells > 100, "{cells}");
}

fn pod(ns: &str, name: &str, ip: [u8; 4], labels: &[(&str, &str)]) -> PolicyPod {
    PolicyPod {
        namespace: ns.into(),
        name: name.into(),
        ip: ip.into(),
        node: "node1".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ports: Vec::new(),
    }
}

fn policy(json: &str) -> NetworkPolicy {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn what_the_api_server_refuses_is_refused_with_the_field_named() {
    let bad = [
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"ingress":[{"from":[{}]}]}}"#,
            "spec.ingress[0].from[0]",
        ),
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]}]}}"#,
            "ipBlock cannot be given with",
        ),
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"egress":[{"to":[{"ipBlock":{"cidr":"10.0.0.0/16","except":["10.1.0.0/24"]}}]}]}}"#,
            "except[0]",
        ),
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{"matchExpressions":[{"key":"a","operator":"In"}]}}}"#,
            "spec.podSelector.matchExpressions[0]",
        ),
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"ingress":[{"ports":[{"port":"Not_A_Name"}]}]}}"#,
            "spec.ingress[0].ports[0].port",
        ),
        (
            r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"policyTypes":["Ingress","Ingress"]}}"#,
            "spec.policyTypes",
        ),
    ];
    for (json, field) in bad {
        let err = PolicySet::new(&[], vec![], vec![policy(json)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{field} not in {err:?}");
    }
    // Malformed JSON never reaches the model: serde refuses unknown fields
    // and bad addresses, it does not panic.
    assert!(serde_json::from_str::<NetworkPolicy>(
        r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"ingres":[]}}"#
    )
    .is_err());
    assert!(serde_json::from_str::<NetworkPolicy>(
        r#"{"namespace":"x","name":"p","spec":{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.300/8"}}]}]}}"#
    )
    .is_err());
}

#[test]
fn the_cases_kubernetes_leaves_to_its_rules_are_decided_as_it_specifies() {
    let ns = |name: &str, labels: &[(&str, &str)]| Namespace {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let namespaces = [ns("x", &[("ns", "x")]), ns("y", &[("ns", "y")])];
    let pods = vec![
        pod("x", "a", [10, 244, 1, 2], &[("pod", "a")]),
        pod("x", "b", [10, 244, 1, 3], &[("pod", "b")]),
        pod("y", "a", [10, 244, 2, 2], &[("pod", "a")]),
    ];
    let set = |policies: &[&str]| {
        PolicySet::new(
            &namespaces,
            pods.clone(),
            policies.iter().map(|p| policy(p)).collect(),
        )
        .unwrap()
    };
    let tcp = PolicyProtocol::Tcp;
    let (xa, xb, ya) = (Party::Pod(0), Party::Pod(1), Party::Pod(2));

    // No policy: everything passes, nothing isolates.
    let s = set(&[]);
    assert!(s.verdict(xb, xa, 80, tcp).allowed());
    // A policy that selects nothing isolates nothing.
    let s = set(&[
        r#"{"namespace":"x","name":"none","spec":{"podSelector":{"matchLabels":{"pod":"zzz"}}}}"#,
    ]);
    assert!(s.verdict(xb, xa, 80, tcp).allowed());
    // Deny all ingress (empty selector, no rules): isolated, named in the verdict.
    let deny = r#"{"namespace":"x","name":"deny","spec":{"podSelector":{}}}"#;
    let v = set(&[deny]).verdict(xb, xa, 80, tcp);
    assert!(!v.allowed());
    assert!(
        v.explain().contains("isolated by x/deny"),
        "{}",
        v.explain()
    );
    // ... but the pod's own node is let in (kubelet probes), and egress is untouched.
    assert!(set(&[deny])
        .verdict(Party::Node("node1", [192, 168, 1, 11].into()), xa, 80, tcp)
        .allowed());
    assert!(!set(&[deny])
        .verdict(Party::Node("node2", [192, 168, 1, 12].into()), xa, 80, tcp)
        .allowed());
    // Overlapping policies add up: a second one allowing from b lets b in.
    let from_b = r#"{"namespace":"x","name":"from-b","spec":{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}]}}"#;
    let s = set(&[deny, from_b]);
    let v = s.verdict(xb, xa, 80, tcp);
    assert!(v.allowed(), "{}", v.explain());
    assert_eq!(
        v.ingress,
        podnet_core::policy::Decision::Allowed {
            policy: "x/from-b".into(),
            rule: 0
        }
    );
    // A bare podSelector means the policy's namespace only: y/a is not let in.
    assert!(!s.verdict(ya, xa, 80, tcp).allowed());
    // A namespaceSelector for namespaces that do not exist (yet) matches nobody.
    let later = r#"{"namespace":"x","name":"later","spec":{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"later"}}}]}]}}"#;
    assert!(!set(&[later]).verdict(ya, xa, 80, tcp).allowed());
    // 0.0.0.0/0 with excepts: everyone but the excepted range.
    let all_but = r#"{"namespace":"x","name":"all-but","spec":{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"0.0.0.0/0","except":["10.244.2.0/24"]}}]}]}}"#;
    let s = set(&[all_but]);
    assert!(s.verdict(xb, xa, 80, tcp).allowed());
    assert!(!s.verdict(ya, xa, 80, tcp).allowed());
    assert!(s
        .verdict(Party::Other([203, 0, 113, 9].into()), xa, 80, tcp)
        .allowed());
    // A named port no container declares allows nothing.
    let named = r#"{"namespace":"x","name":"named","spec":{"podSelector":{},"ingress":[{"ports":[{"port":"web"}]}]}}"#;
    assert!(!set(&[named]).verdict(xb, xa, 80, tcp).allowed());
    // Egress: isolated once policyTypes says so, even with no rules.
    let no_out = r#"{"namespace":"x","name":"no-out","spec":{"podSelector":{"matchLabels":{"pod":"b"}},"policyTypes":["Egress"]}}"#;
    let v = set(&[no_out]).verdict(xb, ya, 53, PolicyProtocol::Udp);
    assert!(!v.allowed() && v.ingress.passes(), "{}", v.explain());
    // A policy with thousands of rules: the union, still decided.
    let rules: Vec<String> = (0..5000)
        .map(|i| format!(r#"{{"ports":[{{"port":{}}}]}}"#, 1000 + i))
        .collect();
    let many = format!(
        r#"{{"namespace":"x","name":"many","spec":{{"podSelector":{{}},"ingress":[{}]}}}}"#,
        rules.join(",")
    );
    let s = set(&[&many]);
    assert!(s.verdict(xb, xa, 5999, tcp).allowed());
    assert!(!s.verdict(xb, xa, 6000, tcp).allowed());
}

/// The forwarding engine applies policies where podnet's agent enforces
/// them: after a Service's DNAT (on pod addresses), egress on the sending
/// pod's node, ingress on the receiving pod's node, both at a bridge with
/// br_netfilter; replies of an allowed connection pass; the explanation
/// names the policy.
#[test]
fn the_engine_drops_where_the_agent_enforces_and_names_the_policy() {
    use podnet_core::forward::{DropReason, Network, Place, ProbeKind, Verdict};
    use podnet_core::policy::Direction;
    use podnet_core::topology::{scenario, Endpoint};

    let mut c = scenario::service();
    let id = |c: &podnet_core::topology::Cluster, name: &str| c.pod_named(name).unwrap().id;
    let client: podnet_core::topology::Labels = [("app".to_string(), "client".to_string())].into();
    c.set_pod_labels(id(&c, "pod-a"), client).unwrap();
    let only_clients = policy(
        r#"{"namespace":"default","name":"web-from-clients","spec":{"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"client"}}}],"ports":[{"port":8080}]}]}}"#,
    );
    c.set_policies(vec![only_clients]).unwrap();
    let (a, c_ip, node1, node2) = (
        id(&c, "pod-a"),
        c.pod_named("pod-c").unwrap().ip,
        c.node_named("node1").unwrap().id,
        c.node_named("node2").unwrap().id,
    );
    let pod_c = id(&c, "pod-c");
    let net = Network::new(&c).unwrap();

    // Allowed: the rule's port, from a client.
    let t = net
        .probe(Endpoint::Pod(a), c_ip, ProbeKind::TcpSyn(8080))
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(pod_c)
        }
    );
    // Its reply passes back (established), though pod-a is not a "web" peer.
    let reply = net.reply(&t).unwrap().expect("a reply");
    assert!(
        matches!(reply.verdict, Verdict::Delivered { .. }),
        "{:?}",
        reply.verdict
    );
    // Another port: dropped on the receiving pod's node, the policy named.
    let t = net
        .probe(Endpoint::Pod(a), c_ip, ProbeKind::TcpSyn(9090))
        .unwrap();
    let dropped = Verdict::Dropped {
        at: Place::Node(node2),
        reason: DropReason::Policy {
            direction: Direction::Ingress,
            pod: pod_c,
        },
    };
    assert_eq!(t.verdict, dropped);
    let words = t.explain(&c).join("\n");
    assert!(
        words.contains("isolated by default/web-from-clients"),
        "{words}"
    );
    // A ping carries no port: a rule with ports does not allow it.
    let t = net.probe(Endpoint::Pod(a), c_ip, ProbeKind::Ping).unwrap();
    assert_eq!(t.verdict, dropped);
    // pod-d, a web pod beside pod-c on node2: bridged, br_netfilter's hook drops it.
    let t = net
        .probe(
            Endpoint::Pod(id(&c, "pod-d")),
            c_ip,
            ProbeKind::TcpSyn(8080),
        )
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Dropped {
            at: Place::Bridge(node2),
            reason: DropReason::Policy {
                direction: Direction::Ingress,
                pod: pod_c
            },
        }
    );
    // Through the Service: the policy sees the pod address and port after
    // DNAT (80 -> 8080), so the client is let in, whichever pod is picked.
    let web = c.services()[0].cluster_ip;
    for pick in 0..c.services()[0].endpoints.len() {
        let t = net
            .probe_picking(Endpoint::Pod(a), web, ProbeKind::TcpSyn(80), pick)
            .unwrap();
        assert!(
            matches!(
                t.verdict,
                Verdict::Delivered {
                    to: Endpoint::Pod(_)
                }
            ),
            "{pick}: {:?}",
            t.verdict
        );
        assert!(t.dnat().is_some());
    }

    // Egress isolation is decided on the sender's node.
    let mut c2 = c.clone();
    let no_out = policy(
        r#"{"namespace":"default","name":"a-no-out","spec":{"podSelector":{"matchLabels":{"app":"client"}},"policyTypes":["Egress"]}}"#,
    );
    let mut policies = c2.policies().to_vec();
    policies.push(no_out);
    c2.set_policies(policies).unwrap();
    let net2 = Network::new(&c2).unwrap();
    let t = net2
        .probe(Endpoint::Pod(a), c_ip, ProbeKind::TcpSyn(8080))
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Dropped {
            at: Place::Node(node1),
            reason: DropReason::Policy {
                direction: Direction::Egress,
                pod: a
            },
        }
    );
    assert!(t
        .explain(&c2)
        .join("\n")
        .contains("isolated by default/a-no-out"));
    // A bad policy changes nothing.
    let bad = policy(
        r#"{"namespace":"default","name":"bad","spec":{"podSelector":{},"ingress":[{"from":[{}]}]}}"#,
    );
    assert!(c2.set_policies(vec![bad]).is_err());
    assert_eq!(c2.policies().len(), 2);
}

#[test]
fn a_reply_between_two_pods_of_one_bridge_passes_as_established() {
    use podnet_core::forward::{DropReason, Network, Place, ProbeKind, Verdict};
    use podnet_core::policy::Direction;
    use podnet_core::topology::{scenario, Endpoint};

    // pod-c and pod-d share node2's bridge; every pod is isolated for
    // ingress and only pod-d, the frontend, may open connections.
    let mut c = scenario::service();
    let d = c.pod_named("pod-d").unwrap().id;
    let (pod_c, c_ip, d_ip) = (
        c.pod_named("pod-c").unwrap().id,
        c.pod_named("pod-c").unwrap().ip,
        c.pod_named("pod-d").unwrap().ip,
    );
    let frontend = [("role".to_string(), "frontend".to_string())].into();
    c.set_pod_labels(d, frontend).unwrap();
    c.set_policies(vec![policy(
        r#"{"namespace":"default","name":"from-frontend","spec":{"podSelector":{},"ingress":[{"from":[{"podSelector":{"matchLabels":{"role":"frontend"}}}]}]}}"#,
    )])
    .unwrap();
    let node2 = c.node_named("node2").unwrap().id;
    let net = Network::new(&c).unwrap();
    let t = net.probe(Endpoint::Pod(d), c_ip, ProbeKind::Ping).unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(pod_c)
        }
    );
    // br_netfilter's conntrack saw the request: the echo reply is part of
    // an allowed connection, though pod-d is isolated and pod-c is no
    // frontend.
    let reply = net.reply(&t).unwrap().expect("a reply");
    assert_eq!(
        reply.verdict,
        Verdict::Delivered {
            to: Endpoint::Pod(d)
        }
    );
    // A connection pod-c opens itself is still refused, at the bridge.
    let t = net
        .probe(Endpoint::Pod(pod_c), d_ip, ProbeKind::Ping)
        .unwrap();
    assert_eq!(
        t.verdict,
        Verdict::Dropped {
            at: Place::Bridge(node2),
            reason: DropReason::Policy {
                direction: Direction::Ingress,
                pod: d
            },
        }
    );
}

/// The cluster file carries namespaces and policies; a bad policy there is
/// a clear error naming its field, and nothing is built.
#[test]
fn a_cluster_file_carries_policies() {
    use podnet_core::topology::spec::ClusterSpec;
    let file = |policy: &str| {
        format!(
            r#"{{"nodes":[{{"name":"node1"}}],"namespaces":[{{"name":"x","labels":{{"team":"a"}}}}],"policies":[{policy}]}}"#
        )
    };
    let ok = ClusterSpec::from_json(&file(
        r#"{"namespace":"x","name":"deny","spec":{"podSelector":{}}}"#,
    ))
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(ok.policies().len(), 1);
    assert_eq!(ok.namespaces()[0].labels["team"], "a");
    let err = ClusterSpec::from_json(&file(
        r#"{"namespace":"x","name":"deny","spec":{"podSelector":{},"egress":[{"to":[{}]}]}}"#,
    ))
    .unwrap()
    .build()
    .unwrap_err()
    .to_string();
    assert!(err.contains("x/deny: spec.egress[0].to[0]"), "{err}");
}

/// What scene g2 shows: under every preset, each of the layout's 288
/// cross-pod cells on TCP and UDP 80 and 81 is delivered by the engine
/// exactly when the truth table allows it, and a denied one is dropped on
/// the node of the isolated pod (the sender's for egress, the receiver's
/// for ingress), as the agent enforces it.
#[test]
fn the_engine_on_the_netpol_layout_delivers_exactly_the_allowed_cells() {
    use podnet_core::forward::{DropReason, Network, Place, ProbeKind, Verdict};
    use podnet_core::policy::layout::{truth_table, PRESETS};
    use podnet_core::policy::Direction;
    use podnet_core::topology::{scenario, Endpoint};

    for preset in &PRESETS {
        let policies = preset.parse().unwrap();
        let mut c = scenario::netpol();
        c.set_policies(policies.clone()).unwrap();
        let (_, cells) = truth_table(policies).unwrap();
        let net = Network::new(&c).unwrap();
        let pods = c.pods();
        let mut denied = 0;
        for cell in cells.iter().filter(|x| x.verdict.is_some()) {
            let (from, to) = (&pods[cell.from], &pods[cell.to]);
            let kind = match cell.protocol {
                PolicyProtocol::Udp => ProbeKind::Udp(cell.port),
                _ => ProbeKind::TcpSyn(cell.port),
            };
            let out = net
                .probe_outcome(Endpoint::Pod(from.id), to.ip, kind)
                .unwrap();
            let what = format!(
                "{}: {} -> {} {kind:?}",
                preset.key,
                from.full_name(),
                to.full_name()
            );
            if cell.allowed() {
                assert_eq!(
                    out.verdict,
                    Verdict::Delivered {
                        to: Endpoint::Pod(to.id)
                    },
                    "{what}"
                );
                continue;
            }
            denied += 1;
            // The node's forward hook; between pods of one node, the
            // bridge's (br_netfilter).
            let Verdict::Dropped {
                at: Place::Node(node) | Place::Bridge(node),
                reason: DropReason::Policy { direction, pod },
            } = out.verdict
            else {
                panic!("{what}: {:?}", out.verdict);
            };
            let isolated = if direction == Direction::Egress {
                from
            } else {
                to
            };
            assert_eq!((pod, node), (isolated.id, isolated.node), "{what}");
        }
        assert!(denied > 0, "{} denies something", preset.key);
    }
}
