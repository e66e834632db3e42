//! The layout Kubernetes' own NetworkPolicy tests use (`netpol`):
//! namespaces x, y and z, each with pods a, b and c, every pod serving
//! TCP and UDP on ports 80 and 81; the presets a learner starts from; and
//! the truth table of who reaches whom under a set of policies, each cell
//! with the verdict that decided it. The explainer's NetworkPolicy scene
//! draws it; a lab measures it.

use std::net::Ipv4Addr;

use super::spec::{NetworkPolicy, PolicyProtocol};
use super::verdict::{NamedPort, Namespace, Party, PolicyPod, PolicySet, Verdict};
use crate::error::{Error, Result};

/// The namespaces, in order.
pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
/// The pods of each namespace, in order.
pub const PODS: [&str; 3] = ["a", "b", "c"];
/// The ports every pod serves, over TCP and UDP.
pub const PORTS: [u16; 2] = [80, 81];

/// The namespaces (labelled `ns: x`, …) and the nine pods (labelled
/// `pod: a`, …; named ports `serve-80-tcp`, `serve-81-udp`, … as upstream
/// names them). Pods a and b run on node1 (10.244.1.0/24), c on node2.
pub fn layout() -> (Vec<Namespace>, Vec<PolicyPod>) {
    let label = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
    let namespaces = NAMESPACES
        .iter()
        .map(|n| Namespace {
            name: n.to_string(),
            labels: label("ns", n),
        })
        .collect();
    let mut pods = Vec::new();
    for (i, ns) in NAMESPACES.iter().enumerate() {
        for (j, pod) in PODS.iter().enumerate() {
            let node = if j < 2 { 1 } else { 2 };
            let host = 10 + (i * 3 + j) as u8;
            let ports = PORTS
                .iter()
                .flat_map(|&port| {
                    [PolicyProtocol::Tcp, PolicyProtocol::Udp].map(|protocol| NamedPort {
                        name: format!("serve-{port}-{}", protocol.key().to_lowercase()),
                        protocol,
                        port,
                    })
                })
                .collect();
            pods.push(PolicyPod {
                namespace: ns.to_string(),
                name: pod.to_string(),
                ip: Ipv4Addr::new(10, 244, node, host),
                node: format!("node{node}"),
                labels: label("pod", pod),
                ports,
            });
        }
    }
    (namespaces, pods)
}

/// A policy set to start from.
#[derive(Debug, Clone)]
pub struct Preset {
    /// A short key (`deny-ingress`, …).
    pub key: &'static str,
    /// What it shows, in words.
    pub title: &'static str,
    /// The policies as `kubectl apply -f` takes them (YAML documents).
    pub manifest: &'static str,
}

/// The presets: deny all ingress; allow from the same namespace; allow from
/// a labelled namespace; pod AND namespace selector against OR; ipBlock
/// with except; deny egress but allow DNS; one port only; a named port;
/// egress to a namespace on one port.
pub const PRESETS: [Preset; 10] = [
    Preset {
        key: "deny-ingress",
        title: "Deny all ingress to x's pods",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: deny-ingress
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#,
    },
    Preset {
        key: "same-namespace",
        title: "x's pods accept only pods of x",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: same-namespace
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
"#,
    },
    Preset {
        key: "from-labelled-namespace",
        title: "x/a accepts pods of namespace y only",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: from-y
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
"#,
    },
    Preset {
        key: "and",
        title: "AND: x/a accepts pod b of namespace y (one peer with both selectors)",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: b-in-y
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
      podSelector:
        matchLabels: {pod: b}
"#,
    },
    Preset {
        key: "or",
        title: "OR: x/a accepts any pod of y, and any pod b of x (two peers)",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: b-or-y
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
    - podSelector:
        matchLabels: {pod: b}
"#,
    },
    Preset {
        key: "ip-block-except",
        title: "x/a accepts node1's pod range except x/b's address",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: block
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - ipBlock:
        cidr: 10.244.1.0/24
        except: [10.244.1.11/32]
"#,
    },
    Preset {
        key: "deny-egress-but-dns",
        title: "x's pods send nothing but DNS (UDP and TCP 53)",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: only-dns
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
"#,
    },
    Preset {
        key: "one-port",
        title: "x/a accepts anyone on TCP 80 only",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: tcp-80
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: TCP
      port: 80
"#,
    },
    Preset {
        key: "named-port",
        title: "x/a accepts anyone on its port named serve-81-udp only",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: named-port
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - ports:
    - protocol: UDP
      port: serve-81-udp
"#,
    },
    Preset {
        key: "egress-to-namespace",
        title: "x's pods send only to namespace y, on TCP 80",
        manifest: r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: to-y-80
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {ns: "y"}
    ports:
    - protocol: TCP
      port: 80
"#,
    },
];

