//! The agent's Kubernetes mode: the cluster as the API server holds it.
//!
//! kube-controller-manager's node IPAM writes each Node's `spec.podCIDR`;
//! the kubelet reports its `InternalIP`. A reflector (kube-runtime's
//! `watcher` feeding a store) keeps every Node in memory; each change, and a
//! timer, rebuild the cluster with core ([`cluster_spec`]) and reconcile
//! exactly as the cluster-file mode does ([`super::apply`]).
//!
//! Until this node's own Node has a podCIDR nothing is programmed and no CNI
//! config is written, so the kubelet keeps the Node NotReady ("network
//! plugin not ready"), as the seed says: Kubernetes does not set up the
//! network by itself.
//!
//! Robust to what a real API does: an API server restart or an expired
//! watch (410 Gone) makes the watcher back off and list again, and the store
//! keeps the last full list until the new one is complete, so routes stay
//! as they are meanwhile. A Node whose podCIDR or address cannot be used is
//! left out with a warning; it never removes the others' routes.

use std::borrow::Borrow;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnetwork::Ipv4Network;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Config};
use podnet_core::net::parse_cidr;
use podnet_core::topology::spec::{ClusterSpec, NodeSpec};
use podnet_core::topology::Backend;
use tracing::{info, warn};

use crate::{apply, kube_policy, log, version_of, AgentConfig, AgentError, AgentState, Report};

/// Where the agent finds the API server.
#[derive(Debug, Clone)]
pub struct KubeSource {
    /// A kubeconfig file; `None`: the in-cluster config (service-account
    /// token and `KUBERNETES_SERVICE_HOST`, as in a DaemonSet pod).
    pub kubeconfig: Option<PathBuf>,
    /// The cluster range node IPAM allocates from (`--cluster-cidr` of
    /// kube-controller-manager).
    pub cluster_cidr: Ipv4Network,
    /// How pod traffic crosses nodes: host-gw, vxlan or auto.
    pub backend: Backend,
}

/// A peer left out of the cluster, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The Node's name.
    pub node: String,
    /// Why.
    pub reason: String,
}

/// Why the agent cannot program this node yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotYet {
    /// The API has no Node of this name.
    #[error("the API server has no Node {0:?} yet")]
    NoNode(String),
    /// The Node has no podCIDR yet (node IPAM has not run, or is off).
    #[error("Node {0:?} has no spec.podCIDR yet (is kube-controller-manager running with --allocate-node-cidrs?)")]
    NoPodCidr(String),
    /// The Node's own podCIDR or address cannot be used.
    #[error("Node {node:?}: {reason}")]
    Unusable {
        /// The Node.
        node: String,
        /// Why.
        reason: String,
    },
}

/// Why a peer that registered a moment ago is not routed to yet.
const NO_POD_CIDR: &str = "no spec.podCIDR yet";

/// A Node's IPv4 pod range (`spec.podCIDR`, else the first IPv4 of `spec.podCIDRs`).
fn pod_cidr(node: &Node) -> Option<&str> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidr.as_deref().or_else(|| {
        spec.pod_cidrs
            .as_ref()?
            .iter()
            .map(String::as_str)
            .find(|c| !c.contains(':'))
    })
}

/// A Node's IPv4 InternalIP, as the kubelet reports it.
fn internal_ip(node: &Node) -> Option<Ipv4Addr> {
    let addrs = node.status.as_ref()?.addresses.as_ref()?;
    addrs
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse().ok())
}

/// One Node as the cluster file would list it, or why it cannot be used.
fn node_spec(node: &Node, src: &KubeSource, prefix: Option<u8>) -> Result<NodeSpec, String> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let ip = internal_ip(node).ok_or("no IPv4 InternalIP in status.addresses")?;
    let cidr = pod_cidr(node).ok_or(NO_POD_CIDR)?;
    let range = parse_cidr(cidr).map_err(|e| format!("podCIDR {cidr:?}: {e}"))?;
    if !src.cluster_cidr.contains(range.network()) || range.prefix() < src.cluster_cidr.prefix() {
        return Err(format!(
            "podCIDR {range} is outside the cluster range {}",
            src.cluster_cidr
        ));
    }
    if prefix.is_some_and(|p| p != range.prefix()) {
        return Err(format!(
            "podCIDR {range} is not a /{} like this node's",
            prefix.unwrap_or(0)
        ));
    }
    Ok(NodeSpec {
        name,
        ip: Some(ip),
        pod_cidr: Some(range.to_string()),
        default_gateway: None,
    })
}

