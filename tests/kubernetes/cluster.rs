//! The Kubernetes lab (`podnet lab up --kubernetes`), as root, with nothing
//! faked: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! 1.20.2 in `L-cp`; containerd, a kubelet and kube-proxy in every node
//! namespace; podnet installed from `deploy/podnet.yaml` (its DaemonSet's
//! agent writes the CNI config the kubelets wait for); the Pods a
//! Deployment's, wired by containerd through podnet-cni. Each lab is torn
//! down on drop, also when an assertion fails; the two tests take turns
//! (each lab is a whole cluster on two cores).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use podnet_core::forward::capture::{compare, replay};
use podnet_core::forward::{L4Repr, Network};
use podnet_core::join;
use podnet_core::lab_api::{LiveTrace, NodeJoinView};
use podnet_core::topology::spec::ClusterSpec;
use podnet_lab::kubernetes::{self, MANIFEST};
use podnet_lab::state::ControlPlane;
use podnet_lab::LabState;

use podnet_tests::{text, Lab, PODNET};

/// Each Kubernetes lab is a whole cluster on two cores: one at a time.
pub(crate) static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn cp(lab: &Lab) -> ControlPlane {
    lab.state()
        .control_plane
        .expect("a Kubernetes lab has a control plane")
}

fn current(lab: &Lab) -> LabState {
    LabState::current(&lab.name).expect("the lab as the API sees it")
}

/// Polls `f` every 250 ms until it returns something; fails after `within`.
fn poll<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn check_passes(lab: &Lab, when: &str) {
    let out = lab.podnet(&["lab", "check"]);
    assert!(
        out.status.success(),
        "lab check {when}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// (pod name, IP) of the workload, sorted.
fn pods(lab: &Lab) -> Vec<(String, String)> {
    let mut v: Vec<_> = current(lab)
        .pods
        .iter()
        .map(|p| (p.name.clone(), p.ip.to_string()))
        .collect();
    v.sort();
    v
}

/// podnet-cni's log on a node: (command, containerId, netns) per call.
fn cni_calls(state: &LabState, node: &str) -> Vec<(String, String, String)> {
    let rt = state
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap()
        .runtime
        .clone()
        .unwrap();
    let log = std::fs::read_to_string(rt.host_path("/run/podnet/cni.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("command"), s("containerId"), s("netns"))
        })
        .collect()
}

/// Everything a lab could leave behind on the machine.
#[derive(Debug, PartialEq, Eq)]
struct Leftovers {
    processes: Vec<String>,
    mounts: Vec<String>,
    namespaces: Vec<String>,
    host_links: BTreeSet<String>,
    /// Mount points the lab created on the machine (`/etc/cni/net.d`, …) and left.
    host_dirs: BTreeSet<String>,
    state_dir: bool,
}

/// The node paths that exist on the machine.
fn host_dirs() -> BTreeSet<String> {
    podnet_lab::kubernetes::node::NODE_PATHS
        .iter()
        .filter(|(p, _)| Path::new(p).exists())
        .map(|(p, _)| p.to_string())
        .collect()
}

/// What the machine had before a lab: its links and the node paths.
fn before() -> (BTreeSet<String>, BTreeSet<String>) {
    (host_links(), host_dirs())
}

fn leftovers(
    name: &str,
    (links_before, dirs_before): &(BTreeSet<String>, BTreeSet<String>),
) -> Leftovers {
    let host_links_before = links_before;
    let dir = format!("/run/podnet-lab/{name}/");
    let processes = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains(&dir) && pid != std::process::id()).then_some(cmd)
        })
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir) || l.contains(&dir[..dir.len() - 1]))
        .map(str::to_string)
        .collect();
    let namespaces = podnet_kernel::netns::with_prefix(&format!("{name}-"));
    Leftovers {
        processes,
        mounts,
        namespaces,
        host_links: host_links()
            .difference(host_links_before)
            .cloned()
            .collect(),
        host_dirs: host_dirs().difference(dirs_before).cloned().collect(),
        state_dir: Path::new(&dir).exists(),
    }
}

fn host_links() -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect()
}

fn nothing_left() -> Leftovers {
    Leftovers {
        processes: vec![],
        mounts: vec![],
        namespaces: vec![],
        host_links: BTreeSet::new(),
        host_dirs: BTreeSet::new(),
        state_dir: false,
    }
}

