//! `podnet lab up`: builds the lab, one named step at a time.
//!
//! The order is the one a real cluster comes up in: the LAN, the nodes on
//! it, a machine outside the cluster, an agent per node (each writes its CNI
//! config once it has reconciled), the pods through podnet-cni, and last the
//! workload the agents are told about (pods and a NodePort service). The
//! state file is saved after every step that made something, so a failure
//! anywhere leaves what [`down`](super::down()) needs to remove it all.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use podnet_core::alloc::DEFAULT_NODE_PREFIX as NODE_PREFIX;
use podnet_core::net::{parse_cidr, IfName, MacAddr};
use podnet_core::route::RouteProto;
use podnet_core::topology::lans::nth_lan;
use podnet_core::topology::spec::{ClientSpec, ClusterSpec, NodeSpec};
use podnet_core::topology::{Backend, Cluster, NodeOptions, RangeFrom, Router, MAX_LANS};

use crate::agent::start_agent;
use crate::control_plane::CLUSTER_CIDR;
use crate::error::LabError;
use crate::process::check_root;
use crate::state::{ControlPlane, LabNode, LabPod, LabState};
use crate::{cni, kubernetes, open_ns, services, CLIENT_IP, LAN_GSO_MAX};
use podnet_kernel::link::VethEnd;
use podnet_kernel::{netns, Netlink, Netns};

/// How long the agents get to apply a cluster file.
const APPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Name and prefix.
    pub name: String,
    /// Number of nodes (1–200).
    pub nodes: usize,
    /// Pods per node.
    pub pods_per_node: usize,
    /// How pod traffic crosses nodes: host-gw, vxlan or auto, or
    /// [`Backend::None`], no cluster network (each node only knows its own pods).
    pub backend: Backend,
    /// How many LANs the nodes are spread over (1–8), joined by a router.
    pub lans: usize,
    /// Directory with `podnet-agent` and `podnet-cni`.
    pub bin_dir: PathBuf,
    /// BIG TCP on the LAN: its links take GSO packets up to [`LAN_GSO_MAX`]
    /// instead of 64 KiB, like a NIC with BIG TCP on. Each agent passes
    /// the size on to its pods.
    pub big_tcp: bool,
    /// A real Kubernetes control plane on the LAN: node IPAM hands out the
    /// ranges, and the agents read Nodes from the API instead of a cluster
    /// file. The lab registers the Node objects a kubelet would.
    pub api: bool,
    /// A real Kubernetes cluster: the control plane, and on every node
    /// containerd, a kubelet and kube-proxy; podnet installed from
    /// `deploy/podnet.yaml`; the pods a Deployment's (see [`super::kubernetes`]).
    pub kubernetes: bool,
    /// Also import the images Kubernetes' own e2e tests name (agnhost,
    /// jessie-dnsutils, busybox, pause) into every node, for
    /// `tests/conformance.sh`. Needs `kubernetes`.
    pub e2e_images: bool,
    /// Also the NetworkPolicy layout: namespaces x, y, z with Pods a, b, c
    /// (see [`crate::netpol`]). Needs `kubernetes`.
    pub netpol: bool,
}

impl LabConfig {
    /// Checks the options before anything is made.
    fn validate(&self) -> Result<(), LabError> {
        let bad = |flag, rule| Err(LabError::BadOption { flag, rule });
        if self.nodes == 0 || self.nodes > 200 {
            return bad("--nodes", "must be 1 to 200");
        }
        if self.pods_per_node > 200 {
            return bad("--pods-per-node", "must be at most 200");
        }
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 20
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric());
        if !name_ok {
            return bad("--name", "must be 1-20 letters or digits");
        }
        if self.lans == 0 || self.lans > MAX_LANS {
            return bad("--lans", "must be 1 to 8 (core's MAX_LANS)");
        }
        if self.lans > 1 && (self.api || self.kubernetes) {
            return bad(
                "--lans",
                "must be 1 with --api or --kubernetes (their control plane is on the first LAN only)",
            );
        }
        if self.kubernetes && self.nodes > 10 {
            // Each node is a kubelet, containerd and kube-proxy.
            return bad("--nodes", "must be 1 to 10 with --kubernetes");
        }
        if self.e2e_images && !self.kubernetes {
            return bad("--e2e-images", "needs --kubernetes");
        }
        if self.netpol && !self.kubernetes {
            return bad("--netpol", "needs --kubernetes");
        }
        if self.kubernetes && self.backend == Backend::None {
            return bad(
                "--no-cluster-network",
                "does not apply to --kubernetes (podnet's DaemonSet always routes between nodes)",
            );
        }
        Ok(())
    }
}

