//! The agent's Kubernetes mode against a real control plane, as root:
//! etcd (Debian's etcd-server), kube-apiserver and kube-controller-manager
//! 1.20.2 (built from Debian's source by scripts/kube-build.sh) in the lab's
//! namespace `L-cp`, and podnet-agent in every node namespace reading Nodes
//! from the API (`podnet lab up --api`). Nothing is faked: node IPAM hands
//! out the ranges, the Node objects are real API objects, the routes are in
//! real kernels. Every lab is torn down on drop, also when an assertion fails.

use std::time::{Duration, Instant};

use podnet_lab::cni::first_plugin;
use podnet_lab::state::ControlPlane;

use podnet_tests::{text, wait_for, wait_until, Lab};

fn routes_have(lab: &Lab, node: &str, route: &str) -> bool {
    lab.routes(node).contains(route)
}

fn control_plane(lab: &Lab) -> ControlPlane {
    lab.state()
        .control_plane
        .expect("lab up --api records its control plane")
}

/// podnet-cni STATUS with the first plugin of a conflist: (exit code, answer).
fn cni_status(conflist: &str) -> (i32, serde_json::Value) {
    use std::io::Write;
    let plugin = first_plugin(&serde_json::from_str(conflist).unwrap());
    let mut child = std::process::Command::new(podnet_tests::bin_dir().join("podnet-cni"))
        .env("CNI_COMMAND", "STATUS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plugin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

fn agent_log(lab: &Lab, node: &str) -> String {
    std::fs::read_to_string(lab.state().node_dir(node).join("agent.log")).unwrap_or_default()
}

#[test]
fn nodes_from_the_api_meet_the_requirements_and_follow_every_change() {
    let lab = Lab::up(&["--api", "--nodes", "2", "--pods-per-node", "2"]);
    let state = lab.state();
    // Node IPAM, not the lab, numbered the ranges: /24s of 10.244.0.0/16
    // from the start (the lab's own numbering would be 10.244.1.0/24, .2.0/24).
    let mut ranges: Vec<String> = state.nodes.iter().map(|n| n.range.to_string()).collect();
    ranges.sort();
    let mut predicted: Vec<String> = podnet_tests::node_ipam_ranges(&state)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    predicted.sort();
    assert_eq!(ranges, predicted);
    // The first node's is the first range, whatever came after.
    assert_eq!(ranges[0], "10.244.0.0/24", "{ranges:?}");
    for p in &state.pods {
        let node = state.nodes.iter().find(|n| n.name == p.node).unwrap();
        assert!(
            node.range.contains(p.ip),
            "{} {} in {}",
            p.name,
            p.ip,
            node.range
        );
    }

    // The CNI requirements on the real lab, without NAT, equal to the model.
    let out = lab.podnet(&["lab", "check"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.contains("28/28 pairs ok"), "{report}");
    assert!(
        report.contains("model vs kernel: 30/30 pairs agree"),
        "{report}"
    );
    assert!(
        report.contains("every node's kernel table equals its plan"),
        "{report}"
    );
    // A pod reaching outside the cluster leaves with its node's address.
    let egress = format!(
        "egress from pod1-1 to client: kernel source seen {ip}; model source seen {ip} ✓",
        ip = state.nodes[0].ip
    );
    assert!(report.contains(&egress), "{egress}\n{report}");

    let cp = control_plane(&lab);
    // A Node joins: every peer routes to its range within a fraction of a second.
    let start = Instant::now();
    cp.register_node("node3", "192.168.1.13".parse().unwrap())
        .unwrap();
    wait_until(
        "node3's route on node1 and node2",
        Duration::from_secs(10),
        || {
            (routes_have(
                &lab,
                "node1",
                "10.244.2.0/24 via 192.168.1.13 dev eth0 proto 150",
            ) && routes_have(
                &lab,
                "node2",
                "10.244.2.0/24 via 192.168.1.13 dev eth0 proto 150",
            ))
            .then_some(())
        },
    );
    let joined = start.elapsed();
    println!("FIGURE kubectl create node -> route on every peer: {joined:.2?} (includes node IPAM; target: a fraction of a second after the podCIDR)");

    // A Node that cannot be used (a podCIDR outside the cluster range) is
    // left out with a warning; everything else stays.
    let stray = serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": "stray" },
        "spec": { "podCIDR": "10.99.0.0/24", "podCIDRs": ["10.99.0.0/24"] },
        "status": { "addresses": [{ "type": "InternalIP", "address": "192.168.1.14" }] },
    });
    cp.kubectl(&["create", "-f", "-"], Some(&stray.to_string()))
        .unwrap();
    wait_for("the agent to leave the stray Node out", || {
        agent_log(&lab, "node1").contains("podCIDR 10.99.0.0/24 is outside the cluster range")
    });
    let routes = lab.routes("node1");
    assert!(!routes.contains("10.99.0.0"), "{routes}");
    let node2 = state.nodes[1].range;
    assert!(
        routes.contains(&format!("{node2} via 192.168.1.12")),
        "{routes}"
    );

    // A Node leaves: its route is withdrawn everywhere.
    cp.kubectl(&["delete", "node", "node3"], None).unwrap();
    wait_for("node3's route withdrawn", || {
        !routes_have(&lab, "node1", "10.244.2.0/24") && !routes_have(&lab, "node2", "10.244.2.0/24")
    });
}

#[test]
fn an_api_server_restart_keeps_the_routes_and_later_events_still_apply() {
    let lab = Lab::up(&["--api", "--nodes", "2", "--pods-per-node", "0"]);
    let mut cp = control_plane(&lab);
    // Writes the watch's resource version falls behind, so the restarted
    // server (with a fresh watch cache) is likely to answer 410 Gone.
    for i in 0..5 {
        let name = format!("churn{i}");
        cp.register_node(&name, format!("192.168.1.{}", 30 + i).parse().unwrap())
            .unwrap();
        cp.kubectl(&["delete", "node", &name], None).unwrap();
    }
    let node2 = lab.state().nodes[1].range;
    cp.stop_apiserver();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        routes_have(&lab, "node1", &format!("{node2} via 192.168.1.12")),
        "routes stay while the API is down: {}",
        lab.routes("node1")
    );
    cp.start_apiserver().unwrap();
    cp.register_node("node4", "192.168.1.14".parse().unwrap())
        .unwrap();
    let cidr = cp
        .wait_pod_cidrs(&["node4"], Duration::from_secs(30))
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "node4")
        .map(|(_, c)| c)
        .unwrap();
    wait_until(
        "node4's route after the restart",
        Duration::from_secs(30),
        || routes_have(&lab, "node1", &format!("{cidr} via 192.168.1.14")).then_some(()),
    );
    let node2 = lab.state().nodes[1].range;
    assert!(routes_have(
        &lab,
        "node1",
        &format!("{node2} via 192.168.1.12")
    ));
    // The agent saw the outage (and, after the restart, its watch expire),
    // backed off and carried on.
    let log = agent_log(&lab, "node1");
    let seen: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("watching Nodes failed"))
        .collect();
    for l in &seen {
        println!("agent: {l}");
    }
    assert!(!seen.is_empty(), "{log}");
}