/// `lab serve` on the Kubernetes lab: the page's cluster is the API's
/// Pods at the kernels' addresses, and a ping between Pods on two nodes is
/// captured and replays on the model hop for hop.
fn live_mode_draws_the_cluster_the_api_reports(lab: &Lab, state: &LabState) {
    let (mut server, addr) = podnet_tests::serve(&lab.name);
    let stop = |server: &mut std::process::Child| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = server.wait();
    };
    let (status, body) = podnet_tests::http(&addr, "GET", "/api/lab", &[], "");
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let spec: ClusterSpec = serde_json::from_value(view["spec"].clone()).unwrap();
    let seen: BTreeSet<(String, Option<std::net::Ipv4Addr>)> =
        spec.pods.iter().map(|p| (p.name.clone(), p.ip)).collect();
    let api: BTreeSet<_> = state
        .pods
        .iter()
        .map(|p| (p.name.clone(), Some(p.ip)))
        .collect();
    assert_eq!(seen, api, "the page's Pods are not the API's");
    // How the nodes joined, as lab up saw it on the API server: the four
    // moments in order, the kubelet's NotReady words and node IPAM's
    // ranges in registration order, both as core's join model has them.
    let mut joins: Vec<NodeJoinView> = serde_json::from_value(view["joins"].clone()).unwrap();
    assert_eq!(joins.len(), 2, "{joins:?}");
    joins.sort_by_key(|j| (j.registered_ms, j.name.clone()));
    for j in &joins {
        let t = [j.registered_ms, j.range_ms, j.cni_config_ms, j.ready_ms];
        assert!(t.iter().all(Option::is_some), "{j:?}");
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "out of order: {j:?}");
        assert_eq!(
            j.not_ready_message.as_deref(),
            Some(join::NOT_READY_MESSAGE),
            "{j:?}"
        );
    }
    // The ranges in registration order, each where the model of node IPAM
    // puts it given what its log says it took (and gave back).
    let predicted = podnet_tests::node_ipam_ranges(state);
    let kept: Vec<&str> = predicted.iter().map(|(n, _)| n.as_str()).collect();
    let names: Vec<&str> = joins.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(kept, names, "ranges kept in registration order");
    for (j, (_, range)) in joins.iter().zip(&predicted) {
        assert_eq!(
            j.pod_cidr,
            Some(range.to_string()),
            "node IPAM vs the model: {joins:?}"
        );
    }
    let from = state.pods.iter().find(|p| p.node == "node1").unwrap();
    let to = state.pods.iter().find(|p| p.node == "node2").unwrap();
    let req = serde_json::json!({ "from": from.name, "to": to.name, "proto": "ping" }).to_string();
    let (status, body) = podnet_tests::http(
        &addr,
        "POST",
        "/api/probe",
        &[("Content-Type", "application/json")],
        &req,
    );
    assert_eq!(status, 200, "{body}");
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["answered"], true, "{r}");
    let id = r["icmp_id"].as_u64().unwrap() as u16;
    let cluster = spec.build().unwrap();
    let net = Network::new(&cluster).unwrap();
    let trace = poll("the captured ping", Duration::from_secs(10), || {
        let (_, body) = podnet_tests::http(&addr, "GET", "/api/traces", &[], "");
        let traces: Vec<LiveTrace> = serde_json::from_str(&body).ok()?;
        traces.into_iter().find(|t| {
            matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::IcmpEcho { request: true, id: i, .. }) if i == id)
        })
    });
    let model = replay(&net, &trace.trace).unwrap();
    let agrees = compare(&model, &trace.trace).agrees();
    serve_follows_pods(lab, &addr, to.ip);
    stop(&mut server);
    assert!(
        agrees,
        "kernel: {:#?}\nmodel: {:#?}",
        trace.trace.explain(&cluster),
        model.explain(&cluster)
    );
}

