//! `podnet lab up --kubernetes`: a real cluster on one machine. The
//! control plane (etcd, kube-apiserver, kube-controller-manager with node
//! IPAM, kube-scheduler) runs in `L-cp`; every node namespace runs
//! containerd, a kubelet and kube-proxy ([`node`]); the images are built
//! here ([`images`]); podnet is installed as a user would, with
//! `kubectl apply -f deploy/podnet.yaml`; and the workload is a Deployment
//! spread over the nodes by the scheduler with the lab's Services in front
//! ([`crate::services`]). What the API says is read in [`api`].
//!
//! The steps, in the order a cluster comes up: [`start_nodes`] (Nodes
//! register NotReady: "cni plugin not initialized"), [`install_podnet`] (the
//! DaemonSet's agent writes the CNI config, Nodes turn Ready),
//! [`deploy_workload`], then [`refresh`], which reads the cluster back from
//! the API and the runtimes — what every later `lab` command starts from.

pub mod api;
pub mod images;
pub mod node;

use std::path::Path;
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use podnet_core::lab_api::NodeJoinView;
use podnet_core::route::RouteProto;
use podnet_kernel::Netlink;

use crate::control_plane::SERVICE_CIDR;
use crate::error::LabError;
use crate::process::which;
use crate::services::{self, EMPTY, HOST_PORT_POD, SOLO, SPREAD, WEB};
use crate::state::{ControlPlane, LabPod, LabState, NodeRuntime};
use crate::NODE_PORT;

pub use api::{nodes, pods, ApiView, NodeView, PodView};

/// podnet's manifest, exactly the file a user applies.
pub const MANIFEST: &str = include_str!("../../../deploy/podnet.yaml");
/// The cluster DNS, as a user installs it.
pub const DNS_MANIFEST: &str = include_str!("../../../deploy/dns.yaml");
/// How long Nodes get to turn Ready, and Pods to run.
const TIMEOUT: Duration = Duration::from_secs(180);

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

pub(crate) fn control_plane(state: &LabState) -> Result<&ControlPlane, LabError> {
    state
        .control_plane
        .as_ref()
        .ok_or_else(|| LabError::Kubernetes("the lab has no control plane".into()))
}

/// Every node: its runtime directory and mount namespace, containerd with
/// the lab's images imported, the kubelet (which registers the Node) and
/// kube-proxy; then waits for node IPAM to give each Node its range.
pub fn start_nodes(
    state: &mut LabState,
    bin_dir: &Path,
    e2e_images: bool,
    start: Instant,
) -> Result<(), LabError> {
    let lab_dir = LabState::dir(&state.name);
    progress(
        start,
        if e2e_images {
            "building images (pause, busybox, podnet; the e2e tests' agnhost, busybox, pause) as OCI archives"
        } else {
            "building images (pause, busybox, podnet) as OCI archives"
        },
    );
    let archives = images::build_all(bin_dir, &lab_dir, e2e_images)?;
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
        let dir = state.node_dir(&name).join("k8s");
        let rt = NodeRuntime::prepare(dir, &name, &node::host_dirs_record())?;
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
    route_control_plane(state)?;
    state.save()
}