/// Builds a lab. On failure, what was built is torn down again.
pub fn up(cfg: &LabConfig) -> Result<LabState, LabError> {
    check_root("creates network namespaces")?;
    cfg.validate()?;
    let clash = netns::with_prefix(&format!("{}-", cfg.name));
    if LabState::dir(&cfg.name).exists() || !clash.is_empty() {
        return Err(LabError::Exists {
            name: cfg.name.clone(),
            namespaces: clash.len(),
        });
    }
    build(cfg).inspect_err(|_| {
        let _ = super::down(&cfg.name);
    })
}

fn build(cfg: &LabConfig) -> Result<LabState, LabError> {
    let mut state = plan(cfg)?;
    state.save()?;
    let cluster = state.spec.build()?;
    let gso = cfg.big_tcp.then_some(LAN_GSO_MAX);
    let lans: Vec<Netns> = (0..cfg.lans)
        .map(|k| build_lan(&state, k))
        .collect::<Result<_, _>>()?;
    let lan = &lans[0];
    for (k, node) in state.nodes.iter().enumerate() {
        let port = format!("n{}", k + 1);
        let mac = MacAddr::on_lan(node.ip);
        let on = &lans[usize::from(cluster.lan_of(node.ip).unwrap_or(0))];
        plug_into_lan(on, &node.netns, &port, mac, node.ip, gso)?;
        default_route(&state, &node.name)?;
    }
    plug_into_lan(
        lan,
        &state.client_netns(),
        "c0",
        MacAddr::on_lan(CLIENT_IP),
        CLIENT_IP,
        gso,
    )?;
    if cfg.api || cfg.kubernetes {
        let ip = CONTROL_PLANE_IP;
        let netns = format!("{}-cp", cfg.name);
        plug_into_lan(lan, &netns, "cp", MacAddr::on_lan(ip), ip, gso)?;
    }
    if let Some(router) = cluster.router() {
        build_router(&state, &cluster, &router, &lans, gso)?;
    }
    if let Some(size) = gso {
        for lan in &lans {
            raise_lan_gso(lan, size)?;
        }
    }
    if cfg.kubernetes {
        return build_kubernetes(state, cfg);
    }
    if cfg.api {
        start_control_plane(&mut state)?;
    }
    start_agents(&mut state, cfg)?;
    add_pods(&mut state, cfg)?;
    publish_workload(&mut state)?;
    Ok(state)
}

/// A Kubernetes lab on the LAN just built: the control plane, the nodes'
/// runtimes and kubelets, podnet from its manifest, the workload.
fn build_kubernetes(mut state: LabState, cfg: &LabConfig) -> Result<LabState, LabError> {
    let start = Instant::now();
    kubernetes::check_tools()?;
    kubernetes::progress(
        start,
        "control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler",
    );
    let netns = format!("{}-cp", state.name);
    let dir = LabState::dir(&state.name).join("cp");
    let cp = ControlPlane::start(&netns, CONTROL_PLANE_IP, &dir, true)?;
    state.control_plane = Some(cp);
    state.save()?;
    kubernetes::start_nodes(&mut state, &cfg.bin_dir, cfg.e2e_images, start)?;
    kubernetes::install_podnet(&mut state, start)?;
    kubernetes::deploy_workload(&mut state, cfg.nodes * cfg.pods_per_node, start)?;
    if cfg.netpol {
        crate::netpol::deploy(&mut state, start)?;
    }
    Ok(state)
}

/// The control plane, the Nodes a kubelet would register, and the ranges
/// node IPAM gives them (which replace the lab's own numbering).
fn start_control_plane(state: &mut LabState) -> Result<(), LabError> {
    let netns = format!("{}-cp", state.name);
    let dir = LabState::dir(&state.name).join("cp");
    let cp = ControlPlane::start(&netns, CONTROL_PLANE_IP, &dir, false)?;
    state.control_plane = Some(cp.clone());
    state.save()?;
    for n in &state.nodes {
        cp.register_node(&n.name, n.ip)?;
    }
    let names: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
    let ranges = cp.wait_pod_cidrs(&names, APPLY_TIMEOUT)?;
    for (name, cidr) in ranges {
        let (Some(n), Ok(range)) = (
            state.nodes.iter_mut().find(|n| n.name == name),
            cidr.parse::<Ipv4Network>(),
        ) else {
            continue;
        };
        n.range = range;
        if let Some(s) = state.spec.nodes.iter_mut().find(|s| s.name == name) {
            s.pod_cidr = Some(range.to_string());
        }
    }
    state.save()
}