/// A NetworkPolicy applied with kubectl: every agent's watchers see it,
/// each node's table enforces it, and five pings (allowed and denied, on
/// one node and across, from another namespace) go as core's verdict says;
/// it holds while the agent restarts and while the API server is down;
/// deleting it opens again.
fn network_policy_is_enforced_as_the_model_decides(
    lab: &Lab,
    control: &ControlPlane,
    state: &LabState,
) {
    use podnet_core::policy::{NetworkPolicy, Party, PolicyPod, PolicySet};
    let policy = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": { "name": "solo-from-web", "namespace": "default" },
        "spec": {
            "podSelector": { "matchLabels": { "app": "solo" } },
            "ingress": [ { "from": [ { "podSelector": { "matchLabels": { "app": "web" } } } ] } ]
        }
    });
    let model_policy: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "namespace": "default", "name": "solo-from-web", "spec": policy["spec"].clone()
    }))
    .unwrap();
    let pods: Vec<PolicyPod> = state
        .pods
        .iter()
        // hostNetwork Pods (the agent's) have their node's address: no policy selects them.
        .filter(|p| !state.nodes.iter().any(|n| n.ip == p.ip))
        .map(|p| {
            let (namespace, name) = p
                .name
                .split_once('/')
                .unwrap_or(("default", p.name.as_str()));
            PolicyPod {
                namespace: namespace.into(),
                name: name.into(),
                ip: p.ip,
                node: p.node.clone(),
                labels: p.labels.clone(),
                ports: Vec::new(),
            }
        })
        .collect();
    let set = PolicySet::new(&[], pods, vec![model_policy]).unwrap();
    let pod = |prefix: &str, node: Option<&str>| {
        state
            .pods
            .iter()
            .find(|p| p.name.starts_with(prefix) && node.is_none_or(|n| p.node == n))
            .unwrap_or_else(|| panic!("a Pod {prefix}… on {node:?}"))
            .clone()
    };
    let solo = pod("solo", None);
    let other = state
        .nodes
        .iter()
        .find(|n| n.name != solo.node)
        .unwrap()
        .name
        .clone();
    let pairs = [
        (pod("web-", Some(&other)), solo.clone()),
        (pod("web-", Some(&solo.node)), solo.clone()),
        (pod("hostport", None), solo.clone()),
        (pod("kube-system/podnet-dns-", None), solo.clone()),
        (solo.clone(), pod("hostport", None)),
    ];
    let model = |a: &podnet_lab::LabPod, b: &podnet_lab::LabPod| {
        let (i, j) = (set.pod_at(a.ip).unwrap(), set.pod_at(b.ip).unwrap());
        set.verdict_l4(Party::Pod(i), Party::Pod(j), None).allowed()
    };
    // ping's own answer: 0 a reply, 1 none; anything else (the lab could
    // not run it) is a failure, never counted as "denied".
    let ping = |a: &podnet_lab::LabPod, b: &podnet_lab::LabPod| {
        let out = lab.exec(&a.name, &["ping", "-c", "1", "-W", "1", &b.ip.to_string()]);
        match out.status.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!(
                "ping {} from {}: {:?} {}",
                b.ip,
                a.name,
                out.status,
                podnet_tests::text(&out.stderr)
            ),
        }
    };
    let start = Instant::now();
    control
        .kubectl(&["apply", "-f", "-"], Some(&policy.to_string()))
        .unwrap();
    // Enforced once a pair the model denies is denied by the kernel.
    let (denied_from, denied_to) = (&pairs[2].0, &pairs[2].1);
    assert!(!model(denied_from, denied_to));
    poll("the policy enforced", Duration::from_secs(30), || {
        (!ping(denied_from, denied_to)).then_some(())
    });
    eprintln!("NetworkPolicy applied -> enforced: {:?}", start.elapsed());
    let mut allowed = 0;
    for (a, b) in &pairs {
        let (real, want) = (ping(a, b), model(a, b));
        assert_eq!(
            real, want,
            "{} -> {}: kernel {real}, model {want}",
            a.name, b.name
        );
        allowed += usize::from(real);
    }
    assert_eq!(allowed, 3, "web from both nodes, and solo to hostport");

    // Enforcement outlives the agent: its Pod on solo's node deleted, the
    // DaemonSet's next one starting — denied throughout and after.
    control
        .kubectl(
            &[
                "-n",
                "kube-system",
                "delete",
                "pod",
                "-l",
                "app=podnet",
                &format!("--field-selector=spec.nodeName={}", solo.node),
                "--wait=true",
            ],
            None,
        )
        .unwrap();
    assert!(
        !ping(denied_from, denied_to),
        "denied while the agent restarts"
    );
    control
        .kubectl(
            &[
                "-n",
                "kube-system",
                "rollout",
                "status",
                "daemonset/podnet",
                "--timeout=60s",
            ],
            None,
        )
        .unwrap();
    assert!(
        !ping(denied_from, denied_to),
        "denied after the agent restarted"
    );
    assert!(
        ping(&pairs[0].0, &pairs[0].1),
        "still allowed after the agent restarted"
    );
    // ... and the API server: stopped, the last rules stay; back, still.
    let mut api = control.clone();
    api.stop_apiserver();
    assert!(
        !ping(denied_from, denied_to),
        "denied while the API server is down"
    );
    assert!(
        ping(&pairs[0].0, &pairs[0].1),
        "allowed while the API server is down"
    );
    api.start_apiserver().unwrap();
    assert!(
        !ping(denied_from, denied_to),
        "denied after the API server is back"
    );

    control
        .kubectl(&["delete", "networkpolicy", "solo-from-web"], None)
        .unwrap();
    poll("the policy lifted", Duration::from_secs(30), || {
        ping(denied_from, denied_to).then_some(())
    });
}

