//! The `podnet` binary, run as a user would.

use std::process::Command;

fn podnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_podnet"))
        .args(args)
        .output()
        .expect("podnet runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn story_tells_the_seed_in_order_with_computed_facts() {
    let (code, out, _) = podnet(&["story"]);
    assert_eq!(code, 0);
    let order = [
        "== One node",
        "isn't going to work",
        "== A CNI plugin",
        "== A pod on node1",
        "NodePort",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| out.find(s).unwrap_or_else(|| panic!("{s} missing")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert!(out.contains(
        "!! Delivered to default/pod-b, not to default/pod-d: both have 10.244.0.3. This isn't going to work."
    ));
    assert!(out.contains("[x] every pod reaches every pod without NAT: 12/12"));
    assert!(out.contains("[ ] every pod reaches every pod without NAT: 4/12"));
    assert!(out.contains("Delivered to default/pod-c; source 10.244.1.2 unchanged: no NAT."));
}

#[test]
fn trace_and_matrix_follow_the_flags() {
    let (code, out, _) = podnet(&["trace", "pod-a", "pod-c"]);
    assert_eq!(code, 0);
    assert!(out.contains("=> delivered to default/pod-c"), "{out}");
    let (_, out, _) = podnet(&["trace", "--no-cluster-network", "pod-a", "pod-c"]);
    assert!(
        out.contains("dropped at node1 kernel: no route to 10.244.2.2"),
        "{out}"
    );
    let (_, out, _) = podnet(&[
        "trace",
        "-s",
        "node-port",
        "laptop",
        "192.168.1.12",
        "--proto",
        "tcp",
        "--port",
        "30080",
    ]);
    assert!(
        out.contains("DNAT (Service web, NodePort): 192.168.1.12:30080 -> 10.244.2.3:8080"),
        "{out}"
    );
    // A NodePort's DNAT is the reason another machine got it, not a shared address.
    let (code, out, _) = podnet(&[
        "trace",
        "-s",
        "node-port",
        "laptop",
        "node1",
        "--proto",
        "tcp",
        "--port",
        "30080",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("It was sent to node1, whose NodePort service web rewrote the destination (DNAT 192.168.1.11:30080 -> 10.244.2.3:8080).")
            && !out.contains("share")
            && !out.contains("!!"),
        "{out}"
    );
    let (code, _, err) = podnet(&["trace", "pod-a", "pod-c", "--proto", "icmp"]);
    assert_eq!(code, 2);
    assert!(err.contains("ping, udp, tcp"), "{err}");
    let (_, out, _) = podnet(&["matrix", "--no-cluster-network"]);
    assert!(
        out.contains("[ ] every node reaches every pod without NAT: 4/8"),
        "{out}"
    );
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let (code, _, err) = podnet(&["show", "-s", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown scenario") && err.contains("demo"),
        "{err}"
    );
    let (code, _, err) = podnet(&["trace", "pod-a", "pod-zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("pod-zz") && err.contains("pod-c"), "{err}");
    let (code, _, _) = podnet(&["frobnicate"]);
    assert_eq!(code, 2, "clap's usage error");
    let (code, _, err) = podnet(&["lab", "serve", "--allow-origin", "http://x/path"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not an origin"), "{err}");
    let (code, _, err) = podnet(&["lab", "--name", "nolabhere", "serve"]);
    assert_eq!(code, 2);
    assert!(err.contains("no lab named \"nolabhere\" is up"), "{err}");
    let (code, _, err) = podnet(&["lab", "--name", "nolabhere", "kubeconfig"]);
    assert_eq!(code, 2);
    assert!(err.contains("no lab named \"nolabhere\" is up"), "{err}");
    // The e2e tests' images go into a Kubernetes lab only.
    for flag in ["--e2e-images", "--netpol"] {
        let (code, _, err) = podnet(&["lab", "up", flag]);
        assert_eq!(code, 2, "{flag}");
        assert!(err.contains("--kubernetes"), "{flag}: {err}");
    }
}

#[test]
fn an_overlay_trace_s_pcap_is_vxlan_to_wireshark() {
    let file = std::env::temp_dir().join(format!("podnet-overlay-{}.pcapng", std::process::id()));
    let f = file.to_str().unwrap();
    let (code, out, err) = podnet(&["trace", "-s", "routed-vxlan", "pod-a", "pod-c", "--pcap", f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("VXLAN encap (VNI 1)") && out.contains("no NAT"),
        "{out}"
    );
    // tshark (install.sh) reads the file as Wireshark would; 8472 is
    // flannel's port, so it is named, as a learner does with Decode As.
    let tshark = Command::new("tshark")
        .args([
            "-r",
            f,
            "-d",
            "udp.port==8472,vxlan",
            "-Y",
            "vxlan",
            "-T",
            "fields",
        ])
        .args([
            "-e",
            "vxlan.vni",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .args(["-e", "frame.interface_name"])
        .output()
        .expect("tshark (scripts/install.sh installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(
        tshark.status.success(),
        "{}",
        String::from_utf8_lossy(&tshark.stderr)
    );
    let lines = String::from_utf8_lossy(&tshark.stdout).into_owned();
    let decoded: Vec<&str> = lines.lines().collect();
    assert_eq!(decoded.len(), 2, "a VXLAN frame on each LAN: {lines}");
    for (l, lan) in decoded.iter().zip(["192.168.1.0/24", "192.168.2.0/24"]) {
        // Outer then inner, as Wireshark lists nested IPv4 headers; the
        // capture point named.
        assert_eq!(
            *l,
            format!("1\t192.168.1.11,10.244.1.2\t192.168.2.12,10.244.2.2\t8472\tLAN {lan}"),
            "{lines}"
        );
    }
}
