//! kube-proxy 1.20 in iptables mode: the rules it (and the kubelet) write on
//! one node, rendered from the cluster's Services as `iptables-save` prints
//! them back.
//!
//! The rendering follows `syncProxyRules` (`pkg/proxy/iptables/proxier.go`)
//! step by step for every service port: the ClusterIP rules in
//! `KUBE-SERVICES` (with `! -s <cluster range> -j KUBE-MARK-MASQ` in
//! front, as kube-proxy's ClusterCIDR local detector writes it), the node
//! port rules in `KUBE-NODEPORTS`, a `KUBE-SVC-…` chain balancing over the
//! endpoints in kube-proxy's order with its `statistic` probabilities, a
//! `KUBE-SEP-…` chain per endpoint (the hairpin mark, then the DNAT), the
//! `KUBE-XLB-…` chain of `externalTrafficPolicy: Local`, the `recent`
//! rules of ClientIP affinity, and the filter table's REJECT for a port
//! without endpoints. A real kube-proxy walks its Services in a random
//! order (a Go map); this one sorts them by namespace, name and port name,
//! so a comparison with a real node compares each Service's rules as a
//! block (see [`KubeProxy::blocks`]).

use std::collections::BTreeMap;

use ipnetwork::Ipv4Network;

use super::names::{endpoint_chain, local_chain, service_chain};
use super::rules::{
    Match, Probability, Recent, Rule, Side, Table, Target, BUILT_IN, DROP_MARK, MASQ_MARK,
};
use crate::topology::{
    Cluster, Node, PortEndpoint, Service, ServicePort, SessionAffinity, TrafficPolicy,
};

/// The nat and filter rules of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeProxy {
    /// `iptables -t nat`: the Services' DNAT and the masquerade.
    pub nat: Table,
    /// `iptables -t filter`: REJECT for ports without endpoints, KUBE-FORWARD.
    pub filter: Table,
}

/// Above this many endpoint chains kube-proxy leaves the service comments
/// off its SVC and SEP rules (`appendServiceCommentLocked`).
const COMMENT_LIMIT: usize = 1000;

const SERVICES: &str = "KUBE-SERVICES";
const NODE_PORTS: &str = "KUBE-NODEPORTS";
const MARK_MASQ: &str = "KUBE-MARK-MASQ";
const MARK_DROP: &str = "KUBE-MARK-DROP";
const POSTROUTING: &str = "KUBE-POSTROUTING";
const EXTERNAL: &str = "KUBE-EXTERNAL-SERVICES";
const FORWARD: &str = "KUBE-FORWARD";
const FIREWALL: &str = "KUBE-FIREWALL";

fn comment(text: impl Into<String>) -> Match {
    Match::Comment(text.into())
}

fn host(ip: std::net::Ipv4Addr) -> Ipv4Network {
    Ipv4Network::new(ip, 32).expect("a /32 is always valid")
}

/// A rule with matches and a target (addresses and protocol set after).
fn rule(matches: Vec<Match>, target: Target) -> Rule {
    Rule {
        src: None,
        dst: None,
        protocol: None,
        matches,
        target,
    }
}

fn jump(chain: &str) -> Target {
    Target::Jump(chain.to_string())
}

/// What kube-proxy and the kubelet write on `node` for the whole cluster.
pub fn render(cluster: &Cluster, node: &Node) -> KubeProxy {
    let mut nat = Table::new("nat");
    let mut filter = Table::new("filter");
    fixed(&mut nat, &mut filter);
    let mut services: Vec<&Service> = cluster.services().iter().collect();
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let ports: Vec<(&Service, &ServicePort, Vec<PortEndpoint>)> = services
        .iter()
        .flat_map(|s| {
            let mut ps: Vec<&ServicePort> = s.ports.iter().collect();
            ps.sort_by(|a, b| a.name.cmp(&b.name));
            ps.into_iter()
                .map(move |p| (*s, p, cluster.port_endpoints(s, p)))
        })
        .collect();
    let total: usize = ports.iter().map(|(_, _, e)| e.len()).sum();
    let commented = total <= COMMENT_LIMIT;
    for (s, port, eps) in &ports {
        service_port(
            cluster,
            node,
            s,
            port,
            eps,
            commented,
            &mut nat,
            &mut filter,
        );
    }
    nat.append(
        SERVICES,
        rule(
            vec![
                comment(
                    "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
                ),
                Match::Local {
                    side: Side::Dst,
                    not: false,
                },
            ],
            jump(NODE_PORTS),
        ),
    );
    KubeProxy { nat, filter }
}