/// `kubectl run NAME` with the lab's busybox, sleeping: a user's own Pod.
fn run_sleeper(control: &ControlPlane, name: &str) {
    control
        .kubectl(
            &[
                "run",
                name,
                "--image=podnet.local/busybox:1",
                "--image-pull-policy=Never",
                "--restart=Never",
                "--command",
                "--",
                "sleep",
                "3600",
            ],
            None,
        )
        .unwrap();
}

/// `lab serve` follows the cluster: a Pod made with kubectl while it runs
/// appears in `/api/lab`, its ping is captured on its new interfaces, and
/// once deleted it is gone from the page.
fn serve_follows_pods(lab: &Lab, addr: &str, peer: std::net::Ipv4Addr) {
    let control = cp(lab);
    let pods_seen = || {
        let (_, body) = podnet_tests::http(addr, "GET", "/api/lab", &[], "");
        let view: serde_json::Value = serde_json::from_str(&body).ok()?;
        let spec: ClusterSpec = serde_json::from_value(view["spec"].clone()).ok()?;
        Some(
            spec.pods
                .into_iter()
                .map(|p| (p.name, p.ip))
                .collect::<Vec<_>>(),
        )
    };
    run_sleeper(&control, "newcomer");
    let ip = poll("the new Pod in /api/lab", Duration::from_secs(60), || {
        pods_seen()?
            .into_iter()
            .find_map(|(n, ip)| (n == "newcomer").then_some(ip).flatten())
    });
    let ping = lab.exec(
        "newcomer",
        &["ping", "-c", "1", "-W", "2", &peer.to_string()],
    );
    assert!(ping.status.success(), "{}", text(&ping.stderr));
    poll(
        "the new Pod's ping captured",
        Duration::from_secs(10),
        || {
            let (_, body) = podnet_tests::http(addr, "GET", "/api/traces", &[], "");
            let traces: Vec<LiveTrace> = serde_json::from_str(&body).ok()?;
            traces.into_iter().find(|t| {
                t.trace.sent.is_some_and(|f| {
                    f.src == ip
                        && f.dst == peer
                        && matches!(f.l4, L4Repr::IcmpEcho { request: true, .. })
                })
            })
        },
    );
    control
        .kubectl(
            &[
                "delete",
                "pod",
                "newcomer",
                "--wait=true",
                "--grace-period=1",
            ],
            None,
        )
        .unwrap();
    poll(
        "the deleted Pod gone from /api/lab",
        Duration::from_secs(30),
        || pods_seen().filter(|p| !p.iter().any(|(n, _)| n == "newcomer")),
    );
}

/// The table on the real kube-proxy, one case at a time: every
/// node's rules equal to core's rendering, a Pod reaching itself through
/// its own Service (hairpin, masqueraded to its bridge), a Service without
/// endpoints refused, a Service spread over both nodes answered by its
/// endpoints only, and the hostPort from the other node and its Pods.
fn services_work_as_the_model_says(state: &LabState) {
    use podnet_lab::check::Answer;
    use podnet_lab::services::{EMPTY, HOST_PORT, SOLO, SPREAD};
    let report = podnet_lab::check::run(state).unwrap();
    assert_eq!(report.rules.len(), 2);
    for r in &report.rules {
        assert!(r.diffs.is_empty() && r.lines > 40, "{r:?}");
    }
    let probe = |from: &str, target: &str| {
        report
            .services
            .iter()
            .find(|p| p.from == from && p.target == target)
            .unwrap_or_else(|| panic!("no probe {from} -> {target}"))
            .clone()
    };
    let solo = state.pods.iter().find(|p| p.name == SOLO).unwrap();
    let bridge = state
        .nodes
        .iter()
        .find(|n| n.name == solo.node)
        .unwrap()
        .range;
    let hairpin = probe(SOLO, &format!("default/{SOLO}"));
    assert_eq!(
        hairpin.real,
        Answer::By {
            by: solo.ip,
            seen: bridge.nth(1).unwrap()
        },
        "{hairpin:?}"
    );
    assert!(hairpin.agrees(), "{hairpin:?}");
    let web: Vec<_> = state
        .pods
        .iter()
        .filter(|p| p.name.starts_with("web-"))
        .map(|p| p.ip)
        .collect();
    for p in report
        .services
        .iter()
        .filter(|p| p.target == format!("default/{SPREAD}"))
    {
        assert!(
            matches!(p.real, Answer::By { by, .. } if web.contains(&by)),
            "{p:?}"
        );
    }
    for p in report
        .services
        .iter()
        .filter(|p| p.target == format!("default/{EMPTY}"))
    {
        assert_eq!(p.real, Answer::Refused, "{p:?}");
    }
    let host_port: Vec<_> = report
        .services
        .iter()
        .filter(|p| p.target.starts_with(&format!("hostPort {HOST_PORT} ")))
        .collect();
    assert_eq!(
        host_port.len(),
        2 + state.pods.len(),
        "every node and pod asks"
    );
    let hp = state
        .pods
        .iter()
        .find(|p| p.name == podnet_lab::services::HOST_PORT_POD)
        .unwrap();
    let other_node = state.nodes.iter().find(|n| n.name != hp.node).unwrap();
    let from_other = |p: &&&podnet_lab::check::ServiceProbe| {
        p.from == other_node.name
            || state
                .pods
                .iter()
                .any(|q| q.name == p.from && q.node == other_node.name)
    };
    assert!(host_port.iter().filter(from_other).count() >= 2);
    for p in &host_port {
        assert!(
            matches!(p.real, Answer::By { by, .. } if by == hp.ip),
            "{p:?}"
        );
    }
    assert!(
        report.services.iter().all(|p| p.agrees()),
        "{}",
        report.render()
    );
}

