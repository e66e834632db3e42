//! NetworkPolicy on the Kubernetes lab, measured cell by cell: the layout
//! of Kubernetes' own NetworkPolicy tests (`lab up --netpol`: x, y, z with
//! Pods a, b, c), core's presets applied with kubectl one after another,
//! and `lab check`'s 288-cell truth table (TCP and UDP on 80 and 81)
//! equal to the model's under each, with the denials where the preset
//! puts them.

use std::time::{Duration, Instant};

use podnet_core::policy::layout::PRESETS;

use podnet_tests::{text, Lab};

use crate::cluster::ONE_CLUSTER_AT_A_TIME;

/// `lab check`'s NetworkPolicy line and its ✗ lines.
fn truth(lab: &Lab) -> (String, Vec<String>) {
    let out = text(&lab.podnet(&["lab", "check"]).stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("NetworkPolicy truth table"))
        .unwrap_or_else(|| panic!("no truth table in:\n{out}"))
        .to_string();
    let diffs = out
        .lines()
        .skip_while(|l| !l.starts_with("NetworkPolicy truth table"))
        .skip(1)
        .take_while(|l| l.starts_with("  ✗"))
        .map(str::to_string)
        .collect();
    (line, diffs)
}

fn kubectl(lab: &Lab, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = std::process::Command::new(&*podnet_tests::PODNET)
        .args(["lab", "--name", &lab.name, "kubectl", "--"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        text(&out.stderr)
    );
}

#[test]
fn the_netpol_layout_s_truth_table_is_the_model_s_under_each_preset() {
    let _one = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&[
        "--kubernetes",
        "--netpol",
        "--nodes",
        "2",
        "--pods-per-node",
        "1",
    ]);
    // No policy: all 288 cells allowed.
    let (line, diffs) = truth(&lab);
    assert!(
        line.contains("288/288 cells as the model says (288 allowed, 0 denied)"),
        "{line}"
    );
    assert!(diffs.is_empty(), "{diffs:?}");
    // Every preset: together every kind of peer (pod, namespace, both in
    // one peer and apart, ipBlock with except), both directions, numbered
    // and named ports.
    for preset in &PRESETS {
        let key = preset.key;
        kubectl(&lab, &["apply", "-f", "-"], Some(preset.manifest));
        // Every agent applies it within moments, but a UDP flow the last
        // check left in conntrack (the same ports again) stays established,
        // and allowed, until conntrack forgets it (30 s unanswered, as
        // nf_conntrack_udp_timeout says). Wait for agreement, then it must
        // hold with denials.
        let start = Instant::now();
        let (line, diffs) = loop {
            let (line, diffs) = truth(&lab);
            if diffs.is_empty() || start.elapsed() > Duration::from_secs(90) {
                break (line, diffs);
            }
        };
        assert!(diffs.is_empty(), "{key}: {line}\n{}", diffs.join("\n"));
        assert!(line.contains("288/288 cells"), "{key}: {line}");
        assert!(
            !line.contains(", 0 denied)"),
            "{key} denies something: {line}"
        );
        eprintln!("{key}: {line} ({:?} to agree)", start.elapsed());
        kubectl(&lab, &["delete", "-f", "-"], Some(preset.manifest));
    }
}