/// The rules that are there with no Service at all: the hooks' jumps,
/// the marks, the masquerade, the canaries and KUBE-FORWARD.
fn fixed(nat: &mut Table, filter: &mut Table) {
    let portals = || comment("kubernetes service portals");
    nat.append("PREROUTING", rule(vec![portals()], jump(SERVICES)));
    nat.append("OUTPUT", rule(vec![portals()], jump(SERVICES)));
    nat.append(
        "POSTROUTING",
        rule(
            vec![comment("kubernetes postrouting rules")],
            jump(POSTROUTING),
        ),
    );
    for chain in [
        "KUBE-KUBELET-CANARY",
        "KUBE-PROXY-CANARY",
        SERVICES,
        NODE_PORTS,
    ] {
        nat.chain_mut(chain);
    }
    nat.append(MARK_DROP, Rule::to(Target::OrMark(DROP_MARK)));
    nat.append(MARK_MASQ, Rule::to(Target::OrMark(MASQ_MARK)));
    nat.append(
        POSTROUTING,
        rule(
            vec![Match::Mark {
                not: true,
                value: MASQ_MARK,
            }],
            Target::Return,
        ),
    );
    nat.append(POSTROUTING, Rule::to(Target::XorMark(MASQ_MARK)));
    nat.append(
        POSTROUTING,
        rule(
            vec![comment("kubernetes service traffic requiring SNAT")],
            Target::Masquerade,
        ),
    );
    for chain in [
        "KUBE-KUBELET-CANARY",
        "KUBE-PROXY-CANARY",
        SERVICES,
        EXTERNAL,
        FORWARD,
    ] {
        filter.chain_mut(chain);
    }
    let new = || Match::CtState {
        not: false,
        states: "NEW".into(),
    };
    let established = || Match::CtState {
        not: false,
        states: "RELATED,ESTABLISHED".into(),
    };
    let external = || comment("kubernetes externally-visible service portals");
    let forwarding = || comment("kubernetes forwarding rules");
    filter.append("INPUT", rule(vec![new(), external()], jump(EXTERNAL)));
    filter.append("INPUT", Rule::to(jump(FIREWALL)));
    filter.append("FORWARD", rule(vec![forwarding()], jump(FORWARD)));
    filter.append("FORWARD", rule(vec![new(), portals()], jump(SERVICES)));
    filter.append("FORWARD", rule(vec![new(), external()], jump(EXTERNAL)));
    filter.append("OUTPUT", rule(vec![new(), portals()], jump(SERVICES)));
    filter.append("OUTPUT", Rule::to(jump(FIREWALL)));
    // The kubelet's: drop what KUBE-MARK-DROP marked (a Local NodePort
    // without a local endpoint), and 127.0.0.0/8 from outside.
    filter.append(
        FIREWALL,
        rule(
            vec![
                comment("kubernetes firewall for dropping marked packets"),
                Match::Mark {
                    not: false,
                    value: DROP_MARK,
                },
            ],
            Target::Drop,
        ),
    );
    let loopback = Ipv4Network::new(std::net::Ipv4Addr::new(127, 0, 0, 0), 8).expect("/8");
    let mut localnet = rule(
        vec![
            comment("block incoming localnet connections"),
            Match::CtState {
                not: true,
                states: "RELATED,ESTABLISHED,DNAT".into(),
            },
        ],
        Target::Drop,
    );
    localnet.src = Some((true, loopback));
    localnet.dst = Some(loopback);
    filter.append(FIREWALL, localnet);
    filter.append(
        FORWARD,
        rule(
            vec![Match::CtState {
                not: false,
                states: "INVALID".into(),
            }],
            Target::Drop,
        ),
    );
    filter.append(
        FORWARD,
        rule(
            vec![
                forwarding(),
                Match::Mark {
                    not: false,
                    value: MASQ_MARK,
                },
            ],
            Target::Accept,
        ),
    );
    for end in ["source", "destination"] {
        filter.append(
            FORWARD,
            rule(
                vec![
                    comment(format!("kubernetes forwarding conntrack pod {end} rule")),
                    established(),
                ],
                Target::Accept,
            ),
        );
    }
}