#[test]
fn no_cni_config_until_the_node_has_a_range() {
    let lab = Lab::up(&["--api", "--nodes", "1", "--pods-per-node", "0"]);
    let cp = control_plane(&lab);
    let mut state = lab.state();
    let conf = state.cni_dir("node1").join("10-podnet.conflist");
    assert!(conf.is_file());
    let old_conf = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(cni_status(&old_conf).0, 0, "ready once programmed");
    // The agent starts before its Node exists, as on a node joining a cluster.
    cp.kubectl(&["delete", "node", "node1"], None).unwrap();
    std::fs::remove_file(&conf).unwrap();
    state
        .restart_agent("node1", &podnet_tests::bin_dir())
        .unwrap();
    wait_for("the agent to say it waits", || {
        agent_log(&lab, "node1").contains("the API server has no Node \"node1\" yet")
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(!conf.exists(), "no config before the Node has a range");
    let (code, answer) = cni_status(&old_conf);
    assert_eq!((code, answer["code"].as_u64()), (1, Some(50)), "{answer}");
    assert!(
        answer["msg"].as_str().unwrap().contains("not programmed"),
        "{answer}"
    );
    // The Node registers; node IPAM gives it a range; the config appears.
    let start = Instant::now();
    cp.register_node("node1", "192.168.1.11".parse().unwrap())
        .unwrap();
    wait_for("the CNI config", || conf.is_file());
    println!(
        "FIGURE Node registered -> CNI config written: {:.2?}",
        start.elapsed()
    );
    let text = std::fs::read_to_string(&conf).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let subnet = v["plugins"][0]["ipam"]["subnet"].as_str().unwrap();
    assert!(subnet.starts_with("10.244."), "{text}");
    // The agent records its pass just after writing the config.
    wait_for("STATUS ready again", || cni_status(&text).0 == 0);
    // Written once: a later pass with the same Nodes does not rewrite it.
    // The agent records every pass in its status file: wait for the next.
    let written = std::fs::metadata(&conf).unwrap().modified().unwrap();
    let status = lab.state().node_dir("node1").join("applied");
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let pass = mtime(&status);
    wait_until("the agent's next pass", Duration::from_secs(10), || {
        (mtime(&status) != pass).then_some(())
    });
    assert_eq!(
        std::fs::metadata(&conf).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn the_manifest_is_accepted_by_the_api_server_and_grants_only_what_the_agent_reads() {
    let lab = Lab::up(&["--api", "--nodes", "1", "--pods-per-node", "0"]);
    let cp = control_plane(&lab);
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/podnet.yaml"),
    )
    .unwrap();
    // The server validates every object (schema, RBAC, the DaemonSet spec).
    let out = cp
        .kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&manifest))
        .unwrap();
    for object in [
        "serviceaccount/podnet",
        "clusterrole.rbac.authorization.k8s.io/podnet",
        "clusterrolebinding.rbac.authorization.k8s.io/podnet",
        "daemonset.apps/podnet",
    ] {
        assert!(out.contains(object), "{object}: {out}");
    }
    cp.kubectl(&["apply", "-f", "-"], Some(&manifest)).unwrap();
    let can = |verb: &str, what: &str| {
        cp.kubectl(
            &[
                "auth",
                "can-i",
                verb,
                what,
                "--as=system:serviceaccount:kube-system:podnet",
            ],
            None,
        )
        .map(|o| o.trim().to_string())
        .unwrap_or_else(|_| "no".into())
    };
    for verb in ["get", "list", "watch"] {
        assert_eq!(can(verb, "nodes"), "yes", "{verb} nodes");
    }
    assert_eq!(can("delete", "nodes"), "no");
    assert_eq!(can("patch", "nodes"), "no");
    // NetworkPolicy needs the Pods, Namespaces and policies, read-only.
    for what in ["pods", "namespaces", "networkpolicies.networking.k8s.io"] {
        for verb in ["list", "watch"] {
            assert_eq!(can(verb, what), "yes", "{verb} {what}");
        }
        assert_eq!(can("create", what), "no", "create {what}");
        assert_eq!(can("delete", what), "no", "delete {what}");
    }
    assert_eq!(can("get", "pods"), "no");
    assert_eq!(can("create", "pods/exec"), "no");
    assert_eq!(can("list", "secrets"), "no");
}