/// The lab on paper, by core's rules, as the sandbox draws the same shape:
/// LAN k is [`nth_lan`]`(k)`; node K is `nodeK` on LAN (K-1) mod the
/// number of LANs, at that LAN's next address (from .11), with the K-th
/// range of the cluster range (10.244.K.0/24, as in the seed's pictures);
/// the client is at [`CLIENT_IP`].
fn plan(cfg: &LabConfig) -> Result<LabState, LabError> {
    let mut cluster = Cluster::new(parse_cidr(CLUSTER_CIDR)?, NODE_PREFIX, nth_lan(0)?)?;
    for k in 1..cfg.lans {
        cluster.add_lan(nth_lan(k)?)?;
    }
    cluster.add_client("client", Some(CLIENT_IP))?;
    for k in 1..=cfg.nodes {
        let range = cluster
            .allocator()
            .nth_range(k as u32)
            .ok_or(LabError::BadOption {
                flag: "--nodes",
                rule: "must leave a range of the cluster range for each node",
            })?;
        let options = NodeOptions {
            lan: ((k - 1) % cfg.lans) as u8,
            range: RangeFrom::Given(range),
            ..NodeOptions::default()
        };
        cluster.add_node(&format!("node{k}"), options)?;
    }
    let nodes: Vec<LabNode> = cluster
        .nodes()
        .iter()
        .map(|n| LabNode {
            name: n.name.clone(),
            netns: format!("{}-{}", cfg.name, n.name),
            ip: n.underlay_ip,
            range: n.pod_range,
            agent_pid: None,
            runtime: None,
        })
        .collect();
    let spec = ClusterSpec {
        cluster_cidr: CLUSTER_CIDR.into(),
        node_prefix: NODE_PREFIX,
        underlay: cluster.underlay().to_string(),
        cluster_network: cfg.backend != Backend::None,
        backend: (!matches!(cfg.backend, Backend::HostGw | Backend::None))
            .then(|| cfg.backend.key().into()),
        lans: cluster.lans()[1..].iter().map(|l| l.to_string()).collect(),
        egress_masquerade: true,
        nodes: nodes
            .iter()
            .map(|n| NodeSpec {
                name: n.name.clone(),
                ip: Some(n.ip),
                pod_cidr: Some(n.range.to_string()),
                default_gateway: cluster.lan_of(n.ip).and_then(|l| cluster.lan_gateway(l)),
            })
            .collect(),
        pods: Vec::new(),
        services: Vec::new(),
        clients: vec![ClientSpec {
            name: "client".into(),
            ip: Some(CLIENT_IP),
        }],
        namespaces: Vec::new(),
        policies: Vec::new(),
    };
    Ok(LabState {
        name: cfg.name.clone(),
        spec,
        nodes,
        pods: Vec::new(),
        control_plane: None,
        kubernetes: cfg.kubernetes,
        joins: Vec::new(),
    })
}

/// LAN `k`: a bridge `lan0` in its own namespace (`NAME-lan`, then
/// `NAME-lan2`, …).
fn build_lan(state: &LabState, k: usize) -> Result<Netns, LabError> {
    let lan = match k {
        0 => format!("{}-lan", state.name),
        _ => format!("{}-lan{}", state.name, k + 1),
    };
    netns::add(&lan)?;
    let lan_ns = open_ns(&lan)?;
    Netlink::open(&lan_ns)?.ensure_bridge("lan0", None, [0x02, 0x50, 0x4e, 0, 0, 1])?;
    Ok(lan_ns)
}

/// A machine on the LAN: its namespace, a veth whose LAN end `port` is a
/// port of `lan0`, and `ip`/24 on its eth0.
fn plug_into_lan(
    lan: &Netns,
    netns: &str,
    port: &str,
    mac: MacAddr,
    ip: Ipv4Addr,
    gso: Option<u32>,
) -> Result<(), LabError> {
    netns::add(netns)?;
    plug(lan, &open_ns(netns)?, port, "eth0", mac, ip, gso)
}

/// A veth from LAN `lan`'s bridge (its end `port`) into `ns` (its end
/// `dev`, up, with `ip`/24; lo up too).
fn plug(
    lan: &Netns,
    ns: &Netns,
    port: &str,
    dev: &str,
    mac: MacAddr,
    ip: Ipv4Addr,
    gso: Option<u32>,
) -> Result<(), LabError> {
    let l = Netlink::open(lan)?;
    let br = l.must_link("lan0")?;
    let inside = VethEnd {
        name: dev,
        mac: Some(mac.0),
    };
    l.add_veth(port, inside, ns, None, gso)?;
    l.attach(port, br.index, false)?;
    let n = Netlink::open(ns)?;
    n.set_up("lo")?;
    let link = n.set_up(dev)?;
    n.ensure_addr(link.index, Ipv4Network::new(ip, 24).expect("/24"))?;
    Ok(())
}