/// Everything kube-proxy writes for one port of one Service.
#[allow(clippy::too_many_arguments)]
fn service_port(
    cluster: &Cluster,
    node: &Node,
    s: &Service,
    port: &ServicePort,
    eps: &[PortEndpoint],
    commented: bool,
    nat: &mut Table,
    filter: &mut Table,
) {
    let spn = s.port_name(port);
    let proto = port.protocol;
    let svc = service_chain(&spn, proto);
    let xlb = local_chain(&spn, proto);
    let local_policy = port.node_port.is_some() && s.traffic_policy == TrafficPolicy::Local;
    let has_eps = !eps.is_empty();
    if has_eps {
        nat.chain_mut(&svc);
    }
    if local_policy {
        nat.chain_mut(&xlb);
    }
    let on_port = |dport: Option<u16>| Match::Port {
        protocol: proto,
        dport,
    };
    // The ClusterIP.
    let vip = host(s.cluster_ip);
    if has_eps {
        let base = |target| Rule {
            src: None,
            dst: Some(vip),
            protocol: Some(proto),
            matches: vec![
                comment(format!("{spn} cluster IP")),
                on_port(Some(port.port)),
            ],
            target,
        };
        nat.append(
            SERVICES,
            Rule {
                src: Some((true, cluster.cidr())),
                ..base(jump(MARK_MASQ))
            },
        );
        nat.append(SERVICES, base(jump(&svc)));
    } else {
        filter.append(
            SERVICES,
            Rule {
                src: None,
                dst: Some(vip),
                protocol: Some(proto),
                matches: vec![
                    comment(format!("{spn} has no endpoints")),
                    on_port(Some(port.port)),
                ],
                target: Target::Reject,
            },
        );
    }
    // The node port.
    if let Some(np) = port.node_port {
        let base = |matches: Vec<Match>, target| Rule {
            src: None,
            dst: None,
            protocol: Some(proto),
            matches,
            target,
        };
        if has_eps {
            let m = || vec![comment(spn.clone()), on_port(Some(np))];
            if local_policy {
                nat.append(
                    NODE_PORTS,
                    Rule {
                        src: Some((false, "127.0.0.0/8".parse().expect("loopback"))),
                        ..base(m(), jump(MARK_MASQ))
                    },
                );
                nat.append(NODE_PORTS, base(m(), jump(&xlb)));
            } else if s.masquerade {
                nat.append(NODE_PORTS, base(m(), jump(MARK_MASQ)));
                nat.append(NODE_PORTS, base(m(), jump(&svc)));
            } else {
                // The sandbox's fault: a kube-proxy that does not mark.
                nat.append(NODE_PORTS, base(m(), jump(&svc)));
            }
        } else {
            filter.append(
                EXTERNAL,
                base(
                    vec![
                        comment(format!("{spn} has no endpoints")),
                        Match::Local {
                            side: Side::Dst,
                            not: false,
                        },
                        on_port(Some(np)),
                    ],
                    Target::Reject,
                ),
            );
        }
    }
    if !has_eps {
        return;
    }
    let tag = |mut m: Vec<Match>| {
        if commented {
            m.insert(0, comment(spn.clone()));
        }
        m
    };
    let seps: Vec<String> = eps
        .iter()
        .map(|e| endpoint_chain(&spn, proto, e.addr))
        .collect();
    for sep in &seps {
        nat.chain_mut(sep);
    }
    let affinity = match s.affinity {
        SessionAffinity::ClientIp { timeout } => Some(timeout),
        SessionAffinity::None => None,
    };
    if let Some(seconds) = affinity {
        for sep in &seps {
            nat.append(
                &svc,
                rule(
                    tag(vec![Match::Recent {
                        name: sep.clone(),
                        action: Recent::Check { seconds },
                    }]),
                    jump(sep),
                ),
            );
        }
    }
    let n = eps.len();
    for (i, (e, sep)) in eps.iter().zip(&seps).enumerate() {
        let mut m = tag(Vec::new());
        if i + 1 < n {
            m.push(Match::Random(Probability::one_in(n - i)));
        }
        nat.append(&svc, rule(m, jump(sep)));
        nat.append(
            sep,
            Rule {
                src: Some((false, host(*e.addr.ip()))),
                ..rule(tag(Vec::new()), jump(MARK_MASQ))
            },
        );
        let mut m = tag(Vec::new());
        if affinity.is_some() {
            m.push(Match::Recent {
                name: sep.clone(),
                action: Recent::Set,
            });
        }
        m.push(on_port(None));
        nat.append(
            sep,
            Rule {
                protocol: Some(proto),
                ..rule(m, Target::Dnat(e.addr))
            },
        );
    }
    if local_policy {
        local_chain_rules(cluster, node, &spn, &svc, &xlb, eps, &seps, affinity, nat);
    }
}

