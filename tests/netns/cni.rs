//! podnet-cni against the real kernel: every test builds its own node and pod
//! network namespaces (`ip netns add`), runs the plugin binary inside the
//! node namespace as a runtime would, and removes everything on drop, even
//! when an assertion fails. Needs root. Only addresses inside these
//! namespaces are used.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static BIN: std::sync::LazyLock<std::path::PathBuf> =
    std::sync::LazyLock::new(|| podnet_tests::bin("podnet-cni"));
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A node namespace, pod namespaces and a data dir, all removed on drop.
struct Lab {
    node: String,
    pods: Vec<String>,
    data: PathBuf,
    subnet: String,
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lab {
    fn new(pods: usize) -> Lab {
        assert!(
            podnet_tests::is_root(),
            "these tests create network namespaces: run them as root"
        );
        let id = format!(
            "pnt{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            node: format!("{id}-node"),
            pods: (0..pods).map(|i| format!("{id}-p{i}")).collect(),
            data: std::env::temp_dir().join(format!("{id}-data")),
            // Each lab its own range, though namespaces keep them apart anyway.
            subnet: format!(
                "10.{}.{}.0/24",
                100 + (std::process::id() % 50),
                NEXT.load(Ordering::SeqCst) % 250
            ),
        };
        sh(&["ip", "netns", "add", &lab.node]);
        for p in &lab.pods {
            sh(&["ip", "netns", "add", p]);
        }
        lab
    }

    fn conf(&self, extra: &str) -> String {
        format!(
            r#"{{"cniVersion":"1.1.0","name":"podnet","type":"podnet-cni","bridge":"cni0","isGateway":true,"ipam":{{"type":"host-local","subnet":"{}","dataDir":"{}"}}{extra}}}"#,
            self.subnet,
            self.data.display()
        )
    }

    fn netns(&self, pod: usize) -> String {
        format!("/run/netns/{}", self.pods[pod])
    }

    /// Runs the plugin in the node namespace; returns (exit code, stdout as JSON or Null).
    fn cni(&self, vars: &[(&str, &str)], stdin: &str) -> (i32, Value) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node])
            .arg(&*BIN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env("CNI_PATH", "/opt/cni/bin");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn plugin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn add(&self, pod: usize, cid: &str) -> (i32, Value) {
        self.cni(
            &[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", cid),
                ("CNI_NETNS", &self.netns(pod)),
                ("CNI_IFNAME", "eth0"),
            ],
            &self.conf(""),
        )
    }

    fn del(&self, pod: usize, cid: &str) -> (i32, Value) {
        self.cni(
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", cid),
                ("CNI_NETNS", &self.netns(pod)),
                ("CNI_IFNAME", "eth0"),
            ],
            &self.conf(""),
        )
    }

    fn links(&self, ns: &str) -> Vec<String> {
        sh(&["ip", "-n", ns, "-o", "link", "show"])
            .lines()
            .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            .collect()
    }

    fn allocations(&self) -> Vec<Value> {
        std::fs::read(self.data.join("podnet/ipam.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["allocations"].as_array().cloned())
            .unwrap_or_default()
    }

    fn ping(&self, pod: usize, ip: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.pods[pod],
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                ip,
            ])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.pods.iter().chain(std::iter::once(&self.node)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn ip_of(result: &Value) -> String {
    result["ips"][0]["address"]
        .as_str()
        .expect("an address")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn add_check_del_round_trip_and_pods_ping_through_the_bridge() {
    let lab = Lab::new(2);
    let (code, a) = lab.add(0, "pod-a");
    assert_eq!(code, 0, "{a}");
    let (code, b) = lab.add(1, "pod-b");
    assert_eq!(code, 0, "{b}");
    let gw = a["ips"][0]["gateway"].as_str().unwrap().to_string();
    assert_eq!(a["interfaces"][2]["sandbox"], lab.netns(0).as_str());
    assert!(lab.ping(0, &gw), "pod-a pings its gateway {gw}");
    assert!(
        lab.ping(0, &ip_of(&b)),
        "pod-a pings pod-b on the same bridge"
    );
    assert!(lab.ping(1, &ip_of(&a)), "and back");
    let check = |cid: &str, pod: usize, prev: &Value| {
        let conf = lab.conf(&format!(r#","prevResult":{prev}"#));
        lab.cni(
            &[
                ("CNI_COMMAND", "CHECK"),
                ("CNI_CONTAINERID", cid),
                ("CNI_NETNS", &lab.netns(pod)),
                ("CNI_IFNAME", "eth0"),
            ],
            &conf,
        )
    };
    assert_eq!(check("pod-a", 0, &a).0, 0);
    let (code, err) = check("pod-a", 0, &b);
    assert_eq!(
        (code, err["code"].as_u64()),
        (1, Some(102)),
        "CHECK notices the wrong address: {err}"
    );
    let (code, out) = lab.cni(&[("CNI_COMMAND", "STATUS")], &lab.conf(""));
    assert_eq!((code, out), (0, Value::Null));
    let (code, v) = lab.cni(&[("CNI_COMMAND", "VERSION")], &lab.conf(""));
    assert_eq!(
        (code, v["supportedVersions"].as_array().map(Vec::len)),
        (0, Some(5))
    );
    for _ in 0..2 {
        assert_eq!(lab.del(0, "pod-a").0, 0, "DEL is idempotent");
    }
    assert_eq!(
        lab.links(&lab.pods[0]),
        ["lo"],
        "the pod's eth0 went with its veth"
    );
    assert_eq!(lab.allocations().len(), 1);
    assert!(!lab.ping(1, &ip_of(&a)), "pod-a is gone");
}

#[test]
fn mtu_hairpin_and_a_conflist_entry_with_prev_result() {
    let lab = Lab::new(1);
    let conf = lab.conf(r#","mtu":1400,"hairpinMode":true,"prevResult":{"cniVersion":"1.1.0","interfaces":[],"ips":[]}"#);
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "opts"),
        ("CNI_IFNAME", "net1"),
    ];
    let netns = lab.netns(0);
    let (code, r) = lab.cni(&[vars[0], vars[1], vars[2], ("CNI_NETNS", &netns)], &conf);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        r["interfaces"][2]["name"], "net1",
        "CNI_IFNAME names the pod's interface"
    );
    let pod = sh(&["ip", "-n", &lab.pods[0], "-d", "link", "show", "net1"]);
    assert!(pod.contains("mtu 1400"), "{pod}");
    let host_veth = r["interfaces"][1]["name"].as_str().unwrap().to_string();
    let host = sh(&["ip", "-n", &lab.node, "-d", "link", "show", &host_veth]);
    assert!(
        host.contains("mtu 1400") && host.contains("hairpin on") && host.contains("master cni0"),
        "{host}"
    );
}

#[test]
fn gso_max_size_reaches_the_bridge_and_both_ends_of_each_veth() {
    let lab = Lab::new(2);
    let big = lab.conf(r#","gsoMaxSize":262144"#);
    let add = |pod: usize, cid: &str, conf: &str| {
        let netns = lab.netns(pod);
        let vars = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", cid),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", netns.as_str()),
        ];
        let (code, r) = lab.cni(&vars, conf);
        assert_eq!(code, 0, "{r}");
        r["interfaces"][1]["name"].as_str().unwrap().to_string()
    };
    // Without the option everything keeps the 64 KiB every device starts with.
    let plain = add(0, "plain", &lab.conf(""));
    assert_eq!(gso_sizes(&lab.node, &["cni0", &plain]), [65_536, 65_536]);
    assert_eq!(gso_sizes(&lab.pods[0], &["eth0"]), [65_536]);
    let host = add(1, "big", &big);
    assert_eq!(
        gso_sizes(&lab.node, &["cni0", &host]),
        [262_144, 262_144],
        "the bridge and the host end take the configured size"
    );
    assert_eq!(
        gso_sizes(&lab.pods[1], &["eth0"]),
        [262_144],
        "and so does the pod's end"
    );
}

#[test]
fn thirty_two_concurrent_adds_get_thirty_two_addresses() {
    let lab = Lab::new(32);
    let results: Vec<(i32, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let lab = &lab;
                s.spawn(move || lab.add(i, &format!("c{i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = results
        .iter()
        .map(|(code, r)| {
            assert_eq!(*code, 0, "{r}");
            ip_of(r)
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 32);
    assert_eq!(lab.allocations().len(), 32);
    assert_eq!(
        lab.links(&lab.node)
            .iter()
            .filter(|l| l.starts_with("veth"))
            .count(),
        32
    );
}

#[test]
fn a_second_add_for_one_container_fails_and_leaves_the_first_intact() {
    let lab = Lab::new(1);
    let (code, first) = lab.add(0, "twice");
    assert_eq!(code, 0);
    let (code, err) = lab.add(0, "twice");
    assert_eq!((code, err["code"].as_u64()), (1, Some(100)), "{err}");
    assert!(err["msg"].as_str().unwrap().contains(&ip_of(&first)));
    assert!(
        lab.ping(0, first["ips"][0]["gateway"].as_str().unwrap()),
        "the first attachment still works"
    );
    assert_eq!(lab.allocations().len(), 1);
}

#[test]
fn old_config_versions_and_what_containerd_sends_work_end_to_end() {
    let lab = Lab::new(1);
    let args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=sandbox1;K8S_POD_UID=9b1e";
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let mut conf: Value = serde_json::from_str(&lab.conf("")).unwrap();
        conf["cniVersion"] = Value::from(version);
        let conf = conf.to_string();
        let vars = |command, netns: &str| {
            vec![
                ("CNI_COMMAND", command),
                ("CNI_CONTAINERID", "sandbox1"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_ARGS", args),
            ]
            .into_iter()
            .chain(std::iter::once(("CNI_NETNS", netns)))
            .map(|(k, v)| (k, v.to_string()))
            .collect::<Vec<_>>()
        };
        let run = |command, netns: &str, stdin: &str| {
            let v = vars(command, netns);
            let v: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            lab.cni(&v, stdin)
        };
        let (code, result) = run("ADD", &lab.netns(0), &conf);
        assert_eq!(code, 0, "{version}: {result}");
        assert_eq!(result["cniVersion"], version);
        let tagged = result["ips"][0].get("version").cloned();
        if version.starts_with("0.") {
            assert_eq!(tagged, Some(Value::from("4")), "{version}: {result}");
        } else {
            assert_eq!(tagged, None, "{version}: {result}");
        }
        assert!(lab.ping(0, result["ips"][0]["gateway"].as_str().unwrap()));
        if version != "0.3.0" && version != "0.3.1" {
            let mut with_prev: Value = serde_json::from_str(&conf).unwrap();
            with_prev["prevResult"] = result.clone();
            let (code, out) = run("CHECK", &lab.netns(0), &with_prev.to_string());
            assert_eq!(code, 0, "{version} CHECK: {out}");
        }
        // The runtime's DEL, then its second DEL once the sandbox is gone (empty CNI_NETNS).
        assert_eq!(run("DEL", &lab.netns(0), &conf).0, 0, "{version} DEL");
        let (code, out) = run("DEL", "", &conf);
        assert_eq!(code, 0, "{version} second DEL: {out}");
        assert!(lab.allocations().is_empty(), "{version}: address freed");
        assert!(!lab.links(&lab.node).iter().any(|l| l.starts_with("veth")));
    }
}

#[test]
fn del_with_a_missing_netns_still_releases_everything() {
    let lab = Lab::new(1);
    assert_eq!(lab.add(0, "gone").0, 0);
    sh(&["ip", "netns", "del", &lab.pods[0]]);
    let (code, out) = lab.del(0, "gone");
    assert_eq!(code, 0, "{out}");
    assert!(lab.allocations().is_empty());
    assert!(!lab.links(&lab.node).iter().any(|l| l.starts_with("veth")));
    sh(&["ip", "netns", "add", &lab.pods[0]]); // for Drop's sake
}

#[test]
fn kill_9_during_add_then_gc_frees_the_address() {
    let lab = Lab::new(2);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.node])
        .arg(&*BIN)
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "doomed"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/x"),
        ])
        .env("CNI_NETNS", lab.netns(0))
        .env("PODNET_CNI_HOLD_AFTER_ALLOC_MS", "30000")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lab.conf("").as_bytes())
        .unwrap();
    let start = Instant::now();
    while !lab
        .allocations()
        .iter()
        .any(|a| a["container_id"] == "doomed")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the ADD never saved its allocation"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, mid-ADD
    child.wait().unwrap();
    let leaked = lab.allocations()[0]["ip"].as_str().unwrap().to_string();
    let (code, other) = lab.add(1, "survivor");
    assert_eq!(code, 0, "the lock died with the process: {other}");
    assert_ne!(ip_of(&other), leaked, "the leaked address is still held");
    let gc =
        lab.conf(r#","cni.dev/valid-attachments":[{"containerID":"survivor","ifname":"eth0"}]"#);
    let (code, out) = lab.cni(&[("CNI_COMMAND", "GC")], &gc);
    assert_eq!(code, 0, "{out}");
    let left: Vec<String> = lab
        .allocations()
        .iter()
        .map(|a| a["container_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["survivor"], "GC released the crashed ADD's address");
    assert!(
        lab.ping(1, other["ips"][0]["gateway"].as_str().unwrap()),
        "GC left the valid attachment alone"
    );
}

/// One row of the bad-input table.
struct Case {
    name: &'static str,
    vars: Vec<(&'static str, String)>,
    stdin: String,
    code: u64,
}

#[test]
fn bad_input_gets_its_error_code_and_changes_nothing() {
    let lab = Lab::new(1);
    let good = lab.conf("");
    let add = |ifname: &str, netns: &str| -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", "ADD".into()),
            ("CNI_CONTAINERID", "bad".into()),
            ("CNI_IFNAME", ifname.into()),
            ("CNI_NETNS", netns.into()),
        ]
    };
    let ns = lab.netns(0);
    let case = |name, vars, stdin: String, code| Case {
        name,
        vars,
        stdin,
        code,
    };
    let cases = [
        case(
            "malformed JSON",
            add("eth0", &ns),
            "{\"cniVersion\":".into(),
            6,
        ),
        case(
            "unknown cniVersion",
            add("eth0", &ns),
            good.replace("1.1.0", "0.1.0"),
            1,
        ),
        case(
            "bad CIDR",
            add("eth0", &ns),
            good.replace(&lab.subnet, "10.1.2"),
            7,
        ),
        case(
            "prefix /33",
            add("eth0", &ns),
            good.replace("/24", "/33"),
            7,
        ),
        case(
            "range start outside subnet",
            add("eth0", &ns),
            good.replace("\"subnet\"", "\"rangeStart\":\"192.0.2.1\",\"subnet\""),
            7,
        ),
        case(
            "gsoMaxSize above the kernel's 512 KiB",
            add("eth0", &ns),
            lab.conf(r#","gsoMaxSize":1048576"#),
            7,
        ),
        case(
            "ifname longer than 15",
            add("an-ifname-too-long", &ns),
            good.clone(),
            4,
        ),
        case(
            "missing CNI_CONTAINERID",
            vec![
                ("CNI_COMMAND", "ADD".into()),
                ("CNI_IFNAME", "eth0".into()),
                ("CNI_NETNS", ns.clone()),
            ],
            good.clone(),
            4,
        ),
        case("missing CNI_COMMAND", vec![], good.clone(), 4),
        case(
            "netns that does not exist",
            add("eth0", "/run/netns/does-not-exist-podnet"),
            good.clone(),
            3,
        ),
    ];
    for c in cases {
        let vars: Vec<(&str, &str)> = c.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, err) = lab.cni(&vars, &c.stdin);
        let name = c.name;
        assert_eq!(
            (code, err["code"].as_u64()),
            (1, Some(c.code)),
            "{name}: {err}"
        );
        assert!(
            !err["msg"].as_str().unwrap_or("").is_empty(),
            "{name}: a message"
        );
        assert_eq!(lab.links(&lab.node), ["lo"], "{name}: no link in the node");
        assert_eq!(
            lab.links(&lab.pods[0]),
            ["lo"],
            "{name}: the pod is untouched"
        );
        assert!(lab.allocations().is_empty(), "{name}: no address held");
    }
}

/// The IPv4 GSO size of each named link in namespace `ns` (read over
/// netlink: Debian's iproute2 predates `gso_ipv4_max_size`).
fn gso_sizes(ns: &str, names: &[&str]) -> Vec<u32> {
    let nl = podnet_kernel::Netlink::open(&podnet_kernel::Netns::named(ns).unwrap()).unwrap();
    names
        .iter()
        .map(|n| nl.must_link(n).unwrap().gso_ipv4_max)
        .collect()
}