/// A node's own default route, via its LAN's gateway as the cluster file
/// says: a machine has one, and a connection to a ClusterIP needs it (the
/// kernel routes the packet before kube-proxy's DNAT rewrites it).
fn default_route(state: &LabState, node: &str) -> Result<(), LabError> {
    let spec = state.spec.nodes.iter().find(|n| n.name == node);
    let (Some(gw), Some(n)) = (
        spec.and_then(|n| n.default_gateway),
        state.nodes.iter().find(|n| n.name == node),
    ) else {
        return Ok(());
    };
    let nl = Netlink::open(&open_ns(&n.netns)?)?;
    nl.add_default_route(nl.must_link("eth0")?.index, gw)?;
    Ok(())
}

/// The router: namespace `NAME-router` with `lanK` on LAN K at .1,
/// forwarding between them; and on every node and the client, a route to
/// each other LAN via its own LAN's router address (the underlay's, proto
/// static).
fn build_router(
    state: &LabState,
    cluster: &Cluster,
    router: &Router,
    lans: &[Netns],
    gso: Option<u32>,
) -> Result<(), LabError> {
    let netns = format!("{}-router", state.name);
    netns::add(&netns)?;
    let ns = open_ns(&netns)?;
    for (k, (lan, &(ip, mac))) in lans.iter().zip(&router.ports).enumerate() {
        plug(lan, &ns, &format!("r{k}"), &format!("lan{k}"), mac, ip, gso)?;
    }
    Netlink::open(&ns)?.set_sysctl("net.ipv4.ip_forward", "1")?;
    // The routes are the model's (core's `lan_routes`), so the kernel
    // holds exactly what `lab check` compares with.
    let eth0 = IfName::new("eth0").expect("a valid name");
    let hosts = state
        .nodes
        .iter()
        .map(|n| (n.netns.clone(), n.ip))
        .chain([(state.client_netns(), CLIENT_IP)]);
    for (netns, ip) in hosts {
        let nl = Netlink::open(&open_ns(&netns)?)?;
        for r in cluster.lan_routes(ip, eth0) {
            if let (RouteProto::Static, Some(gw)) = (r.proto, r.via) {
                nl.add_route(r.dst, gw, RouteProto::Static.number(), None)?;
            }
        }
    }
    Ok(())
}

/// BIG TCP on the LAN bridge: its own limit only rises once it has ports.
fn raise_lan_gso(lan: &Netns, size: u32) -> Result<(), LabError> {
    let l = Netlink::open(lan)?;
    l.follow_gso(l.must_link("lan0")?.index, size)?;
    Ok(())
}

/// One agent per node, then wait until each has reconciled and written its CNI config.
fn start_agents(state: &mut LabState, cfg: &LabConfig) -> Result<(), LabError> {
    for i in 0..state.nodes.len() {
        let pid = start_agent(state, &state.nodes[i], &cfg.bin_dir)?;
        state.nodes[i].agent_pid = Some(pid);
        state.save()?;
    }
    state.wait_applied(APPLY_TIMEOUT)
}

/// The control plane's address on the LAN.
pub const CONTROL_PLANE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

/// Pods, through the real CNI plugin with each node's agent-written config.
fn add_pods(state: &mut LabState, cfg: &LabConfig) -> Result<(), LabError> {
    for (k, node) in state.nodes.clone().iter().enumerate() {
        let conf = cni::plugin_conf(state, &node.name)?;
        for j in 1..=cfg.pods_per_node {
            let name = format!("pod{}-{j}", k + 1);
            let netns = format!("{}-{name}", cfg.name);
            netns::add(&netns)?;
            Netlink::open(&open_ns(&netns)?)?.set_up("lo")?;
            let ip = cni::add(&cfg.bin_dir, node, &netns, &name, &conf)?;
            state.pods.push(LabPod {
                name,
                node: node.name.clone(),
                netns,
                ip,
                labels: Default::default(),
                ports: Vec::new(),
                sandbox: None,
            });
            state.save()?;
        }
    }
    Ok(())
}

/// Tells the agents about the pods and the lab's Services ([`services::netns`]).
fn publish_workload(state: &mut LabState) -> Result<(), LabError> {
    state.spec.pods = state.pod_specs(crate::probe::PORT);
    if state.control_plane.is_some() {
        // The agents read the API, not this file: it is the model's view
        // for `lab check`. NodePorts are kube-proxy's there.
        return state.save();
    }
    state.spec.services = services::netns(&state.pods);
    state.save()?;
    state.wait_applied(APPLY_TIMEOUT)
}