/// The `KUBE-XLB-…` chain: pods of the cluster go to the ClusterIP's
/// chain, the node's own traffic too (masqueraded), the rest only to this
/// node's endpoints, or is dropped when it has none.
#[allow(clippy::too_many_arguments)]
fn local_chain_rules(
    cluster: &Cluster,
    node: &Node,
    spn: &str,
    svc: &str,
    xlb: &str,
    eps: &[PortEndpoint],
    seps: &[String],
    affinity: Option<u32>,
    nat: &mut Table,
) {
    nat.append(
        xlb,
        Rule {
            src: Some((false, cluster.cidr())),
            ..rule(
                vec![comment(
                    "Redirect pods trying to reach external loadbalancer VIP to clusterIP",
                )],
                jump(svc),
            )
        },
    );
    let local_src = Match::Local {
        side: Side::Src,
        not: false,
    };
    nat.append(
        xlb,
        rule(
            vec![
                comment(format!("masquerade LOCAL traffic for {spn} LB IP")),
                local_src.clone(),
            ],
            jump(MARK_MASQ),
        ),
    );
    nat.append(
        xlb,
        rule(
            vec![
                comment(format!(
                    "route LOCAL traffic for {spn} LB IP to service chain"
                )),
                local_src,
            ],
            jump(svc),
        ),
    );
    let local: Vec<&String> = eps
        .iter()
        .zip(seps)
        .filter(|(e, _)| {
            e.pod
                .and_then(|id| cluster.pod(id))
                .is_some_and(|p| p.node == node.id)
        })
        .map(|(_, sep)| sep)
        .collect();
    if local.is_empty() {
        nat.append(
            xlb,
            rule(
                vec![comment(format!("{spn} has no local endpoints"))],
                jump(MARK_DROP),
            ),
        );
        return;
    }
    if let Some(seconds) = affinity {
        for sep in &local {
            nat.append(
                xlb,
                rule(
                    vec![
                        comment(spn),
                        Match::Recent {
                            name: (*sep).clone(),
                            action: Recent::Check { seconds },
                        },
                    ],
                    jump(sep),
                ),
            );
        }
    }
    let k = local.len();
    for (j, sep) in local.iter().enumerate() {
        let mut m = vec![comment(format!("Balancing rule {j} for {spn}"))];
        if j + 1 < k {
            m.push(Match::Random(Probability::one_in(k - j)));
        }
        nat.append(xlb, rule(m, jump(sep)));
    }
}