/// `kubectl exec` and `kubectl logs` go from the API server to the Pod's
/// kubelet (at the Node's InternalIP): on every node, as on kubeadm.
fn exec_and_logs_reach_every_node(control: &ControlPlane, state: &LabState) {
    for n in &state.nodes {
        let pod = state
            .pods
            .iter()
            // The workload's (busybox), not the cluster DNS in kube-system.
            .find(|p| p.node == n.name && !p.name.contains('/'))
            .unwrap_or_else(|| panic!("a Pod on {}", n.name));
        // The container's hostname is its Pod's name (the kubelet's UTS).
        let out = control
            .kubectl(&["exec", &pod.name, "--", "hostname"], None)
            .unwrap_or_else(|e| panic!("kubectl exec {} on {}: {e}", pod.name, n.name));
        assert_eq!(out.trim(), pod.name);
        let out = control
            .kubectl(
                &["exec", "-i", &pod.name, "--", "cat"],
                Some("through stdin\n"),
            )
            .unwrap_or_else(|e| panic!("kubectl exec -i {}: {e}", pod.name));
        assert_eq!(out, "through stdin\n");
        control
            .kubectl(&["logs", &pod.name], None)
            .unwrap_or_else(|e| panic!("kubectl logs {} on {}: {e}", pod.name, n.name));
    }
}

