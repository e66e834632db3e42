//! NetworkPolicy enforced by podnet-agent in the cluster-file mode, as
//! root: policies written into a lab's cluster file reach every node's
//! `inet podnet_policy` table, and every pod pair's real ping equals the
//! model's verdict; a pod not known yet is held back; a bad policy leaves
//! the last rules in place; removing the policies opens everything again.

use std::time::{Duration, Instant};

use podnet_core::forward::{Network, ProbeKind, Verdict};
use podnet_core::topology::spec::ClusterSpec;
use podnet_core::topology::Endpoint;
use serde_json::{json, Value};

use podnet_tests::{text, Lab};

/// Rewrites the lab's cluster file whole (write, then rename: the agent
/// never reads half of it).
fn write_cluster(lab: &Lab, file: &Value) {
    let path = lab.state().cluster_file();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(file).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// Every ordered pod pair: (from, to, whether a real ping is answered).
fn pings(lab: &Lab, spec: &ClusterSpec) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for a in &spec.pods {
        for b in &spec.pods {
            if a.name == b.name {
                continue;
            }
            let ip = b.ip.unwrap().to_string();
            let ping = lab.exec(&a.name, &["ping", "-c", "1", "-W", "1", &ip]);
            out.push((a.name.clone(), b.name.clone(), ping.status.success()));
        }
    }
    out
}

/// The same pairs as the model decides them (a ping delivered, or not).
fn model(spec: &ClusterSpec) -> Vec<(String, String, bool)> {
    let cluster = spec.build().unwrap();
    let net = Network::new(&cluster).unwrap();
    let mut out = Vec::new();
    for a in cluster.pods() {
        for b in cluster.pods() {
            if a.id == b.id {
                continue;
            }
            let t = net
                .probe(Endpoint::Pod(a.id), b.ip, ProbeKind::Ping)
                .unwrap();
            out.push((
                a.name.clone(),
                b.name.clone(),
                matches!(t.verdict, Verdict::Delivered { .. }),
            ));
        }
    }
    out
}

fn table(lab: &Lab, node: &str) -> String {
    text(
        &lab.exec(node, &["nft", "list", "table", "inet", "podnet_policy"])
            .stdout,
    )
}

#[test]
fn the_agent_enforces_cluster_file_policies_as_the_model_decides() {
    let lab = Lab::up(&["--nodes", "2", "--pods-per-node", "2"]);
    let state = lab.state();
    let path = state.cluster_file();
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    // pod1-1 is a client; the others are servers, which only clients reach.
    let mut file = original.clone();
    for p in file["pods"].as_array_mut().unwrap() {
        let role = if p["name"] == "pod1-1" {
            "client"
        } else {
            "server"
        };
        p["labels"] = json!({ "role": role });
    }
    file["namespaces"] = json!([{ "name": "default", "labels": { "team": "lab" } }]);
    file["policies"] = json!([{
        "namespace": "default",
        "name": "servers-from-clients",
        "spec": {
            "podSelector": { "matchLabels": { "role": "server" } },
            "ingress": [ { "from": [ { "podSelector": { "matchLabels": { "role": "client" } } } ] } ]
        }
    }]);
    let start = Instant::now();
    write_cluster(&lab, &file);
    state.wait_applied(Duration::from_secs(30)).unwrap();
    let enforced = start.elapsed();
    for node in ["node1", "node2"] {
        let t = table(&lab, node);
        assert!(t.contains("default/servers-from-clients"), "{node}: {t}");
    }
    let spec: ClusterSpec = serde_json::from_value(file.clone()).unwrap();
    let (real, predicted) = (pings(&lab, &spec), model(&spec));
    assert_eq!(real, predicted, "kernel vs model");
    let allowed = real.iter().filter(|p| p.2).count();
    // Servers reach nobody but... nobody: every pod but pod1-1 is a server,
    // so only pod1-1's three pings and every ping to pod1-1 pass.
    assert_eq!(allowed, 6, "{real:?}");
    assert!(real.contains(&("pod1-1".into(), "pod2-1".into(), true)));
    assert!(
        real.contains(&("pod1-2".into(), "pod2-1".into(), false)),
        "across nodes"
    );
    assert!(real.contains(&("pod1-2".into(), "pod2-2".into(), false)));
    assert!(
        real.contains(&("pod2-2".into(), "pod2-1".into(), false)),
        "on one bridge"
    );
    eprintln!("policy written -> enforced on both nodes: {enforced:?}");

    // A pod the agents do not know yet (here: the file gives pod2-2 another
    // address, so its real one is nobody's) is held back both ways while
    // policies exist, though none selects it: it cannot slip through
    // before its rules are there.
    let mut unknown = file.clone();
    let pods = unknown["pods"].as_array_mut().unwrap();
    let p22 = pods.iter_mut().find(|p| p["name"] == "pod2-2").unwrap();
    let stranger = p22["ip"].as_str().unwrap().to_string();
    let elsewhere = format!("{}.200", stranger.rsplit_once('.').unwrap().0);
    p22["ip"] = json!(elsewhere);
    write_cluster(&lab, &unknown);
    state.wait_applied(Duration::from_secs(30)).unwrap();
    let client_ip = spec.pods[0].ip.unwrap().to_string();
    assert!(!lab
        .exec("pod1-1", &["ping", "-c", "1", "-W", "1", &stranger])
        .status
        .success());
    assert!(!lab
        .exec("pod2-2", &["ping", "-c", "1", "-W", "1", &client_ip])
        .status
        .success());
    write_cluster(&lab, &file);
    state.wait_applied(Duration::from_secs(30)).unwrap();
    assert!(lab
        .exec("pod2-2", &["ping", "-c", "1", "-W", "1", &client_ip])
        .status
        .success());

    // A bad policy in the file: the agents refuse the file and keep the
    // last rules (never an accidental allow).
    let mut bad = file.clone();
    bad["policies"][0]["spec"]["ingress"][0]["from"] = json!([{}]);
    write_cluster(&lab, &bad);
    let log = state.node_dir("node2").join("agent.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("spec.ingress[0].from[0]")
    {
        assert!(
            Instant::now() < deadline,
            "the agent did not report the bad policy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(table(&lab, "node2").contains("default/servers-from-clients"));
    let ping = lab.exec(
        "pod1-2",
        &[
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            &spec.pods[2].ip.unwrap().to_string(),
        ],
    );
    assert!(!ping.status.success(), "still denied");

    // No policies: the table goes, everything passes.
    write_cluster(&lab, &original);
    state.wait_applied(Duration::from_secs(30)).unwrap();
    let out = lab.exec("node1", &["nft", "list", "table", "inet", "podnet_policy"]);
    assert!(!out.status.success(), "the table is gone");
    let spec: ClusterSpec = serde_json::from_value(original).unwrap();
    assert!(pings(&lab, &spec).iter().all(|p| p.2));
}
