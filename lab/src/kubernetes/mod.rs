//! `podnet lab up --kubernetes`: a real cluster on one machine. The
//! control plane (etcd, kube-apiserver, kube-controller-manager with node
//! IPAM, kube-scheduler) runs in `L-cp`; every node namespace runs
//! containerd, a kubelet and kube-proxy ([`node`]); the images are built
//! here ([`images`]); podnet is installed as a user would, with
//! `kubectl apply -f deploy/podnet.yaml`; and the workload is a Deployment
//! spread over the nodes by the scheduler, with a NodePort Service in front.
//!
//! The steps, in the order a cluster comes up: [`start_nodes`] (Nodes
//! register NotReady: "cni plugin not initialized"), [`install_podnet`] (the
//! DaemonSet's agent writes the CNI config, Nodes turn Ready),
//! [`deploy_workload`], then [`refresh`], which reads the cluster back from
//! the API and the runtimes — what every later `lab` command starts from.

pub mod images;
pub mod node;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use podnet_core::lab_api::NodeJoinView;
use podnet_core::topology::spec::ServiceSpec;
use podnet_core::topology::{Protocol, ServiceType};
use serde_json::{json, Value};

use crate::error::LabError;
use crate::process::which;
use crate::state::{ControlPlane, LabPod, LabState, NodeRuntime};
use crate::{probe, NODE_PORT};

/// podnet's manifest, exactly the file a user applies.
pub const MANIFEST: &str = include_str!("../../../deploy/podnet.yaml");
/// The workload's Deployment and Service (namespace `default`, label `app=web`).
pub const WORKLOAD: &str = "web";
/// How long Nodes get to turn Ready, and Pods to run.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The LAN's gateway as the nodes' default route names it. The lab builds
/// no router: the route is there because a connection to a Service address
/// (the agent's to `kubernetes.default`, 10.96.0.1) needs a route before
/// kube-proxy's DNAT rewrites it to the API server on the LAN.
pub const LAN_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

/// One line of progress on stderr: a Kubernetes lab takes tens of seconds.
pub fn progress(start: Instant, what: &str) {
    eprintln!("[{:>5.1}s] {what}", start.elapsed().as_secs_f64());
}

/// Checks what a Kubernetes lab needs beyond the control plane, naming the command that installs each.
pub fn check_tools() -> Result<(), LabError> {
    for (tool, fix) in [
        (
            "containerd",
            "apt-get install containerd (or bash scripts/install.sh)",
        ),
        (
            "ctr",
            "apt-get install containerd (or bash scripts/install.sh)",
        ),
        ("runc", "apt-get install runc (or bash scripts/install.sh)"),
        (
            "iptables",
            "apt-get install iptables (kube-proxy's; or bash scripts/install.sh)",
        ),
        ("unshare", "apt-get install util-linux"),
        ("strip", "apt-get install binutils"),
    ] {
        if which(tool).is_none() {
            return Err(LabError::Missing {
                what: tool.into(),
                fix,
            });
        }
    }
    Ok(())
}

fn control_plane(state: &LabState) -> Result<&ControlPlane, LabError> {
    state
        .control_plane
        .as_ref()
        .ok_or_else(|| LabError::Kubernetes("the lab has no control plane".into()))
}

/// Every node: its runtime directory and mount namespace, containerd with
/// the lab's images imported, the kubelet (which registers the Node) and
/// kube-proxy; then waits for node IPAM to give each Node its range.
pub fn start_nodes(state: &mut LabState, bin_dir: &Path, start: Instant) -> Result<(), LabError> {
    let lab_dir = LabState::dir(&state.name);
    progress(
        start,
        "building images (pause, busybox, podnet) as OCI archives",
    );
    let archives = images::build_all(bin_dir, &lab_dir)?;
    let cp = control_plane(state)?.clone();
    for i in 0..state.nodes.len() {
        let (name, netns, ip) = {
            let n = &state.nodes[i];
            (n.name.clone(), n.netns.clone(), n.ip)
        };
        progress(
            start,
            &format!("{name}: containerd, images, kubelet, kube-proxy"),
        );
        netlink_default_route(&netns)?;
        let dir = state.node_dir(&name).join("k8s");
        let rt = NodeRuntime::prepare(dir, &node::host_dirs_record())?;
        state.nodes[i].runtime = Some(rt);
        state.save()?;
        let rt = state.nodes[i].runtime.as_mut().expect("just set");
        rt.start_containerd(&netns)?;
        for (_, archive) in &archives {
            rt.import(archive)?;
        }
        rt.start_kubelet(&netns, &name, ip, &cp)?;
        rt.start_kube_proxy(&netns, &name, &cp)?;
        state.save()?;
    }
    progress(
        start,
        "waiting for the kubelets to register their Nodes and node IPAM to give each a podCIDR",
    );
    observe_until(state, start, "every Node registered with a podCIDR", |j| {
        j.range_ms.is_some()
    })?;
    for j in state.joins.clone() {
        let cidr = j.pod_cidr.unwrap_or_default();
        progress(
            start,
            &format!(
                "{}: podCIDR {cidr} (NotReady until a CNI config appears)",
                j.name
            ),
        );
    }
    state.save()
}

