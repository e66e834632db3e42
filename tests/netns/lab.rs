//! The lab end to end, as root: real namespaces, real agents, the real CNI
//! plugin. Every test uses its own lab name and tears its lab down on drop,
//! even when an assertion fails.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use podnet_lab::{LabState, LAN_GSO_MAX};

use podnet_tests::{bin_dir, gso_sizes, links_of, text, wait_for, Lab, PODNET};

#[test]
fn three_nodes_meet_the_requirements_and_the_model_matches_the_kernel() {
    let lab = Lab::up(&["--nodes", "3", "--pods-per-node", "2"]);
    let out = lab.podnet(&["lab", "check"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("66/66 pairs ok"), "{report}");
    assert!(
        report.contains("model vs kernel: 72/72 pairs agree"),
        "{report}"
    );
    assert!(
        report.contains("every node's kernel table equals its plan"),
        "{report}"
    );
    assert!(
        report.contains("route choice (ip route get): 27/27 lookups agree with the model"),
        "{report}"
    );
    // A pod reaching outside the cluster leaves with its node's address (egress masquerade).
    for (pod, node_ip) in [("pod1-1", "192.168.1.11"), ("pod3-2", "192.168.1.13")] {
        let line = format!("egress from {pod} to client: kernel source seen {node_ip}; model source seen {node_ip} ✓");
        assert!(report.contains(&line), "{line}\n{report}");
    }
    // The NodePort from outside, through every node: DNAT to pod3-2 and masquerade, as modelled.
    for (via, seen) in [
        ("node1", "192.168.1.11"),
        ("node2", "192.168.1.12"),
        ("node3", "10.244.3.1"),
    ] {
        let line = format!("NodePort from client via {via}: kernel answered, source seen {seen}; model to pod3-2, source seen {seen} ✓");
        assert!(report.contains(&line), "{line}\n{report}");
    }
    // The Services, from every node and pod, as the agent applied kube-proxy's
    // rules: one spread over the nodes, one whose only endpoint (pod1-1)
    // asks it itself (hairpin), one without endpoints (refused).
    for line in [
        "Services and hostPorts (every node and pod to each, UDP): 36/36 answers as the model says",
        "✓ default/spread at 10.96.0.101:7946 (3 to choose from): 9 senders, 9 answered",
        "✓ default/solo at 10.96.0.102:7946 (1 to choose from): 9 senders, 9 answered (by 1 endpoint(s))",
        "✓ default/empty at 10.96.0.103:7946 (1 to choose from): 9 senders, 0 answered (by 0 endpoint(s)), 9 refused",
        "node3: kube-proxy's, the kubelet's and portmap's rules (iptables-save, nat and filter,",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    // The seed's "SSH into the worker node": from node1, reach a pod on node3.
    let ping = lab.podnet(&[
        "lab",
        "exec",
        "node1",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "10.244.3.2",
    ]);
    assert!(ping.status.success(), "{}", text(&ping.stdout));
    let status = text(&lab.podnet(&["lab", "status"]).stdout);
    assert!(
        status.contains("10.244.3.0/24 via 192.168.1.13 proto podnet"),
        "{status}"
    );
    let name = lab.name.clone();
    drop(lab);
    let agents = Command::new("pgrep")
        .args(["-f", &format!("podnet-lab/{name}/")])
        .output()
        .unwrap();
    assert!(
        agents.stdout.is_empty(),
        "lab down left agents: {}",
        text(&agents.stdout)
    );
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("{name}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "lab down left {left:?}");
    assert!(!LabState::dir(&name).exists());
}

#[test]
fn pods_follow_the_uplinks_gso_size() {
    let lab = Lab::up(&["--nodes", "1", "--pods-per-node", "1"]);
    let state = lab.state();
    let (node, pod) = (&state.nodes[0].netns, &state.pods[0].netns);
    // BIG TCP on the LAN reaches the pod: agent -> CNI config -> veth pair.
    assert_eq!(gso_sizes(node, &["eth0", "cni0"]), [LAN_GSO_MAX; 2]);
    assert_eq!(gso_sizes(pod, &["eth0"]), [LAN_GSO_MAX]);
    let conf =
        || std::fs::read_to_string(state.cni_dir("node1").join("10-podnet.conflist")).unwrap();
    assert!(
        conf().contains(&format!("\"gsoMaxSize\": {LAN_GSO_MAX}")),
        "{}",
        conf()
    );
    // The uplink drops to 64 KiB: on its next pass the agent takes the
    // bridge and its ports down too, so nothing bigger is forwarded to them.
    let nl = podnet_kernel::Netlink::open(&podnet_kernel::Netns::named(node).unwrap()).unwrap();
    let eth0 = nl.must_link("eth0").unwrap();
    nl.set_gso_ipv4_max(eth0.index, 65_536).unwrap();
    let file = state.cluster_file();
    std::fs::write(&file, std::fs::read(&file).unwrap()).unwrap();
    wait_for("the bridge and its port to follow the uplink", || {
        let links = links_of(node);
        let cni0 = links.iter().find(|l| l.name == "cni0").expect("cni0");
        links
            .iter()
            .filter(|l| l.index == cni0.index || l.controller == Some(cni0.index))
            .all(|l| l.gso_ipv4_max == 65_536)
    });
    // The same pass then rewrites the CNI config.
    wait_for("the CNI config to follow the uplink", || {
        conf().contains("\"gsoMaxSize\": 65536")
    });
    // A lab built with --no-big-tcp keeps every link at 64 KiB.
    let small = Lab::up(&["--nodes", "1", "--pods-per-node", "1", "--no-big-tcp"]);
    let s = small.state();
    assert_eq!(gso_sizes(&s.nodes[0].netns, &["eth0", "cni0"]), [65_536; 2]);
    assert_eq!(gso_sizes(&s.pods[0].netns, &["eth0"]), [65_536]);
}

#[test]
fn without_the_cluster_network_the_model_predicts_every_failure() {
    let lab = Lab::up(&[
        "--nodes",
        "2",
        "--pods-per-node",
        "2",
        "--no-cluster-network",
    ]);
    let out = lab.podnet(&["lab", "check"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "requirements fail: {report}");
    assert!(
        report.contains("model vs kernel: 30/30 pairs agree"),
        "{report}"
    );
    assert!(report.contains("✗ pod1-1 -> pod2-1"), "{report}");
    assert!(
        report.contains("route choice (ip route get): 12/12 lookups agree with the model"),
        "{report}"
    );
    assert!(
        report.contains("NodePort from client via node1: kernel no answer; model dropped ✓"),
        "{report}"
    );
    let again = lab.podnet(&["lab", "up"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already exists"),
        "a clear error on a name clash"
    );
}

#[test]
fn the_agent_keeps_foreign_routes_withdraws_removed_nodes_and_restarts_without_loss() {
    let lab = Lab::up(&["--nodes", "3", "--pods-per-node", "1"]);
    let state = lab.state();
    // A route added by hand, with another protocol, survives the agent.
    let add = lab.podnet(&[
        "lab",
        "exec",
        "node1",
        "--",
        "ip",
        "route",
        "add",
        "10.99.0.0/24",
        "via",
        "192.168.1.12",
        "proto",
        "static",
    ]);
    assert!(add.status.success());
    // Removing node3 from the cluster file withdraws its route from node1.
    let mut spec = state.spec.clone();
    // As a control plane would: the node goes, and so do its pods and their service endpoints.
    spec.nodes.retain(|n| n.name != "node3");
    spec.pods.retain(|p| p.node != "node3");
    spec.services.clear();
    std::fs::write(state.cluster_file(), serde_json::to_vec(&spec).unwrap()).unwrap();
    wait_for("node3's route to go", || {
        !lab.routes("node1").contains("10.244.3.0/24")
    });
    let routes = lab.routes("node1");
    assert!(
        routes.contains("10.99.0.0/24 via 192.168.1.12 dev eth0 proto static"),
        "{routes}"
    );
    assert!(
        routes.contains("10.244.2.0/24 via 192.168.1.12 dev eth0 proto 150"),
        "{routes}"
    );
    // Restart node1's agent while pod1-1 pings pod2-1: at most one ping lost.
    let mut ping = Command::new(&*PODNET)
        .args([
            "lab",
            "--name",
            &lab.name,
            "exec",
            "pod1-1",
            "--",
            "ping",
            "-i",
            "0.2",
            "-c",
            "20",
            "-W",
            "1",
            "10.244.2.2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The restart comes once the pings flow: after the first reply.
    let mut lines = BufReader::new(ping.stdout.take().expect("piped")).lines();
    let mut summary = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        summary.push_str(&line);
        summary.push('\n');
        if line.contains("bytes from 10.244.2.2") {
            break;
        }
    }
    let old = state.nodes[0].agent_pid.expect("agent pid");
    let new = lab
        .state()
        .restart_agent("node1", &bin_dir())
        .expect("agent restarts");
    assert_ne!(old, new);
    assert_eq!(
        lab.state().nodes[0].agent_pid,
        Some(new),
        "the new agent is recorded for lab down"
    );
    for line in lines {
        summary.push_str(&line.unwrap());
        summary.push('\n');
    }
    ping.wait().unwrap();
    let received: u32 = summary
        .split(',')
        .find_map(|p| {
            p.trim()
                .strip_suffix(" received")
                .or_else(|| p.trim().strip_suffix(" packets received"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        received >= 19,
        "lost more than one ping across the restart: {summary}"
    );
}
