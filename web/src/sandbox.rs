//! The sandbox: the cluster a learner builds, as they typed it
//! ([`SandboxSpec`], changed by [`SandboxEdit`]s), and the cluster core
//! builds from it ([`build`]): nodes over LANs, ranges by node IPAM or by
//! hand, pods with labels, a Service in front of the pods it selects,
//! NetworkPolicies, and the faults the challenges start from.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use podnet_core::forward::{ProbeKind, Proto};
use podnet_core::net::parse_cidr;
use podnet_core::policy::manifest::read;
use podnet_core::topology::lans::nth_lan;
use podnet_core::topology::{
    Backend, Cluster, ContainerPort, Labels, NewService, NodeOptions, Protocol, RangeFrom,
    TargetPort, TrafficPolicy, DEFAULT_UNDERLAY,
};

/// The sandbox's cluster, as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxSpec {
    /// Cluster range text.
    pub cidr: String,
    /// Node prefix text.
    pub prefix: String,
    /// Pods per node, one entry per node: node K is entry K-1. A removed
    /// node leaves `None`, so the others keep their names and ranges, as
    /// in a real cluster.
    pub pods: Vec<Option<u16>>,
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// Packet kind.
    pub proto: Proto,
    /// Cluster network on.
    pub network: bool,
    /// Its backend: host-gw, vxlan or auto.
    pub backend: Backend,
    /// LANs the nodes are spread over (node K on LAN (K-1) mod N), 1 to [`MAX_LANS`].
    pub lans: u8,
    /// How many nodes a link asked for, when more than [`MAX_NODES`]
    /// (the rest were cut, and the page says so).
    pub asked_nodes: usize,
    /// Nodes (by number, from 1) with `ip_forward` off.
    pub forward_off: BTreeSet<u16>,
    /// Routes taken out: (node, peer) means node lacks the route to peer's range.
    pub no_route: BTreeSet<(u16, u16)>,
    /// Ranges set by hand (node number → CIDR text); the rest come from node IPAM.
    pub ranges: BTreeMap<u16, String>,
    /// Pods whose default route goes via another address than their bridge (pod name → address text).
    pub gateways: BTreeMap<String, String>,
    /// Service `web`, if there is one.
    pub service: Option<SandboxService>,
    /// Whether kube-proxy masquerades for it.
    pub masquerade: bool,
    /// Nodes (by number) whose bridge ports have hairpin mode off.
    pub hairpin_off: BTreeSet<u16>,
    /// Pods' own labels as typed (pod name → `key=value,key=value`),
    /// beside the Service's `app=web`.
    pub labels: BTreeMap<String, String>,
    /// NetworkPolicies (namespace `default`), YAML as kubectl takes it;
    /// empty: none.
    pub policy: String,
    /// The challenge being played, by key.
    pub challenge: Option<String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            cidr: "10.244.0.0/16".into(),
            prefix: "24".into(),
            pods: vec![Some(2), Some(2), Some(1)],
            from: "p1-1".into(),
            to: "p3-1".into(),
            proto: Proto::Ping,
            network: true,
            backend: Backend::HostGw,
            lans: 1,
            asked_nodes: 0,
            forward_off: BTreeSet::new(),
            no_route: BTreeSet::new(),
            ranges: BTreeMap::new(),
            gateways: BTreeMap::new(),
            service: None,
            masquerade: true,
            hairpin_off: BTreeSet::new(),
            labels: BTreeMap::new(),
            policy: String::new(),
            challenge: None,
        }
    }
}

/// The sandbox's Service `web`: TCP port 80 on its ClusterIP (and 30080 on
/// every node for a NodePort), in front of the pods its selector matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxService {
    /// The pods labelled `app=web` (they listen on 8080, named `http`).
    pub labelled: BTreeSet<String>,
    /// What the selector asks for: `app=<this>`.
    pub selects: String,
    /// A NodePort Service (and a laptop outside that asks it).
    pub node_port: bool,
    /// `externalTrafficPolicy: Local`.
    pub local: bool,
    /// Its targetPort: a number or a container port's name.
    pub target: String,
}

impl SandboxService {
    /// A NodePort Service in front of these pods, as a learner starts one.
    pub fn node_port_to(pods: impl IntoIterator<Item = String>) -> SandboxService {
        SandboxService {
            labelled: pods.into_iter().collect(),
            selects: LABEL_VALUE.into(),
            node_port: true,
            local: false,
            target: SANDBOX_TARGET_PORT.to_string(),
        }
    }
}