/// The cluster as core takes it, from the Node objects: this node first,
/// then every peer that can be used (the others are returned with the
/// reason). `underlay` is the network of this node's uplink.
pub fn cluster_spec(
    nodes: &[impl Borrow<Node>],
    me: &str,
    src: &KubeSource,
    underlay: impl Fn(Ipv4Addr) -> Option<Ipv4Network>,
) -> Result<(ClusterSpec, Vec<Skipped>), NotYet> {
    let name_of = |n: &Node| n.metadata.name.clone().unwrap_or_default();
    let own = nodes
        .iter()
        .map(Borrow::borrow)
        .find(|n| name_of(n) == me)
        .ok_or_else(|| NotYet::NoNode(me.into()))?;
    if pod_cidr(own).is_none() {
        return Err(NotYet::NoPodCidr(me.into()));
    }
    let unusable = |reason: String| NotYet::Unusable {
        node: me.into(),
        reason,
    };
    let own_spec = node_spec(own, src, None).map_err(unusable)?;
    let own_ip = own_spec.ip.expect("checked");
    let lan = underlay(own_ip)
        .ok_or_else(|| unusable(format!("no local link has its InternalIP {own_ip}")))?;
    let prefix = parse_cidr(own_spec.pod_cidr.as_deref().unwrap_or_default())
        .map_err(|e| unusable(e.to_string()))?
        .prefix();
    let mut specs = vec![own_spec];
    let mut skipped = Vec::new();
    // Peers off this node's link sit on networks it cannot see; the model
    // gives each the block of this LAN's size around it. This node's plan
    // depends only on whether a peer is on its own link.
    let mut lans: Vec<Ipv4Network> = Vec::new();
    let off_lan_prefix = lan.prefix().clamp(8, 29);
    let mut peers: Vec<&Node> = nodes
        .iter()
        .map(Borrow::borrow)
        .filter(|n| name_of(n) != me)
        .collect();
    peers.sort_by_key(|n| name_of(n));
    for peer in peers {
        let checked = node_spec(peer, src, Some(prefix)).and_then(|s| {
            let ip = s.ip.expect("checked");
            if !lan.contains(ip) {
                if src.backend == Backend::HostGw {
                    return Err(format!(
                        "InternalIP {ip} is not on this node's network {lan} (host-gw needs one LAN; --backend vxlan or auto reach it through the overlay)"
                    ));
                }
                let block = Ipv4Network::new(ip, off_lan_prefix).expect("prefix 8-29");
                let block = Ipv4Network::new(block.network(), off_lan_prefix).expect("prefix 8-29");
                if block.overlaps(src.cluster_cidr) {
                    return Err(format!(
                        "InternalIP {ip} is inside the cluster range {}",
                        src.cluster_cidr
                    ));
                }
                if !lans.contains(&block) {
                    lans.push(block);
                }
            }
            if specs.iter().any(|o| o.pod_cidr == s.pod_cidr) {
                return Err(format!(
                    "podCIDR {} is taken by another Node",
                    s.pod_cidr.as_deref().unwrap_or("")
                ));
            }
            if specs.iter().any(|o| o.ip == s.ip) {
                return Err(format!("InternalIP {ip} is taken by another Node"));
            }
            Ok(s)
        });
        match checked {
            Ok(s) => specs.push(s),
            Err(reason) => skipped.push(Skipped {
                node: name_of(peer),
                reason,
            }),
        }
    }
    let spec = ClusterSpec {
        cluster_cidr: src.cluster_cidr.to_string(),
        node_prefix: prefix,
        underlay: lan.to_string(),
        cluster_network: true,
        backend: Some(src.backend.key().into()),
        lans: lans.iter().map(|l| l.to_string()).collect(),
        egress_masquerade: true,
        nodes: specs,
        pods: Vec::new(),
        services: Vec::new(),
        clients: Vec::new(),
        namespaces: Vec::new(),
        policies: Vec::new(),
    };
    Ok((spec, skipped))
}