/// Routes from the control plane to every node's pod range and to the
/// Service range, as a kubeadm control-plane node on the pod network has:
/// the API server proxies to Pods and Services (`kubectl port-forward`
/// goes through the kubelet, but `pods/proxy` and `services/proxy` do not).
/// The Service range goes via the first node, whose kube-proxy rewrites it.
fn route_control_plane(state: &LabState) -> Result<(), LabError> {
    let cp = control_plane(state)?;
    let nl = Netlink::open(&crate::open_ns(&cp.netns)?)?;
    let static_proto = RouteProto::Static.number();
    for j in &state.joins {
        let (Some(cidr), Some(node)) = (
            j.pod_cidr.as_deref(),
            state.nodes.iter().find(|n| n.name == j.name),
        ) else {
            continue;
        };
        let range: Ipv4Network = cidr
            .parse()
            .map_err(|e| LabError::Kubernetes(format!("{}'s podCIDR {cidr:?}: {e}", j.name)))?;
        nl.add_route(range, node.ip, static_proto, None)?;
    }
    if let Some(first) = state.nodes.first() {
        let services: Ipv4Network = SERVICE_CIDR.parse().expect("a CIDR");
        nl.add_route(services, first.ip, static_proto, None)?;
    }
    Ok(())
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
            // Whatever node IPAM gave back before each node's range, from
            // its log (a range taken for an out-of-date Node moves it on).
            let log = std::fs::read_to_string(cp.dir.join("controller-manager.log"));
            let mut given_back = 0;
            for t in crate::control_plane::node_ipam_taken(&log.unwrap_or_default()) {
                match t {
                    podnet_core::join::Taken::Released => given_back += 1,
                    podnet_core::join::Taken::Kept(name) => {
                        if let Some(j) = state.joins.iter_mut().find(|j| j.name == name) {
                            j.given_back_before = given_back;
                        }
                        given_back = 0;
                    }
                }
            }
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

/// Applies the lab's workload ([`crate::services::kubernetes`]) and waits
/// until its Pods run and every Service has its endpoints.
pub fn deploy_workload(
    state: &mut LabState,
    replicas: usize,
    start: Instant,
) -> Result<(), LabError> {
    let cp = control_plane(state)?.clone();
    let (first, last) = match (state.nodes.first(), state.nodes.last()) {
        (Some(f), Some(l)) => (f.name.clone(), l.name.clone()),
        _ => return Err(LabError::Kubernetes("a lab without nodes".into())),
    };
    progress(
        start,
        &format!(
            "kubectl apply: Deployment {WEB} ({replicas} Pods), Pods {SOLO} and {HOST_PORT_POD}, Services {WEB} (NodePort {NODE_PORT}), {SPREAD}, {SOLO}, {EMPTY}"
        ),
    );
    let workload = services::kubernetes(replicas, &first, &last);
    cp.kubectl(&["apply", "-f", "-"], Some(&workload.to_string()))?;
    progress(
        start,
        "kubectl apply -f deploy/dns.yaml: cluster DNS behind kube-dns (10.96.0.10)",
    );
    cp.kubectl(&["apply", "-f", "-"], Some(DNS_MANIFEST))?;
    let want = replicas + 2;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let view = refresh(state)?;
        let ours = |p: &&PodView| {
            let (ns, name) = p.namespace_and_name();
            ns == "default" && (name == SOLO || name == HOST_PORT_POD || name.starts_with("web-"))
        };
        let running = view
            .pods
            .iter()
            .filter(ours)
            .filter(|p| p.phase == "Running" && p.ip.is_some())
            .count();
        let endpoints_in = |namespace: &str, name: &str| {
            state
                .spec
                .services
                .iter()
                .find(|s| s.namespace == namespace && s.name == name)
                .map_or(0, |s| s.endpoints.len())
        };
        let endpoints = |name: &str| endpoints_in("default", name);
        // `state.pods` holds the Running ones whose sandbox was found.
        let found = state
            .pods
            .iter()
            .filter(|p| p.name == SOLO || p.name == HOST_PORT_POD || p.name.starts_with("web-"))
            .count();
        // The DNS Pod is an endpoint once it answers (its readiness probe).
        let dns = endpoints_in("kube-system", "kube-dns") >= 1;
        if found >= want && endpoints(WEB) >= replicas && endpoints(SOLO) == 1 && dns {
            progress(
                start,
                &format!("{running} Pods Running, every one an endpoint of its Services; cluster DNS answers"),
            );
            return state.save();
        }
        if Instant::now() > deadline {
            let pods: Vec<String> = view
                .pods
                .iter()
                .filter(ours)
                .map(|p| format!("{} {}", p.name, p.phase))
                .collect();
            let dns = if dns {
                ""
            } else {
                "; cluster DNS not answering yet (podnet lab kubectl -- -n kube-system logs deploy/podnet-dns)"
            };
            return Err(LabError::Kubernetes(format!(
                "{running}/{want} Pods Running after {TIMEOUT:?} ({}){dns}; try: podnet lab status",
                pods.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Reads the cluster back: Nodes' ranges from the API; every Pod with an
/// address of the pod network, Running, whose network namespace its node's
/// containerd shows; every Service with its endpoints. Updates the state's
/// pods and model (not saved) and returns what the API said.
pub fn refresh(state: &mut LabState) -> Result<ApiView, LabError> {
    let cp = control_plane(state)?.clone();
    let view = ApiView {
        nodes: api::nodes(&cp)?,
        pods: api::pods(&cp)?,
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
            .filter(|p| p.node.as_deref() == Some(&node.name) && !p.host_network)
        {
            let (Some(ip), "Running") = (p.ip, p.phase.as_str()) else {
                continue;
            };
            let (ns, name) = p.namespace_and_name();
            let Some((pid, sandbox)) = sandboxes
                .iter()
                .find(|(sns, n, _, _)| sns == ns && n == name)
                .map(|s| (s.2, s.3.clone()))
            else {
                continue;
            };
            lab_pods.push(LabPod {
                name: p.lab_name(),
                node: node.name.clone(),
                netns: format!("/proc/{pid}/ns/net"),
                ip,
                labels: p.labels.clone(),
                ports: p.ports.clone(),
                sandbox: Some(sandbox),
            });
        }
    }
    lab_pods.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
    state.pods = lab_pods;
    state.spec.pods = state.pod_specs(crate::probe::PORT);
    let pods = &state.pods;
    let lab_pod = |full: &str| {
        let short = full.strip_prefix("default/").unwrap_or(full);
        pods.iter()
            .find(|p| p.name == short)
            .map(|p| p.name.clone())
    };
    let (services, _skipped) = api::services(&cp, &lab_pod)?;
    state.spec.services = services;
    // The model applies the cluster's NetworkPolicies like the agents do.
    let (namespaces, policies) = api::policies(&cp)?;
    state.spec.namespaces = namespaces;
    state.spec.policies = policies;
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