impl KubeProxy {
    /// The `iptables-restore --noflush` input that makes kube-proxy's own
    /// chains what they should be, in one transaction per table: each
    /// chain declared (so flushed) and refilled, and each of `stale` (chains
    /// an earlier sync made that no Service needs now) deleted.
    pub fn restore(&self, stale: &[String]) -> String {
        let mut out = String::new();
        for table in [&self.nat, &self.filter] {
            out.push_str(&format!("*{}\n", table.name));
            let own: Vec<&super::rules::Chain> = table
                .chains()
                .iter()
                .filter(|c| !BUILT_IN.contains(&c.name.as_str()))
                .collect();
            for c in &own {
                out.push_str(&format!(":{} - [0:0]\n", c.name));
            }
            let gone: Vec<&String> = stale
                .iter()
                .filter(|s| table.name == "nat" && own.iter().all(|c| &&c.name != s))
                .collect();
            for s in &gone {
                out.push_str(&format!(":{s} - [0:0]\n"));
            }
            for c in &own {
                for r in &c.rules {
                    out.push_str(&format!("-A {} {r}\n", c.name));
                }
            }
            for s in &gone {
                out.push_str(&format!("-X {s}\n"));
            }
            out.push_str("COMMIT\n");
        }
        out
    }

    /// The jumps from the kernel's own chains into kube-proxy's: `(table,
    /// chain, rule)`, each to be there once.
    pub fn hooks(&self) -> Vec<(&str, &str, &Rule)> {
        let mut v = Vec::new();
        for table in [&self.nat, &self.filter] {
            for c in table.chains() {
                if BUILT_IN.contains(&c.name.as_str()) {
                    v.extend(
                        c.rules
                            .iter()
                            .map(|r| (table.name.as_str(), c.name.as_str(), r)),
                    );
                }
            }
        }
        v
    }