/// Every IPv4 address of this node's namespace, with its prefix: the
/// uplink's tells which LAN this node is on.
fn local_addresses(nl: &podnet_kernel::Netlink) -> Result<Vec<Ipv4Network>, AgentError> {
    let mut out = Vec::new();
    for l in nl.links()? {
        out.extend(nl.addresses(l.index)?);
    }
    Ok(out)
}

/// One pass over the Nodes the store holds.
/// `policy` is this node's NetworkPolicy table as [`super::apply`] takes
/// it (`None`: leave the table as it is).
pub fn reconcile(
    cfg: &AgentConfig,
    nodes: &[impl Borrow<Node>],
    src: &KubeSource,
    policy: Option<Option<String>>,
    memory: &mut AgentState,
) -> Result<Option<(Report, Vec<Skipped>)>, AgentError> {
    let local = local_addresses(memory.kernel()?)?;
    let uplink_network = |ip: Ipv4Addr| {
        let a = local.iter().find(|a| a.ip() == ip)?;
        Ipv4Network::new(a.network(), a.prefix()).ok()
    };
    let (spec, skipped) = match cluster_spec(nodes, &cfg.node, src, uplink_network) {
        Ok(x) => x,
        Err(why) => {
            if memory.waiting.as_ref() != Some(&why) {
                info!(reason = %why, "waiting: nothing programmed, no CNI config");
                memory.waiting = Some(why);
            }
            return Ok(None);
        }
    };
    memory.waiting = None;
    let text = serde_json::to_string(&spec).expect("plain data serializes");
    let bad = |msg: String| AgentError::Cluster {
        path: "the Kubernetes API".into(),
        msg,
    };
    let cluster = spec.build().map_err(|e| bad(e.to_string()))?;
    let node = cluster
        .node_named(&cfg.node)
        .ok_or_else(|| bad(format!("has no node named {:?}", cfg.node)))?;
    let plan = cluster.plan(node.id).map_err(|e| bad(e.to_string()))?;
    let report = apply(cfg, &plan, None, policy, &version_of(&text), memory)?;
    Ok(Some((report, skipped)))
}

async fn client(src: &KubeSource) -> Result<Client, String> {
    let config = match &src.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None => Config::incluster().map_err(|e| {
            format!("no --kubeconfig and no in-cluster config (KUBERNETES_SERVICE_HOST and the service-account token): {e}")
        })?,
    };
    Client::try_from(config).map_err(|e| format!("cannot make a client: {e}"))
}

/// A watched kind: its store, and whether its first full list arrived
/// (before that, an empty store means "not known yet", not "none").
struct Watched<K: kube::Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    ready: Arc<AtomicBool>,
}

/// Watches every object of kind `K` on a thread of its own; each change to
/// the store is a message on `changed`. An API outage or an expired watch
/// backs off and lists again; the store keeps the last list meanwhile.
fn watch<K>(
    src: &KubeSource,
    what: &'static str,
    changed: mpsc::Sender<()>,
) -> Result<Watched<K>, String>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (tx, rx) = mpsc::channel();
    let src = src.clone();
    let ready = Arc::new(AtomicBool::new(false));
    let ready2 = ready.clone();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return drop(tx.send(Err(e.to_string()))),
        };
        rt.block_on(async move {
            let client = match client(&src).await {
                Ok(c) => c,
                Err(e) => return drop(tx.send(Err(e))),
            };
            let (store, writer) = reflector::store();
            let _ = tx.send(Ok(store));
            let api: Api<K> = Api::all(client);
            let events =
                reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                match event {
                    // Init and InitApply only fill the store's buffer: the
                    // store changes at InitDone.
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
                        ready2.store(true, Ordering::Relaxed);
                        if changed.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "watching {what} failed; retrying with backoff, the kernel stays as it is"),
                }
            }
        });
    });
    let store = rx
        .recv()
        .map_err(|_| format!("the {what} watch thread ended"))??;
    Ok(Watched { store, ready })
}