/// `export KUBECONFIG=$(podnet lab kubeconfig)`: the host's own kubectl,
/// in the host's namespace, reaches the API server through the loopback
/// relay, also for `exec`'s upgraded stream.
fn plain_kubectl_works_from_the_host(lab: &Lab, state: &LabState) {
    let out = lab.podnet(&["lab", "kubeconfig"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = text(&out.stdout);
    let path = path.trim();
    let config = std::fs::read_to_string(path).unwrap();
    assert!(config.contains("server: https://127.0.0.1:"), "{config}");
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let nodes = kubectl(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), state.nodes.len(), "{nodes}");
    let pod = state.pods.iter().find(|p| !p.name.contains('/')).unwrap();
    assert_eq!(
        kubectl(&["exec", &pod.name, "--", "hostname"]).trim(),
        pod.name
    );
    // The other kubeconfig is for programs inside the control plane's namespace.
    let inside = text(&lab.podnet(&["lab", "kubeconfig", "--in-namespace"]).stdout);
    let inside = std::fs::read_to_string(inside.trim()).unwrap();
    assert!(inside.contains("server: https://192.168.1."), "{inside}");
}

/// As on kubeadm: each node has its own hostname (the machine's stays as
/// it was), and the control plane reaches Pods (the API server's
/// `pods/proxy` to an httpd in a Pod on each node) and the Service range.
fn nodes_are_machines_of_their_own(lab: &Lab, control: &ControlPlane, state: &LabState) {
    // `podnet lab kubectl` is kubectl from the host's shell.
    let out = lab.podnet(&["lab", "kubectl", "--", "get", "nodes", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = state
        .nodes
        .iter()
        .map(|n| format!("node/{}", n.name))
        .collect();
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), names);
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for n in &state.nodes {
        let out = lab.exec(&n.name, &["hostname"]);
        assert_eq!(text(&out.stdout).trim(), n.name, "{}", text(&out.stderr));
        let pod = state
            .pods
            .iter()
            // The workload's (busybox), not the cluster DNS in kube-system.
            .find(|p| p.node == n.name && !p.name.contains('/'))
            .expect("a Pod on every node");
        let page = format!("served by {}", pod.name);
        control
            .kubectl(
                &[
                    "exec",
                    &pod.name,
                    "--",
                    "sh",
                    "-c",
                    &format!("mkdir -p /tmp/www && echo '{page}' > /tmp/www/index.html && httpd -p 8080 -h /tmp/www"),
                ],
                None,
            )
            .unwrap();
        let got = poll(
            "the API server's proxy to the Pod",
            Duration::from_secs(20),
            || {
                control
                    .kubectl(
                        &[
                            "get",
                            "--raw",
                            &format!("/api/v1/namespaces/default/pods/{}:8080/proxy/", pod.name),
                        ],
                        None,
                    )
                    .ok()
            },
        );
        assert_eq!(got.trim(), page);
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        machine
    );
    let route = Command::new("ip")
        .args(["-n", &control.netns, "route", "get", "10.96.0.1"])
        .output()
        .unwrap();
    let first = &state.nodes[0];
    assert!(
        text(&route.stdout).contains(&format!("via {}", first.ip)),
        "{}",
        text(&route.stdout)
    );
}

/// A Pod made with `kubectl run` is one of the lab's: `lab exec` enters
/// it and `lab status` lists it.
fn a_users_own_pod_is_a_lab_member(lab: &Lab, control: &ControlPlane) {
    run_sleeper(control, "mine");
    control
        .kubectl(
            &["wait", "--for=condition=Ready", "pod/mine", "--timeout=60s"],
            None,
        )
        .unwrap();
    let ip = control
        .kubectl(
            &["get", "pod", "mine", "-o", "jsonpath={.status.podIP}"],
            None,
        )
        .unwrap();
    let out = lab.exec("mine", &["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        text(&out.stdout).contains(&format!("inet {ip}/")),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let status = text(&lab.podnet(&["lab", "status"]).stdout);
    assert!(status.contains("default/mine"), "{status}");
    control
        .kubectl(
            &["delete", "pod", "mine", "--wait=true", "--grace-period=1"],
            None,
        )
        .unwrap();
}

/// The addresses `busybox nslookup` printed for `name` (none when the
/// server said NXDOMAIN).
fn looked_up(out: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut at = false;
    for line in out.lines() {
        if let Some(n) = line.strip_prefix("Name:") {
            at = n.trim() == name;
        } else if let (true, Some(a)) = (at, line.strip_prefix("Address:")) {
            found.push(a.trim().to_string());
        }
    }
    found
}

/// Cluster DNS (deploy/dns.yaml, podnet-dns behind kube-dns): a Pod's
/// resolv.conf is the one core writes for it, and every Service's name
/// resolves to what core's DNS model answers, also by its short name
/// through the search list; SRV for named ports; nothing outside.
fn cluster_dns_answers_what_core_computes(control: &ControlPlane, state: &LabState) {
    use podnet_core::services::dns::{
        Answer, Data, QType, ResolvConf, Zone, CLUSTER_DOMAIN, DNS_IP,
    };
    let pod = &state
        .pods
        .iter()
        .find(|p| p.name.starts_with("web-"))
        .expect("a web Pod")
        .name;
    let exec = |args: &[&str]| -> String {
        let mut all = vec!["exec", pod.as_str(), "--"];
        all.extend_from_slice(args);
        control
            .kubectl(&all, None)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // busybox nslookup exits 1 when any search candidate is NXDOMAIN: its
    // output is what counts (the names here are the lab's, no quoting).
    let nslookup = |args: &str| exec(&["sh", "-c", &format!("busybox nslookup {args} 2>&1; true")]);
    let resolv = exec(&["cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv,
        ResolvConf::cluster_first("default", CLUSTER_DOMAIN, DNS_IP).to_string()
    );
    let cluster = state.spec.build().unwrap();
    let zone = Zone::of(&cluster);
    assert!(
        cluster.services().iter().any(|s| s.name == "kube-dns"),
        "kube-dns is one of the lab's Services"
    );
    for s in cluster.services() {
        let fqdn = format!("{}.{}.svc.{CLUSTER_DOMAIN}", s.name, s.namespace);
        let Answer::Records(want) = zone.lookup(&fqdn, QType::A) else {
            panic!("core has no A for {fqdn}");
        };
        let want: Vec<String> = want
            .iter()
            .map(|d| match d {
                Data::A(ip) => ip.to_string(),
                other => panic!("{fqdn}: {other}"),
            })
            .collect();
        let out = nslookup(&fqdn);
        assert_eq!(looked_up(&out, &fqdn), want, "{out}");
    }
    // A short name through the search list, as a program in the Pod asks.
    let out = nslookup("web");
    let web = cluster.service_named("web").unwrap().cluster_ip.to_string();
    assert_eq!(
        looked_up(&out, "web.default.svc.cluster.local"),
        vec![web],
        "{out}"
    );
    // SRV for a named port, as core renders it.
    let srv = "_dns._udp.kube-dns.kube-system.svc.cluster.local";
    let Answer::Records(want) = zone.lookup(srv, QType::Srv) else {
        panic!("core has no SRV for {srv}");
    };
    let out = nslookup(&format!("-type=srv {srv}"));
    for d in want {
        let Data::Srv {
            priority,
            weight,
            port,
            target,
        } = d
        else {
            panic!("{d}")
        };
        assert!(
            out.contains(&format!("{priority} {weight} {port} {target}")),
            "{out}"
        );
    }
    // Outside the cluster domain: no such name, at once.
    let out = nslookup("example.com");
    assert!(out.contains("NXDOMAIN"), "{out}");
}

#[test]
fn a_real_cluster_comes_up_on_podnet_and_keeps_its_pods_through_deletes_and_restarts() {
    let _one = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let links_before = before();
    let lab = Lab::up(&["--kubernetes", "--nodes", "2", "--pods-per-node", "2"]);
    let control = cp(&lab);

    // Every Node Ready; the workload's Pods Running on both nodes, each
    // with an address from its node's podCIDR; the whole matrix and the
    // NodePort through kube-proxy as the model says.
    let nodes = kubernetes::nodes(&control).unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|n| n.ready), "{nodes:?}");
    let state = current(&lab);
    // The Deployment's four, the Pod behind `solo`, the one with a
    // hostPort, and the cluster DNS.
    assert_eq!(state.pods.len(), 7, "{:?}", state.pods);
    assert!(
        state
            .pods
            .iter()
            .any(|p| p.name.starts_with("kube-system/podnet-dns-")),
        "{:?}",
        state.pods
    );
    for n in &state.nodes {
        let on: Vec<_> = state.pods.iter().filter(|p| p.node == n.name).collect();
        assert!(!on.is_empty(), "the scheduler put no Pod on {}", n.name);
        assert!(
            on.iter().all(|p| n.range.contains(p.ip)),
            "{} {:?} {:?}",
            n.name,
            n.range,
            on
        );
        let api_cidr = nodes
            .iter()
            .find(|v| v.name == n.name)
            .unwrap()
            .pod_cidr
            .clone();
        assert_eq!(
            api_cidr,
            Some(n.range.to_string()),
            "the range is node IPAM's"
        );
    }
    check_passes(&lab, "after lab up");
    services_work_as_the_model_says(&state);
    exec_and_logs_reach_every_node(&control, &state);
    plain_kubectl_works_from_the_host(&lab, &state);
    nodes_are_machines_of_their_own(&lab, &control, &state);
    cluster_dns_answers_what_core_computes(&control, &state);
    network_policy_is_enforced_as_the_model_decides(&lab, &control, &state);
    a_users_own_pod_is_a_lab_member(&lab, &control);
    live_mode_draws_the_cluster_the_api_reports(&lab, &state);

    // Deleting a Pod: the kubelet stops its sandbox (DEL with its
    // namespace), removes it (DEL again, the namespace gone), the address
    // goes back, and the Deployment's replacement gets one.
    let victim = state
        .pods
        .iter()
        .find(|p| p.name.starts_with("web-"))
        .expect("a Deployment's Pod")
        .clone();
    let node = state
        .nodes
        .iter()
        .find(|n| n.name == victim.node)
        .unwrap()
        .clone();
    let rt = node.runtime.clone().unwrap();
    let sandbox = rt
        .sandboxes()
        .into_iter()
        .find(|s| s.1 == victim.name)
        .expect("the victim's sandbox in containerd")
        .3;
    let ipam_file = rt.host_path("/var/lib/cni/networks/podnet/ipam.json");
    let ipam = std::fs::read_to_string(&ipam_file).unwrap();
    assert!(
        ipam.contains(&sandbox),
        "the sandbox's address is not in the IPAM state: {ipam}"
    );
    control
        .kubectl(&["delete", "pod", &victim.name, "--wait=true"], None)
        .unwrap();
    let dels = poll(
        "both DELs of the deleted Pod's sandbox",
        Duration::from_secs(60),
        || {
            let dels: Vec<_> = cni_calls(&state, &node.name)
                .into_iter()
                .filter(|(c, id, _)| c == "DEL" && *id == sandbox)
                .collect();
            (dels.iter().any(|d| !d.2.is_empty()) && dels.iter().any(|d| d.2.is_empty()))
                .then_some(dels)
        },
    );
    assert!(
        !dels[0].2.is_empty(),
        "the first DEL has the namespace: {dels:?}"
    );
    let ipam = std::fs::read_to_string(&ipam_file).unwrap();
    assert!(
        !ipam.contains(&sandbox),
        "the deleted sandbox still holds an address: {ipam}"
    );
    let after = poll(
        "the replacement Pod Running",
        Duration::from_secs(90),
        || {
            let p = pods(&lab);
            (p.len() == state.pods.len() && !p.iter().any(|(n, _)| *n == victim.name)).then_some(p)
        },
    );
    let fresh = current(&lab);
    for p in &fresh.pods {
        let n = fresh.nodes.iter().find(|n| n.name == p.node).unwrap();
        assert!(n.range.contains(p.ip), "{p:?} outside {}", n.range);
    }

    // Restarting a kubelet, then a containerd: the running Pods are the
    // same Pods at the same addresses, and still reachable.
    let mut s = lab.state();
    s.restart_kubelet("node1").unwrap();
    s.restart_containerd("node2").unwrap();
    // The new containerd lists the same sandboxes (the state's Pods are read
    // through it) and both Nodes are Ready; a Pod replaced or re-addressed
    // never matches `after`.
    poll(
        "both Nodes Ready, with the same Pods at the same addresses, after the restarts",
        Duration::from_secs(60),
        || {
            let ready = kubernetes::nodes(&control).ok()?.iter().all(|n| n.ready);
            (ready && pods(&lab) == after).then_some(())
        },
    );
    check_passes(
        &lab,
        "after restarting node1's kubelet and node2's containerd",
    );

    // Without podnet's DaemonSet the running Pods keep working: the agent
    // leaves the routes in place when it stops. A route lost meanwhile is
    // back once the manifest is applied again.
    control
        .kubectl(
            &[
                "-n",
                "kube-system",
                "delete",
                "daemonset",
                "podnet",
                "--wait=true",
            ],
            None,
        )
        .unwrap();
    poll("the DaemonSet's Pods gone", Duration::from_secs(60), || {
        let p = kubernetes::pods(&control).ok()?;
        let agent = |p: &&kubernetes::api::PodView| {
            p.labels.get("app").map(String::as_str) == Some("podnet")
        };
        (!p.iter().any(|p| agent(&p))).then_some(())
    });
    check_passes(&lab, "with the DaemonSet deleted");
    let peer = fresh.nodes[1].range.to_string();
    let del = lab.podnet(&["lab", "exec", "node1", "--", "ip", "route", "del", &peer]);
    assert!(del.status.success(), "{}", text(&del.stderr));
    assert!(
        !lab.podnet(&["lab", "check"]).status.success(),
        "a lost route must fail the check"
    );
    control
        .kubectl(&["apply", "-f", "-"], Some(MANIFEST))
        .unwrap();
    poll(
        "the route back after kubectl apply",
        Duration::from_secs(90),
        || lab.routes("node1").contains(&peer).then_some(()),
    );
    check_passes(&lab, "after re-applying deploy/podnet.yaml");

    // lab down: no process, mount, namespace, link or state left.
    let name = lab.name.clone();
    let down = lab.podnet(&["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(leftovers(&name, &links_before), nothing_left());
}

#[test]
fn lab_down_after_a_kill_9_of_lab_up_leaves_nothing_behind() {
    let _one = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let links_before = before();
    let name = format!("pk{}", std::process::id() % 100_000);
    let mut up = Command::new(&*PODNET)
        .args(["lab", "--name", &name, "up", "--kubernetes", "--nodes", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Lab { name: name.clone() };
    // Killed once the nodes run podnet's DaemonSet Pods: containers,
    // shims, kubelet mounts and pod namespaces all exist by then.
    let state_file = LabState::dir(&name).join("state.json");
    poll(
        "podnet's agents running in their DaemonSet Pods",
        Duration::from_secs(180),
        || {
            let s: LabState = serde_json::from_slice(&std::fs::read(&state_file).ok()?).ok()?;
            let cp = s.control_plane.clone()?;
            let pods = kubernetes::pods(&cp).ok()?;
            (pods
                .iter()
                .filter(|p| {
                    p.labels.get("app").map(String::as_str) == Some("podnet")
                        && p.phase == "Running"
                })
                .count()
                == 2)
                .then_some(())
        },
    );
    up.kill().unwrap();
    let _ = up.wait();
    let down = Command::new(&*PODNET)
        .args(["lab", "--name", &name, "down"])
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", text(&down.stderr));
    let agents = Command::new("pgrep")
        .args(["-f", "/bin/podnet-agent"])
        .output()
        .unwrap();
    assert!(
        text(&agents.stdout).trim().is_empty(),
        "DaemonSet agents left: {}",
        text(&agents.stdout)
    );
    assert_eq!(leftovers(&name, &links_before), nothing_left());
    drop(guard);
}