    /// The names of the Service chains (SVC, SEP, XLB) this rendering has:
    /// what a later sync deletes when they are no longer needed.
    pub fn service_chains(&self) -> Vec<String> {
        self.nat
            .chains()
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| {
                ["KUBE-SVC-", "KUBE-SEP-", "KUBE-XLB-"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .collect()
    }

    /// The rule lines of the KUBE-* chains and of the hooks' jumps into
    /// them: what a comparison with `iptables-save -t nat` looks at.
    pub fn nat_lines(&self) -> Vec<String> {
        self.nat.rule_lines()
    }

    /// The nat rules grouped as a comparison must take them: the lines a
    /// chain owns whole (SVC, SEP, XLB, the fixed chains) under the chain's
    /// name, and in KUBE-SERVICES and KUBE-NODEPORTS, whose order between
    /// Services a real kube-proxy draws at random, each Service's lines
    /// under its comment. Equal maps mean equal rules, whatever the order.
    pub fn blocks(lines: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in lines {
            let chain = line
                .strip_prefix("-A ")
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            let key = if chain == SERVICES || chain == NODE_PORTS {
                let svc = line
                    .split("--comment \"")
                    .nth(1)
                    .and_then(|c| c.split(['"', ' ']).next())
                    .unwrap_or("");
                format!("{chain} {svc}")
            } else {
                chain.to_string()
            };
            out.entry(key).or_default().push(line.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::net::parse_cidr;
    use crate::topology::{
        NewService, NodeOptions, Protocol, RangeFrom, ServiceType, TargetPort, DEFAULT_UNDERLAY,
    };

    /// kube-proxy 1.20's rules for five Services on node-a, derived line by
    /// line from its source (`syncProxyRules`) and iptables 1.8's save
    /// format: ClusterIPs, a UDP port, a Local NodePort with one local
    /// endpoint, ClientIP affinity, and a Service without endpoints.
    #[test]
    fn five_services_render_as_kube_proxy_writes_them() {
        let mut c = Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).unwrap();
        let given = |r: &str| NodeOptions::range(RangeFrom::Given(parse_cidr(r).unwrap()));
        let a = c.add_node("node-a", given("10.244.1.0/24")).unwrap();
        let b = c.add_node("node-b", given("10.244.2.0/24")).unwrap();
        let mut pod = |node, name: &str, ip: &str| {
            c.add_pod_at(node, "default", name, &["app"], Some(ip.parse().unwrap()))
                .unwrap()
        };
        let web = [
            pod(a, "web-1", "10.244.1.2"),
            pod(b, "web-2", "10.244.2.3"),
            pod(a, "web-3", "10.244.1.5"),
        ];
        let dns = [pod(b, "dns-1", "10.244.2.7")];
        let np = [pod(a, "np-1", "10.244.1.7"), pod(b, "np-2", "10.244.2.8")];
        let sticky = [pod(a, "st-1", "10.244.1.9"), pod(a, "st-2", "10.244.1.10")];
        let port = |name: &str, protocol, port, target, node_port| ServicePort {
            name: name.into(),
            protocol,
            port,
            target: TargetPort::Number(target),
            node_port,
        };
        let svc = |name: &str, ip: &str, ports, eps: &[_]| NewService {
            cluster_ip: Some(ip.parse().unwrap()),
            ports,
            ..NewService::cluster_ip(name, Protocol::Tcp, 80, 80).with_endpoints(eps)
        };
        c.add_service(svc(
            "web",
            "10.96.0.20",
            vec![port("http", Protocol::Tcp, 80, 8080, None)],
            &web,
        ))
        .unwrap();
        c.add_service(svc(
            "dns",
            "10.96.0.10",
            vec![port("dns", Protocol::Udp, 53, 53, None)],
            &dns,
        ))
        .unwrap();
        c.add_service(NewService {
            kind: ServiceType::NodePort,
            traffic_policy: TrafficPolicy::Local,
            ..svc(
                "np",
                "10.96.0.30",
                vec![port("", Protocol::Tcp, 80, 8080, Some(30080))],
                &np,
            )
        })
        .unwrap();
        c.add_service(NewService {
            affinity: SessionAffinity::ClientIp { timeout: 10_800 },
            ..svc(
                "sticky",
                "10.96.0.40",
                vec![port("https", Protocol::Tcp, 443, 8443, None)],
                &sticky,
            )
        })
        .unwrap();
        c.add_service(svc(
            "empty",
            "10.96.0.50",
            vec![port("http", Protocol::Tcp, 80, 80, None)],
            &[],
        ))
        .unwrap();
        let node = c.node(a).unwrap();
        let kp = render(&c, node);
        let want: Vec<String> = include_str!("testdata/derived-example.nat")
            .lines()
            .map(str::to_string)
            .collect();
        let got = kp.nat_lines();
        assert_eq!(got, want, "\n{}", got.join("\n"));
        assert_eq!(
            kp.filter.chain(SERVICES).unwrap().rules.iter().map(|r| format!("-A {SERVICES} {r}")).collect::<Vec<_>>(),
            ["-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment \"default/empty:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"]
        );
        // The Services in another order (a real kube-proxy's map order):
        // the same blocks. A line missing, or a block's own lines swapped: not.
        let services: Vec<&String> = want
            .iter()
            .filter(|l| l.starts_with("-A KUBE-SERVICES") && !l.contains("nodeports"))
            .collect();
        let mut shuffled: Vec<String> = want
            .iter()
            .filter(|l| !services.contains(l))
            .cloned()
            .collect();
        shuffled.extend(services.chunks(2).rev().flatten().map(|l| (*l).clone()));
        assert_ne!(shuffled, want);
        let blocks: BTreeMap<_, _> = KubeProxy::blocks(&got);
        assert_eq!(KubeProxy::blocks(&shuffled), blocks);
        let mut one_off = want.clone();
        one_off.pop();
        assert_ne!(KubeProxy::blocks(&one_off), blocks);
        let mut swapped = want;
        let i = swapped
            .iter()
            .position(|l| l.starts_with("-A KUBE-SVC-CDGGSHYLG3RE2FKL"))
            .unwrap();
        swapped.swap(i, i + 1);
        assert_ne!(KubeProxy::blocks(&swapped), blocks);
    }

    #[test]
    fn probabilities_print_as_the_kernel_stores_them() {
        use crate::services::rules::Probability;
        let printed: Vec<String> = [2, 3, 4, 5, 10]
            .iter()
            .map(|&n| Probability::one_in(n).to_string())
            .collect();
        assert_eq!(
            printed,
            [
                "0.50000000000",
                "0.33333333349",
                "0.25000000000",
                "0.20000000019",
                "0.10000000009"
            ]
        );
        assert_eq!(Probability::one_in(7).to_string(), "0.14285714272");
        assert_eq!(Probability::one_in(9).to_string(), "0.11111111101");
    }
}