/// The label the sandbox's pods carry when they are the Service's: `app=web`.
pub const LABEL_VALUE: &str = "web";
/// The Service's name, which a packet may be sent to.
pub const SERVICE_NAME: &str = "web";
/// The Service's port on its ClusterIP.
pub const SERVICE_PORT: u16 = 80;

/// An edit of the sandbox spec, applied to the spec the state holds when it
/// arrives (not to the one a control was drawn with: two quick edits both
/// count).
#[derive(Clone)]
pub struct SandboxEdit {
    apply: Rc<dyn Fn(&mut SandboxSpec)>,
    play: bool,
}

impl SandboxEdit {
    /// An edit.
    pub fn new(f: impl Fn(&mut SandboxSpec) + 'static) -> SandboxEdit {
        SandboxEdit {
            apply: Rc::new(f),
            play: false,
        }
    }

    /// The same edit, then play the packet from its first hop.
    pub fn and_play(self) -> SandboxEdit {
        SandboxEdit { play: true, ..self }
    }

    /// Applies the edit to the spec as it is now.
    pub fn apply_to(&self, spec: &mut SandboxSpec) {
        (self.apply)(spec)
    }

    /// Whether the packet plays after it.
    pub fn plays(&self) -> bool {
        self.play
    }
}

impl PartialEq for SandboxEdit {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.apply, &other.apply) && self.play == other.play
    }
}

impl std::fmt::Debug for SandboxEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxEdit")
            .field("play", &self.play)
            .finish_non_exhaustive()
    }
}

/// Most nodes the sandbox draws.
pub const MAX_NODES: usize = 128;
/// Most pods per node the sandbox asks for (the IPAM may allow fewer).
pub const MAX_PODS: u16 = 64;
/// Most LANs the sandbox spreads nodes over: as many rows as a page has
/// room for, fewer than a cluster may have ([`podnet_core::topology::MAX_LANS`]).
pub const MAX_LANS: u8 = 4;
const _: () = assert!(MAX_LANS as usize <= podnet_core::topology::MAX_LANS);

/// What [`build`] made of a spec.
#[derive(Debug, Clone)]
pub struct Built {
    /// The cluster (a default one when the spec's ranges cannot be used).
    pub cluster: Cluster,
    /// The packet to send (sender, receiver, kind), when both exist.
    pub sent: Option<(String, String, ProbeKind)>,
    /// Whether the matrix is small enough to check ([`MATRIX_LIMIT`]).
    pub matrix: bool,
    /// What was wrong with the input.
    pub error: Option<String>,
}