/// Follows every Node on the API server (and each node's CNI config on
/// disk) until `done` holds for all of them, recording when each moment of
/// its joining was first seen (the state's `joins`) and keeping the lab's
/// ranges equal to the API's.
fn observe_until(
    state: &mut LabState,
    start: Instant,
    what: &str,
    done: impl Fn(&NodeJoinView) -> bool,
) -> Result<(), LabError> {
    let cp = control_plane(state)?.clone();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = start.elapsed().as_millis() as u64;
        let api = nodes(&cp)?;
        for node in state.nodes.iter_mut() {
            let j = match state.joins.iter().position(|j| j.name == node.name) {
                Some(i) => &mut state.joins[i],
                None => {
                    state.joins.push(NodeJoinView {
                        name: node.name.clone(),
                        ..NodeJoinView::default()
                    });
                    state.joins.last_mut().expect("just pushed")
                }
            };
            let conf = node.runtime.as_ref().map(|rt| {
                rt.host_path("/etc/cni/net.d")
                    .join(podnet_agent::CNI_CONF_FILE)
            });
            if j.cni_config_ms.is_none() && conf.is_some_and(|c| c.is_file()) {
                j.cni_config_ms = Some(now);
            }
            let Some(v) = api.iter().find(|v| v.name == node.name) else {
                continue;
            };
            j.registered_ms.get_or_insert(now);
            if let (None, Some(cidr)) = (j.range_ms, &v.pod_cidr) {
                j.range_ms = Some(now);
                j.pod_cidr = Some(cidr.clone());
                if let Ok(range) = cidr.parse::<Ipv4Network>() {
                    node.range = range;
                }
            }
            if v.ready {
                j.ready_ms.get_or_insert(now);
            } else if j.ready_ms.is_none() {
                // The last word before Ready: the first may be the kubelet's
                // "runtime status check may not have completed yet".
                j.not_ready_message = Some(v.reason.clone());
            }
        }
        let all = state.nodes.iter().all(|n| {
            state
                .joins
                .iter()
                .find(|j| j.name == n.name)
                .is_some_and(&done)
        });
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            let why: Vec<String> = api
                .iter()
                .map(|n| format!("{}: {}", n.name, n.reason))
                .collect();
            return Err(LabError::Kubernetes(format!(
                "not yet {what} after {TIMEOUT:?} (Nodes: {}); see {} and the DaemonSet (kubectl -n kube-system get pods -o wide)",
                if why.is_empty() { "none".to_string() } else { why.join("; ") },
                state.node_dir(&state.nodes[0].name).join("k8s/kubelet.log").display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn netlink_default_route(netns: &str) -> Result<(), LabError> {
    let ns = super::open_ns(netns)?;
    let nl = podnet_kernel::Netlink::open(&ns)?;
    nl.add_default_route(nl.must_link("eth0")?.index, LAN_GATEWAY)?;
    Ok(())
}

/// `kubectl apply -f deploy/podnet.yaml`, then waits until every Node is Ready.
pub fn install_podnet(state: &mut LabState, start: Instant) -> Result<(), LabError> {
    let cp = control_plane(state)?.clone();
    progress(start, "kubectl apply -f deploy/podnet.yaml");
    cp.kubectl(&["apply", "-f", "-"], Some(MANIFEST))?;
    progress(
        start,
        "waiting for every Node to turn Ready (podnet's agent writes the CNI config)",
    );
    observe_until(state, start, "every Node Ready", |j| j.ready_ms.is_some())?;
    progress(start, "every Node is Ready");
    state.save()
}

/// The workload: a Deployment of `replicas` busybox Pods spread over the
/// nodes (one topology-spread constraint per hostname), and a NodePort
/// Service (UDP, what `lab check`'s responders answer) in front of it.
pub fn workload(replicas: usize) -> Value {
    let labels = json!({ "app": WORKLOAD });
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": WORKLOAD, "namespace": "default" },
                "spec": {
                    "replicas": replicas,
                    "selector": { "matchLabels": labels },
                    "template": {
                        "metadata": { "labels": labels },
                        "spec": {
                            "terminationGracePeriodSeconds": 2,
                            // The lab runs no cluster DNS: the node's resolver.
                            "dnsPolicy": "Default",
                            "topologySpreadConstraints": [{
                                "maxSkew": 1,
                                "topologyKey": "kubernetes.io/hostname",
                                "whenUnsatisfiable": "DoNotSchedule",
                                "labelSelector": { "matchLabels": labels },
                            }],
                            "containers": [{
                                "name": "web",
                                "image": images::BUSYBOX,
                                "imagePullPolicy": "Never",
                                // PID 1 ignores SIGTERM unless it asks for it.
                                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 2147483647 & wait"],
                            }],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": WORKLOAD, "namespace": "default" },
                "spec": {
                    "type": "NodePort",
                    "selector": labels,
                    "ports": [{ "protocol": "UDP", "port": probe::PORT, "targetPort": probe::PORT, "nodePort": NODE_PORT }],
                },
            },
        ],
    })
}

/// Applies the workload and waits until `replicas` Pods run with addresses
/// and the Service has them all as endpoints.
pub fn deploy_workload(
    state: &mut LabState,
    replicas: usize,
    start: Instant,
) -> Result<(), LabError> {
    let cp = control_plane(state)?.clone();
    progress(start, &format!("kubectl apply: Deployment {WORKLOAD} ({replicas} Pods) and NodePort Service {WORKLOAD} (UDP {NODE_PORT})"));
    cp.kubectl(&["apply", "-f", "-"], Some(&workload(replicas).to_string()))?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let view = refresh(state)?;
        let running = view
            .pods
            .iter()
            .filter(|p| workload_pod(&p.name).is_some())
            .filter(|p| p.phase == "Running" && p.ip.is_some())
            .count();
        let endpoints = state.spec.services.first().map_or(0, |s| s.endpoints.len());
        // `state.pods` holds the Running ones whose sandbox was found.
        if state.pods.len() >= replicas && endpoints >= replicas {
            progress(
                start,
                &format!("{running} Pods Running, every one an endpoint of Service {WORKLOAD}"),
            );
            return state.save();
        }
        if Instant::now() > deadline {
            let pods: Vec<String> = view
                .pods
                .iter()
                .map(|p| format!("{} {}", p.name, p.phase))
                .collect();
            return Err(LabError::Kubernetes(format!(
                "{running}/{replicas} Pods Running after {TIMEOUT:?} ({}); try: podnet lab status",
                pods.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The Pod name of a workload Pod (`default/web-…`, as the API lists
/// Pods: namespace/name), or `None` for any other Pod.
fn workload_pod(api_name: &str) -> Option<&str> {
    api_name.strip_prefix("default/").filter(|n| {
        n.strip_prefix(WORKLOAD)
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// A Node as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// Condition Ready is True.
    pub ready: bool,
    /// The Ready condition's message (why NotReady).
    pub reason: String,
    /// spec.podCIDR.
    pub pod_cidr: Option<String>,
}

/// A Pod as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// namespace/name.
    pub name: String,
    /// spec.nodeName.
    pub node: Option<String>,
    /// status.phase.
    pub phase: String,
    /// status.podIP.
    pub ip: Option<Ipv4Addr>,
}

/// What the API says, for `lab status`.
#[derive(Debug, Clone, Default)]
pub struct ApiView {
    /// Every Node.
    pub nodes: Vec<NodeView>,
    /// Every Pod of every namespace.
    pub pods: Vec<PodView>,
}

fn items(cp: &ControlPlane, args: &[&str]) -> Result<Vec<Value>, LabError> {
    let text = cp.kubectl(args, None)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| LabError::Kubernetes(format!("kubectl {}: not JSON: {e}", args.join(" "))))?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// Every Node, with its Ready condition and podCIDR.
pub fn nodes(cp: &ControlPlane) -> Result<Vec<NodeView>, LabError> {
    Ok(items(cp, &["get", "nodes", "-o", "json"])?
        .iter()
        .map(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
            NodeView {
                name: n["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ready: ready.is_some_and(|c| c["status"] == "True"),
                reason: ready
                    .and_then(|c| c["message"].as_str())
                    .unwrap_or("no Ready condition yet")
                    .to_string(),
                pod_cidr: n["spec"]["podCIDR"].as_str().map(str::to_string),
            }
        })
        .collect())
}

/// Every Pod of every namespace.
pub fn pods(cp: &ControlPlane) -> Result<Vec<PodView>, LabError> {
    Ok(
        items(cp, &["get", "pods", "--all-namespaces", "-o", "json"])?
            .iter()
            .map(|p| PodView {
                name: format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default()
                ),
                node: p["spec"]["nodeName"].as_str().map(str::to_string),
                phase: p["status"]["phase"]
                    .as_str()
                    .unwrap_or("Unknown")
                    .to_string(),
                ip: p["status"]["podIP"].as_str().and_then(|s| s.parse().ok()),
            })
            .collect(),
    )
}

/// The workload Service's endpoints (Pod names), as the endpoints controller published them.
fn endpoints(cp: &ControlPlane) -> Result<Vec<String>, LabError> {
    let text = match cp.kubectl(
        &["get", "endpoints", WORKLOAD, "-n", "default", "-o", "json"],
        None,
    ) {
        Ok(t) => t,
        Err(LabError::Kubectl { stderr, .. }) if stderr.contains("NotFound") => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    let mut names: Vec<String> = v["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["targetRef"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads the cluster back: Nodes' ranges from the API, the workload's Pods
/// (from the API, with each one's network namespace found through its
/// node's containerd), the Service's endpoints. Updates the state's pods
/// and model (not saved) and returns what the API said.
pub fn refresh(state: &mut LabState) -> Result<ApiView, LabError> {
    let cp = control_plane(state)?.clone();
    let view = ApiView {
        nodes: nodes(&cp)?,
        pods: pods(&cp)?,
    };
    for n in &view.nodes {
        let range = n
            .pod_cidr
            .as_deref()
            .and_then(|c| c.parse::<Ipv4Network>().ok());
        if let (Some(node), Some(range)) =
            (state.nodes.iter_mut().find(|s| s.name == n.name), range)
        {
            node.range = range;
        }
    }
    for s in state.spec.nodes.iter_mut() {
        if let Some(n) = state.nodes.iter().find(|n| n.name == s.name) {
            s.pod_cidr = Some(n.range.to_string());
        }
    }
    let mut lab_pods = Vec::new();
    for node in &state.nodes {
        let Some(rt) = &node.runtime else { continue };
        let sandboxes = rt.sandboxes();
        for p in view
            .pods
            .iter()
            .filter(|p| p.node.as_deref() == Some(&node.name))
        {
            let Some(name) = workload_pod(&p.name) else {
                continue;
            };
            let (Some(ip), "Running") = (p.ip, p.phase.as_str()) else {
                continue;
            };
            let Some(pid) = sandboxes
                .iter()
                .find(|(ns, n, _, _)| ns == "default" && n == name)
                .map(|s| s.2)
            else {
                continue;
            };
            lab_pods.push(LabPod {
                name: name.to_string(),
                node: node.name.clone(),
                netns: format!("/proc/{pid}/ns/net"),
                ip,
                labels: Default::default(),
            });
        }
    }
    lab_pods.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    state.pods = lab_pods;
    state.spec.pods = state.pod_specs();
    let eps: Vec<String> = endpoints(&cp)?
        .into_iter()
        .filter(|e| state.pods.iter().any(|p| &p.name == e))
        .collect();
    state.spec.services = if eps.is_empty() {
        Vec::new()
    } else {
        vec![ServiceSpec::one_port(
            WORKLOAD,
            ServiceType::NodePort,
            Protocol::Udp,
            probe::PORT,
            Some(NODE_PORT),
            eps,
        )]
    };
    Ok(view)
}

impl LabState {
    /// The lab as it is now: the state file, and for a Kubernetes lab the
    /// Pods and ranges read back from the API and the runtimes.
    pub fn current(name: &str) -> Result<LabState, LabError> {
        let mut state = LabState::load(name)?;
        if state.kubernetes {
            refresh(&mut state)?;
        }
        Ok(state)
    }
}

impl LabState {
    /// Stops a node's kubelet and starts a new one (its pods keep running).
    pub fn restart_kubelet(&mut self, node: &str) -> Result<(), LabError> {
        let i = self.node_index(node)?;
        let cp = control_plane(self)?.clone();
        let n = self.nodes[i].clone();
        let rt = self.nodes[i]
            .runtime
            .as_mut()
            .ok_or_else(|| LabError::Kubernetes(format!("{node} runs no kubelet")))?;
        rt.stop_kubelet();
        rt.start_kubelet(&n.netns, &n.name, n.ip, &cp)?;
        self.save()
    }

    /// Stops a node's containerd and starts a new one (shims and pods keep running).
    pub fn restart_containerd(&mut self, node: &str) -> Result<(), LabError> {
        let i = self.node_index(node)?;
        let netns = self.nodes[i].netns.clone();
        let rt = self.nodes[i]
            .runtime
            .as_mut()
            .ok_or_else(|| LabError::Kubernetes(format!("{node} runs no containerd")))?;
        rt.stop_containerd();
        rt.start_containerd(&netns)?;
        self.save()
    }
}