impl Preset {
    /// Its policies, read as kubectl would.
    pub fn parse(&self) -> Result<Vec<NetworkPolicy>> {
        super::manifest::read(self.manifest, "default")
            .map_err(|e| Error::config(self.key, e.to_string()))
    }
}

/// One cell of the truth table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The sender (an index into the layout's pods).
    pub from: usize,
    /// The receiver.
    pub to: usize,
    /// The port.
    pub port: u16,
    /// The protocol.
    pub protocol: PolicyProtocol,
    /// What decided it; `None` for a pod to itself, which never leaves the
    /// pod (loopback) and so is always allowed.
    pub verdict: Option<Verdict>,
}

impl Cell {
    /// Whether the connection is allowed.
    pub fn allowed(&self) -> bool {
        self.verdict.as_ref().is_none_or(Verdict::allowed)
    }
}

/// The layout under `policies`: every pod to every pod on each port and
/// protocol, in the layout's order.
pub fn truth_table(policies: Vec<NetworkPolicy>) -> Result<(PolicySet, Vec<Cell>)> {
    let (namespaces, pods) = layout();
    let n = pods.len();
    let set = PolicySet::new(&namespaces, pods, policies)?;
    let mut cells = Vec::with_capacity(n * n * 4);
    for from in 0..n {
        for to in 0..n {
            for port in PORTS {
                for protocol in [PolicyProtocol::Tcp, PolicyProtocol::Udp] {
                    let verdict = (from != to)
                        .then(|| set.verdict(Party::Pod(from), Party::Pod(to), port, protocol));
                    cells.push(Cell {
                        from,
                        to,
                        port,
                        protocol,
                        verdict,
                    });
                }
            }
        }
    }
    Ok((set, cells))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(key: &str) -> (usize, Vec<Cell>) {
        let preset = PRESETS.iter().find(|p| p.key == key).unwrap();
        let (_, cells) = truth_table(preset.parse().unwrap()).unwrap();
        (cells.iter().filter(|c| c.allowed()).count(), cells)
    }

    fn pod(ns: &str, name: &str) -> usize {
        let (_, pods) = layout();
        pods.iter()
            .position(|p| p.namespace == ns && p.name == name)
            .unwrap()
    }

    fn cell<'a>(
        cells: &'a [Cell],
        from: (&str, &str),
        to: (&str, &str),
        port: u16,
        protocol: PolicyProtocol,
    ) -> &'a Cell {
        let (f, t) = (pod(from.0, from.1), pod(to.0, to.1));
        cells
            .iter()
            .find(|c| c.from == f && c.to == t && c.port == port && c.protocol == protocol)
            .unwrap()
    }

    #[test]
    fn every_preset_parses_and_decides_what_its_title_says() {
        let tcp = PolicyProtocol::Tcp;
        let udp = PolicyProtocol::Udp;
        // 81 pairs x 4 port/protocol = 324 cells, 36 of them a pod to itself.
        let (all, cells) = truth_table(Vec::new()).unwrap();
        assert_eq!((all.pods().len(), cells.len()), (9, 324));
        assert!(cells.iter().all(Cell::allowed));

        // Deny ingress to x: the 6 other pods... every pod but x's own
        // selves loses x as a destination: 3 receivers x 8 other senders x 4.
        let (n, cells) = allowed("deny-ingress");
        assert_eq!(n, 324 - 3 * 8 * 4);
        let denied = cell(&cells, ("y", "a"), ("x", "a"), 80, tcp);
        assert!(denied
            .verdict
            .as_ref()
            .unwrap()
            .explain()
            .contains("isolated by x/deny-ingress"));

        // Same namespace: x accepts x only.
        let (n, cells) = allowed("same-namespace");
        assert_eq!(n, 324 - 3 * 6 * 4);
        assert!(cell(&cells, ("x", "b"), ("x", "a"), 81, udp).allowed());
        assert!(!cell(&cells, ("z", "b"), ("x", "a"), 81, udp).allowed());

        // From y: x/a accepts y's three pods only.
        let (n, _) = allowed("from-labelled-namespace");
        assert_eq!(n, 324 - 5 * 4);

        // AND against OR.
        let (and, cells) = allowed("and");
        assert_eq!(and, 324 - 7 * 4);
        assert!(cell(&cells, ("y", "b"), ("x", "a"), 80, tcp).allowed());
        assert!(!cell(&cells, ("y", "a"), ("x", "a"), 80, tcp).allowed());
        assert!(!cell(&cells, ("x", "b"), ("x", "a"), 80, tcp).allowed());
        let (or, cells) = allowed("or");
        assert_eq!(or, 324 - 4 * 4, "y's three and x/b");
        assert!(cell(&cells, ("x", "b"), ("x", "a"), 80, tcp).allowed());
        assert!(!cell(&cells, ("z", "b"), ("x", "a"), 80, tcp).allowed());

        // ipBlock except: node1's pods (a and b of each namespace) but x/b.
        let (n, cells) = allowed("ip-block-except");
        assert!(!cell(&cells, ("x", "b"), ("x", "a"), 80, tcp).allowed());
        assert!(cell(&cells, ("y", "b"), ("x", "a"), 80, tcp).allowed());
        assert!(
            !cell(&cells, ("y", "c"), ("x", "a"), 80, tcp).allowed(),
            "node2's range"
        );
        assert_eq!(n, 324 - 4 * 4);

        // Egress: x's pods reach nobody on 80/81 (DNS is not in the table).
        let (n, cells) = allowed("deny-egress-but-dns");
        assert_eq!(n, 324 - 3 * 8 * 4);
        assert!(!cell(&cells, ("x", "a"), ("y", "a"), 80, udp).allowed());

        // One port: x/a on TCP 80 only.
        let (n, cells) = allowed("one-port");
        assert_eq!(n, 324 - 8 * 3);
        assert!(cell(&cells, ("z", "c"), ("x", "a"), 80, tcp).allowed());
        assert!(!cell(&cells, ("z", "c"), ("x", "a"), 80, udp).allowed());
        assert!(!cell(&cells, ("z", "c"), ("x", "a"), 81, tcp).allowed());

        // A named port: x/a on UDP 81 (its container calls it serve-81-udp) only.
        let (n, cells) = allowed("named-port");
        assert_eq!(n, 324 - 8 * 3);
        assert!(cell(&cells, ("z", "c"), ("x", "a"), 81, udp).allowed());
        assert!(!cell(&cells, ("z", "c"), ("x", "a"), 80, udp).allowed());

        // Egress to a namespace on one port: x's pods reach y's on TCP 80 only.
        let (n, cells) = allowed("egress-to-namespace");
        assert_eq!(n, 324 - 3 * (8 * 4 - 3));
        assert!(cell(&cells, ("x", "a"), ("y", "c"), 80, tcp).allowed());
        assert!(!cell(&cells, ("x", "a"), ("y", "c"), 81, tcp).allowed());
        assert!(!cell(&cells, ("x", "a"), ("x", "b"), 80, tcp).allowed());
        assert!(
            cell(&cells, ("y", "a"), ("x", "b"), 81, udp).allowed(),
            "ingress open"
        );
    }
}