/// Builds the sandbox as far as the input allows; the first problem becomes the error.
pub fn build(spec: SandboxSpec) -> Built {
    let fallback =
        || Cluster::parse("10.244.0.0/16", 24, DEFAULT_UNDERLAY).expect("defaults are valid");
    let prefix = spec
        .prefix
        .trim()
        .trim_start_matches('/')
        .parse::<u8>()
        .map_err(|_| format!("node prefix {:?} is not a number from 0 to 32", spec.prefix));
    let built = prefix.and_then(|p| {
        let cidr = parse_cidr(&spec.cidr).map_err(|e| e.to_string())?;
        Cluster::new(cidr, p, parse_cidr(DEFAULT_UNDERLAY).expect("valid"))
            .map_err(|e| e.to_string())
    });
    let (mut c, mut error) = match built {
        Ok(c) => (c, None),
        Err(e) => (fallback(), Some(e)),
    };
    c.set_backend(if spec.network {
        spec.backend
    } else {
        Backend::None
    });
    let lans = spec.lans.clamp(1, MAX_LANS);
    for k in 1..lans {
        if let Err(e) = nth_lan(usize::from(k)).and_then(|l| c.add_lan(l)) {
            error = error.or(Some(format!("LAN {}: {e}", k + 1)));
        }
    }
    if error.is_none() {
        // A removed node holds its place while the others are added, so
        // they keep the ranges and addresses they had; then it goes.
        let mut holes = Vec::new();
        'nodes: for (i, &pods) in spec.pods.iter().take(MAX_NODES).enumerate() {
            let name = match pods {
                Some(_) => format!("node{}", i + 1),
                None => format!("removed-{}", i + 1),
            };
            let lan = i as u8 % lans;
            let by_hand = spec
                .ranges
                .get(&(i as u16 + 1))
                .map(|r| r.trim())
                .filter(|r| !r.is_empty());
            let added = match by_hand {
                Some(r) => parse_cidr(r)
                    .map_err(|e| format!("node{} range: {e}", i + 1))
                    .and_then(|r| {
                        c.add_node(
                            &name,
                            NodeOptions {
                                lan,
                                range: RangeFrom::ByHand(r),
                                ..NodeOptions::default()
                            },
                        )
                        .map_err(|e| format!("node{}: {e}", i + 1))
                    }),
                None => c
                    .add_node(&name, NodeOptions::on_lan(lan))
                    .map_err(|e| format!("node{}: {e}", i + 1)),
            };
            let node = match added {
                Ok(n) => n,
                // A bad range is this node's problem; the others still stand.
                Err(e) if by_hand.is_some() => {
                    error = error.or(Some(e));
                    continue;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let Some(pods) = pods else {
                holes.push(node);
                continue;
            };
            for j in 0..pods {
                if let Err(e) = c.add_pod(node, &format!("p{}-{}", i + 1, j + 1)) {
                    // This node is full; the rest of the cluster still stands.
                    error = error.or(Some(format!("pod p{}-{}: {e}", i + 1, j + 1)));
                    continue 'nodes;
                }
            }
        }
        for h in holes {
            let _ = c.remove_node(h);
        }
        if let Err(e) = settings(&mut c, &spec) {
            error = error.or(Some(e));
        }
    }
    if spec.asked_nodes > MAX_NODES {
        error = Some(format!(
            "the link asks for {} nodes; the sandbox holds at most {MAX_NODES}, so it shows the first {MAX_NODES}",
            spec.asked_nodes
        ))
        .or(error);
    }
    // TCP to a node asks the NodePort when there is one; to the Service,
    // its port; to a pod, the port the pods listen on.
    let node_port = c
        .services()
        .first()
        .and_then(|s| s.node_port())
        .map(|(_, np)| np);
    let to_service = c.service_named(&spec.to).is_some();
    let port = match (spec.proto, node_port) {
        _ if to_service => SERVICE_PORT,
        (Proto::Tcp, Some(np)) if c.node_named(&spec.to).is_some() => np,
        (Proto::Tcp, _) if c.node_named(&spec.to).is_some() => 80,
        _ => SANDBOX_TARGET_PORT,
    };
    let kind = spec.proto.probe(port);
    let has = |n: &str| {
        c.pod_named(n).is_some()
            || c.node_named(n).is_some()
            || c.client_named(n).is_some()
            || c.service_named(n).is_some()
    };
    let sent = (has(&spec.from) && has(&spec.to) && !c.nodes().is_empty()).then_some((
        spec.from.as_str(),
        spec.to.as_str(),
        kind,
    ));
    let matrix = c.nodes().len() + c.pods().len() <= MATRIX_LIMIT;
    let sent = sent.map(|(from, to, kind)| (from.to_string(), to.to_string(), kind));
    Built {
        cluster: c,
        sent,
        matrix,
        error,
    }
}

/// The sandbox's NodePort service: TCP on this node port...
pub const SANDBOX_NODE_PORT: u16 = 30080;
/// ...to this port on its pod, where the sandbox's UDP goes too (not 53:
/// an empty datagram to the DNS port reads as malformed DNS in tcpdump).
pub const SANDBOX_TARGET_PORT: u16 = 8080;

/// The sandbox checks every pair up to this many nodes and pods (the
/// matrix grows with the square; the page says so above it).
pub const MATRIX_LIMIT: usize = 64;

/// The sandbox's per-node settings and faults, on the cluster just built.
fn settings(c: &mut Cluster, spec: &SandboxSpec) -> Result<(), String> {
    let node = |c: &Cluster, k: u16| {
        c.node_named(&format!("node{k}"))
            .map(|n| (n.id, n.pod_range))
    };
    for &k in &spec.forward_off {
        if let Some((id, _)) = node(c, k) {
            c.set_ip_forward(id, false).map_err(|e| e.to_string())?;
        }
    }
    for &(k, peer) in &spec.no_route {
        if let (Some((id, _)), Some((_, range))) = (node(c, k), node(c, peer)) {
            c.set_route_missing(id, range, true)
                .map_err(|e| e.to_string())?;
        }
    }
    for (pod, gw) in &spec.gateways {
        let Some(id) = c.pod_named(pod).map(|p| p.id) else {
            continue;
        };
        let gw = gw
            .trim()
            .parse()
            .map_err(|_| format!("{pod}'s gateway {gw:?} is not an IPv4 address"))?;
        c.set_pod_gateway(id, Some(gw)).map_err(|e| e.to_string())?;
    }
    for &k in &spec.hairpin_off {
        if let Some((id, _)) = node(c, k) {
            c.set_hairpin(id, false).map_err(|e| e.to_string())?;
        }
    }
    if let Some(svc) = &spec.service {
        service(c, svc, spec.masquerade)?;
    }
    for (pod, text) in &spec.labels {
        let Some(p) = c.pod_named(pod) else {
            continue;
        };
        let (id, mut labels) = (p.id, p.labels.clone());
        labels.extend(parse_labels(text).map_err(|e| format!("{pod}'s labels: {e}"))?);
        c.set_pod_labels(id, labels).map_err(|e| e.to_string())?;
    }
    if !spec.policy.trim().is_empty() {
        let policies = read(&spec.policy, "default")
            .map_err(|e| format!("NetworkPolicy, line {}: {}", e.line, e.message))?;
        c.set_policies(policies).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `key=value,key=value` as a pod's labels; an empty text is none. Keys
/// and values keep to what Kubernetes allows in them (letters, digits,
/// `-`, `_`, `.`, and a `prefix/` on a key).
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let ok = |s: &str, slash: bool| {
        s.len() <= 253
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch) || (slash && ch == '/'))
    };
    text.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| format!("{l:?} is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            // The Service's own label has its checkboxes: one place to set it.
            if k == "app" {
                return Err(format!(
                    "{l:?}: app is Service {SERVICE_NAME}'s label, set by the checkboxes under the Service"
                ));
            }
            if k.is_empty() || !ok(k, true) || !ok(v, false) {
                return Err(format!(
                    "{l:?}: a label's key and value are letters, digits, '-', '_' and '.'"
                ));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Service `web`: its pods labelled and listening on 8080 (`http`), the
/// Service selecting `app=<selects>`, the nodes routed to their LAN's
/// gateway (a node needs a route for a ClusterIP), a laptop for a NodePort.
fn service(c: &mut Cluster, svc: &SandboxService, masquerade: bool) -> Result<(), String> {
    for name in &svc.labelled {
        let Some(id) = c.pod_named(name).map(|p| p.id) else {
            continue;
        };
        let labels = [("app".to_string(), LABEL_VALUE.to_string())].into();
        c.set_pod_labels(id, labels).map_err(|e| e.to_string())?;
        let ports = [Protocol::Tcp, Protocol::Udp].map(|protocol| ContainerPort {
            name: if protocol == Protocol::Tcp {
                "http"
            } else {
                "udp"
            }
            .into(),
            protocol,
            port: SANDBOX_TARGET_PORT,
            host_port: None,
        });
        c.set_pod_ports(id, ports.to_vec())
            .map_err(|e| e.to_string())?;
    }
    let target = match svc.target.trim().parse::<u16>() {
        Ok(n) if n > 0 => TargetPort::Number(n),
        Ok(_) => return Err("the targetPort 0 is no port".into()),
        Err(_) if !svc.target.trim().is_empty() => TargetPort::Name(svc.target.trim().into()),
        Err(_) => TargetPort::Number(SANDBOX_TARGET_PORT),
    };
    let base = if svc.node_port {
        NewService::node_port(
            SERVICE_NAME,
            Protocol::Tcp,
            SANDBOX_NODE_PORT,
            SANDBOX_TARGET_PORT,
        )
    } else {
        NewService::cluster_ip(
            SERVICE_NAME,
            Protocol::Tcp,
            SERVICE_PORT,
            SANDBOX_TARGET_PORT,
        )
    };
    let mut new = base.with_selector([("app".to_string(), svc.selects.trim().to_string())].into());
    for p in &mut new.ports {
        p.port = SERVICE_PORT;
        p.target = target.clone();
    }
    let id = c
        .add_service(new)
        .map_err(|e| format!("Service {SERVICE_NAME}: {e}"))?;
    c.set_masquerade(id, masquerade)
        .map_err(|e| e.to_string())?;
    if svc.local {
        c.set_traffic_policy(id, TrafficPolicy::Local)
            .map_err(|e| e.to_string())?;
    }
    c.route_nodes_to_lan_gateways().map_err(|e| e.to_string())?;
    if svc.node_port {
        c.add_client("laptop", None).map_err(|e| e.to_string())?;
    }
    Ok(())
}