/// This node's NetworkPolicy table from the stores, or `None` (leave the
/// table as it is) until all three have their first list, or when a
/// policy cannot be used.
fn policy_table(
    node: &str,
    nodes: &Watched<Node>,
    pods: &Watched<Pod>,
    namespaces: &Watched<Namespace>,
    policies: &Watched<NetworkPolicy>,
    last_error: &mut Option<String>,
) -> Option<Option<String>> {
    let ready = [&pods.ready, &namespaces.ready, &policies.ready]
        .iter()
        .all(|r| r.load(Ordering::Relaxed));
    if !ready {
        return None;
    }
    match kube_policy::policy_set(
        &pods.store.state(),
        &namespaces.store.state(),
        &policies.store.state(),
    ) {
        Ok(set) => {
            *last_error = None;
            let range = nodes
                .store
                .state()
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(node))
                .and_then(|n| pod_cidr(n).and_then(|c| c.parse().ok()));
            Some(kube_policy::table(&set, node, range))
        }
        Err(e) => {
            if last_error.as_ref() != Some(&e) {
                warn!(error = %e, "NetworkPolicies not applied; the last rules stay");
                *last_error = Some(e);
            }
            None
        }
    }
}

/// Reconciles on every change of the Nodes and every `interval`, forever.
pub fn run(cfg: &AgentConfig, src: &KubeSource, interval: Duration) -> Result<(), AgentError> {
    // Not ready until this process has programmed the node: podnet-cni's
    // STATUS answers 50 meanwhile.
    if let Some(status) = &cfg.status_file {
        let _ = std::fs::remove_file(status);
    }
    let (changed, wake) = mpsc::channel();
    let nodes = watch::<Node>(src, "Nodes", changed.clone()).map_err(AgentError::Io)?;
    let pods = watch::<Pod>(src, "Pods", changed.clone()).map_err(AgentError::Io)?;
    let namespaces =
        watch::<Namespace>(src, "Namespaces", changed.clone()).map_err(AgentError::Io)?;
    let policies =
        watch::<NetworkPolicy>(src, "NetworkPolicies", changed).map_err(AgentError::Io)?;
    let mut policy_error = None;
    let mut memory = AgentState::default();
    let mut skipped_before: Vec<Skipped> = Vec::new();
    loop {
        match wake.recv_timeout(interval) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(AgentError::Io("the Node watch ended".into()))
            }
        }
        let woke = Instant::now();
        // A burst of events is one pass.
        while wake.try_recv().is_ok() {}
        let policy = policy_table(
            &cfg.node,
            &nodes,
            &pods,
            &namespaces,
            &policies,
            &mut policy_error,
        );
        match reconcile(cfg, &nodes.store.state(), src, policy, &mut memory) {
            Ok(Some((report, skipped))) => {
                log(&report, woke.elapsed());
                for s in skipped.iter().filter(|s| !skipped_before.contains(s)) {
                    if s.reason == NO_POD_CIDR {
                        // Normal for a moment after a Node registers.
                        info!(node = %s.node, reason = %s.reason, "Node left out until it has a range");
                    } else {
                        warn!(node = %s.node, reason = %s.reason, "Node left out");
                    }
                }
                skipped_before = skipped;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "reconcile failed; will retry, nothing removed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeSpec as KNodeSpec, NodeStatus};

    fn node(name: &str, ip: &str, cidr: Option<&str>) -> Node {
        Node {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(KNodeSpec {
                pod_cidr: cidr.map(Into::into),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                addresses: Some(vec![NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.into(),
                }]),
                ..Default::default()
            }),
        }
    }

    fn src() -> KubeSource {
        KubeSource {
            kubeconfig: None,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            backend: Backend::HostGw,
        }
    }

    fn lan(_: Ipv4Addr) -> Option<Ipv4Network> {
        "192.168.1.0/24".parse().ok()
    }

    #[test]
    fn nodes_become_the_cluster_and_bad_peers_are_left_out() {
        let nodes = vec![
            node("node1", "192.168.1.11", Some("10.244.0.0/24")),
            node("node2", "192.168.1.12", Some("10.244.1.0/24")),
            node("late", "192.168.1.13", None),
            node("outside", "192.168.1.14", Some("10.99.0.0/24")),
            node("garbage", "192.168.1.15", Some("not-a-cidr")),
            node("wide", "192.168.1.16", Some("10.244.8.0/21")),
            node("twin", "192.168.1.17", Some("10.244.1.0/24")),
            node("far", "10.0.0.5", Some("10.244.3.0/24")),
            node("noaddr", "fe80::1", Some("10.244.4.0/24")),
            node("w3.lab.example", "192.168.1.18", Some("10.244.5.0/24")),
        ];
        let (spec, skipped) = cluster_spec(&nodes, "node1", &src(), lan).unwrap();
        let names: Vec<&str> = spec.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node1", "node2", "w3.lab.example"]);
        let left: Vec<&str> = skipped.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(left.len(), 7, "{skipped:?}");
        for n in [
            "late", "outside", "garbage", "wide", "twin", "far", "noaddr",
        ] {
            assert!(left.contains(&n), "{n}: {skipped:?}");
        }
        assert_eq!(spec.node_prefix, 24);
        assert_eq!(spec.underlay, "192.168.1.0/24");
        let c = spec.build().unwrap();
        let plan = c.plan(c.node_named("node1").unwrap().id).unwrap();
        assert!(plan
            .routes
            .iter()
            .any(|r| r.dst.to_string() == "10.244.1.0/24"
                && r.via == Some("192.168.1.12".parse().unwrap())));
    }

    #[test]
    fn with_vxlan_or_auto_peers_on_other_subnets_are_reached_through_the_vtep() {
        let nodes = vec![
            node("node1", "192.168.1.11", Some("10.244.0.0/24")),
            node("near", "192.168.1.12", Some("10.244.1.0/24")),
            node("far", "10.0.0.5", Some("10.244.3.0/24")),
            node("farther", "172.16.9.9", Some("10.244.4.0/24")),
            node("inside", "10.244.200.1", Some("10.244.5.0/24")),
        ];
        for backend in [Backend::Vxlan, Backend::Auto] {
            let src = KubeSource { backend, ..src() };
            let (spec, skipped) = cluster_spec(&nodes, "node1", &src, lan).unwrap();
            let names: Vec<&str> = skipped.iter().map(|s| s.node.as_str()).collect();
            assert_eq!(
                names,
                ["inside"],
                "an InternalIP in the pod range is refused"
            );
            assert_eq!(spec.lans, ["10.0.0.0/24", "172.16.9.0/24"]);
            let c = spec.build().unwrap();
            let plan = c.plan(c.node_named("node1").unwrap().id).unwrap();
            let routes: Vec<String> = plan.owned_routes().map(|r| r.to_string()).collect();
            let near = if backend == Backend::Auto {
                "10.244.1.0/24 via 192.168.1.12 dev eth0 proto podnet"
            } else {
                "10.244.1.0/24 via 10.244.1.0 dev podnet.1 proto podnet onlink"
            };
            assert!(routes.contains(&near.to_string()), "{routes:?}");
            assert!(
                routes.contains(
                    &"10.244.3.0/24 via 10.244.3.0 dev podnet.1 proto podnet onlink".to_string()
                ),
                "{routes:?}"
            );
            let v = plan.vtep.unwrap();
            assert!(v
                .peers
                .iter()
                .any(|p| p.node == "farther"
                    && p.underlay == "172.16.9.9".parse::<Ipv4Addr>().unwrap()));
        }
        // host-gw leaves them out and says why.
        let (_, skipped) = cluster_spec(&nodes, "node1", &src(), lan).unwrap();
        let far = skipped.iter().find(|s| s.node == "far").unwrap();
        assert!(
            far.reason.contains("host-gw needs one LAN"),
            "{}",
            far.reason
        );
    }

    #[test]
    fn no_own_node_or_range_means_wait() {
        let nodes = vec![node("node2", "192.168.1.12", Some("10.244.1.0/24"))];
        assert_eq!(
            cluster_spec(&nodes, "node1", &src(), lan).unwrap_err(),
            NotYet::NoNode("node1".into())
        );
        let nodes = vec![node("node1", "192.168.1.11", None)];
        assert_eq!(
            cluster_spec(&nodes, "node1", &src(), lan).unwrap_err(),
            NotYet::NoPodCidr("node1".into())
        );
        let nodes = vec![node("node1", "192.168.1.11", Some("10.1.0.0/24"))];
        assert!(matches!(
            cluster_spec(&nodes, "node1", &src(), lan),
            Err(NotYet::Unusable { .. })
        ));
        assert!(matches!(
            cluster_spec(
                &[node("node1", "192.168.1.11", Some("10.244.0.0/24"))],
                "node1",
                &src(),
                |_| None
            ),
            Err(NotYet::Unusable { .. })
        ));
    }
}
