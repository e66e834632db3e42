//! `podnet lab serve` for real, as root: a lab, the server as its own
//! process, requests over loopback TCP. Every test tears down its server and
//! its lab on drop, even when an assertion fails.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_core::forward::capture::{compare, replay};
use podnet_core::forward::{L4Repr, Network};
use podnet_core::lab_api::LiveTrace;
use podnet_core::topology::spec::ClusterSpec;
use podnet_kernel::{netns, Netns};
use podnet_tests::Served;
use serde_json::{json, Value};

/// How long a packet may take to be captured, or the server to answer: a
/// bound, not a delay (every wait ends as soon as its condition holds).
/// Generous, because tier 2 runs its labs in parallel on two cores: once
/// 5 s were not enough for the 60 traces of the first test.
const WAIT: Duration = Duration::from_secs(30);

fn wait_until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    podnet_tests::wait_until(what, WAIT, f)
}

#[test]
fn every_captured_ping_and_reply_matches_the_model() {
    let s = Served::up(&["--nodes", "2", "--pods-per-node", "2"]);
    let view = s.get("/api/lab");
    let spec: ClusterSpec = serde_json::from_value(view["spec"].clone()).expect("spec");
    let cluster = spec.build().expect("the kernels describe a valid cluster");
    // The kernels' view: every node has its range on cni0, every pod an address.
    assert_eq!(spec.nodes[1].pod_cidr.as_deref(), Some("10.244.2.0/24"));
    assert!(spec.pods.iter().all(|p| p.ip.is_some()));
    let node1 = view["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node1")
        .unwrap();
    assert!(node1["routes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["dst"] == "10.244.2.0/24" && r["via"] == "192.168.1.12" && r["proto"] == 150));

    let names: Vec<&str> = ["node1", "node2"]
        .into_iter()
        .chain(
            s.lab
                .state()
                .pods
                .iter()
                .map(|p| Box::leak(p.name.clone().into_boxed_str()) as &str),
        )
        .collect();
    let mut probes = Vec::new();
    for from in &names {
        for to in &names {
            if from != to {
                let r = s.probe(from, to);
                assert_eq!(r["answered"], true, "{from} -> {to}: {r}");
                probes.push((from.to_string(), to.to_string(), r));
            }
        }
    }
    assert_eq!(probes.len(), 30);
    let net = Network::new(&cluster).unwrap();
    let traces = wait_until("every request and reply", || {
        let t = s.traces();
        (t.len() >= 60).then_some(t)
    });
    let mut agreed = 0;
    for (from, to, r) in &probes {
        let id = r["icmp_id"].as_u64().unwrap() as u16;
        for request in [true, false] {
            let t = traces
                .iter()
                .find(|t| matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::IcmpEcho { request: q, id: i, .. }) if q == request && i == id))
                .unwrap_or_else(|| panic!("no captured {} for {from} -> {to}", if request { "request" } else { "reply" }));
            let model = replay(&net, &t.trace).unwrap();
            let cmp = compare(&model, &t.trace);
            assert!(
                cmp.agrees(),
                "{from} -> {to} ({}): model and kernel differ\nkernel: {:#?}\nmodel: {:#?}",
                if request { "request" } else { "reply" },
                t.trace.explain(&cluster),
                model.explain(&cluster)
            );
            agreed += 1;
        }
    }
    assert_eq!(agreed, 60);
    // No source was rewritten on any pod-to-pod path.
    assert!(traces.iter().all(|t| !t.trace.nat_seen()));

    // The seed's way in from outside: the client sends to the NodePort of
    // each node; DNAT to the service's pod (the last one) and masquerade.
    // The packet is followed across both rewrites and still equals the model.
    let endpoint = s.lab.state().pods.last().unwrap().name.clone();
    for (via, seen) in [("node1", "192.168.1.11"), ("node2", "10.244.2.1")] {
        let body = json!({ "from": "client", "to": via, "proto": "nodeport" }).to_string();
        let (status, text) = s.request(
            "POST",
            "/api/probe",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 200, "{text}");
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["answered"], true, "{r}");
        let port = r["src_port"].as_u64().unwrap() as u16;
        let t = wait_until("the NodePort packet", || {
            s.traces().into_iter().find(|t| {
                matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::Udp { src_port, dst_port: 30080 }) if src_port == port)
            })
        });
        let received = t
            .trace
            .received()
            .unwrap_or_else(|| panic!("not delivered: {:#?}", t.trace.explain(&cluster)));
        assert_eq!(
            received.src.to_string(),
            seen,
            "{:#?}",
            t.trace.explain(&cluster)
        );
        assert_eq!(
            cluster.name_of(match t.trace.verdict {
                podnet_core::forward::Verdict::Delivered { to } => to,
                _ => unreachable!(),
            }),
            format!("default/{endpoint}")
        );
        let model = replay(&net, &t.trace).unwrap();
        let cmp = compare(&model, &t.trace);
        assert!(
            cmp.agrees(),
            "NodePort via {via}: model and kernel differ\nkernel: {:#?}\nmodel: {:#?}\n{cmp:#?}",
            t.trace.explain(&cluster),
            model.explain(&cluster)
        );
    }
}

type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
    u16,
    &'a str,
);

#[test]
fn bad_requests_are_refused_and_send_nothing() {
    let s = Served::up(&["--nodes", "2", "--pods-per-node", "1"]);
    let before = s.get("/api/stats")["capture"]["captured"].as_u64().unwrap();
    let traces_before = s.traces().len();
    let json = [("Content-Type", "application/json")];
    let big = format!(r#"{{"from":"{}","to":"pod2-1"}}"#, "x".repeat(5000));
    // (method, path, headers, body, status, part of the error)
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1; reboot","to":"pod2-1"}"#,
            400,
            "is not a pod, node, client or Service",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"../../etc/passwd"}"#,
            400,
            "is not a pod, node, client or Service",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"10.244.2.2"}"#,
            400,
            "is not a pod, node, client or Service",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"pod1-1"}"#,
            400,
            "the same",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"default/web","proto":"ping"}"#,
            400,
            "probed with UDP",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"default/web","to":"pod1-1"}"#,
            400,
            "is not a pod, node, client or Service",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"client","to":"pod2-1","proto":"nodeport"}"#,
            400,
            "is not one",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"pod2-1","proto":"tcp"}"#,
            422,
            "unknown variant",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1","to":"pod2-1","cmd":"id"}"#,
            422,
            "unknown field",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":"pod1-1""#,
            400,
            "EOF",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            r#"{"from":1,"to":2}"#,
            422,
            "invalid type",
        ),
        (
            "POST",
            "/api/probe",
            vec![],
            r#"{"from":"pod1-1","to":"pod2-1"}"#,
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/api/probe",
            json.to_vec(),
            &big,
            413,
            "length limit",
        ),
        ("GET", "/api/traces?after=-1", vec![], "", 400, "after="),
        (
            "GET",
            "/api/stats",
            vec![("Origin", "http://evil.example")],
            "",
            403,
            "not allowed",
        ),
        (
            "POST",
            "/api/probe",
            vec![
                ("Origin", "http://evil.example"),
                ("Content-Type", "application/json"),
            ],
            r#"{"from":"pod1-1","to":"pod2-1"}"#,
            403,
            "not allowed",
        ),
        (
            "GET",
            "/api/lab",
            vec![("Host", "rebind.example:7070")],
            "",
            403,
            "is not this server",
        ),
        (
            "GET",
            "/api/stream",
            vec![
                ("Origin", "http://evil.example"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            "",
            403,
            "not allowed",
        ),
        ("GET", "/nothing", vec![], "", 404, ""),
    ];
    for (method, path, headers, body, status, needle) in &cases {
        let (got, text) = s.request(method, path, headers, body);
        assert_eq!(got, *status, "{method} {path} {body:.60}: {text}");
        assert!(
            text.contains(needle),
            "{method} {path} {body:.60}: {text:?} lacks {needle:?}"
        );
    }
    // An allowed origin gets CORS headers and a preflight answer.
    let (status, _) = s.request(
        "OPTIONS",
        "/api/probe",
        &[
            ("Origin", "http://127.0.0.1:8080"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert_eq!(status, 204);
    // And a good one still works. Once its request and reply are
    // assembled, every frame captured since the start is theirs: a packet a
    // refused request had sent would have been captured before them.
    let r = s.probe("pod1-1", "pod2-1");
    assert_eq!(r["answered"], true, "{r}");
    let id = r["icmp_id"].as_u64().unwrap() as u16;
    let is_the_probe = |t: &LiveTrace| matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::IcmpEcho { id: i, .. }) if i == id);
    let since = wait_until("the good probe's request and reply", || {
        let t: Vec<LiveTrace> = s.traces().into_iter().skip(traces_before).collect();
        (t.iter().filter(|t| is_the_probe(t)).count() >= 2).then_some(t)
    });
    let captured = s.get("/api/stats")["capture"]["captured"].as_u64().unwrap();
    let theirs: u64 = since
        .iter()
        .filter(|t| is_the_probe(t))
        .map(|t| t.frames as u64)
        .sum();
    assert!(
        since.iter().all(is_the_probe),
        "a refused request sent a packet: {:?}",
        since.iter().find(|t| !is_the_probe(t))
    );
    assert_eq!(captured - before, theirs, "a refused request sent a packet");
    // `lab down` stops the server too: its capture sockets would otherwise
    // keep the lab's namespaces alive.
    let out = s.lab.podnet(&["lab", "down"]);
    assert!(out.status.success(), "{}", podnet_tests::text(&out.stderr));
    assert!(
        podnet_tests::text(&out.stdout).contains("its live server stopped"),
        "{}",
        podnet_tests::text(&out.stdout)
    );
    let mut s = s;
    let status = wait_until("the server to exit", || s.server.try_wait().ok().flatten());
    assert!(
        status.success(),
        "the server exits cleanly on SIGTERM: {status:?}"
    );
    assert!(netns::with_prefix(&format!("{}-", s.lab.name)).is_empty());
}

#[test]
fn a_flood_costs_dropped_frames_not_memory() {
    let s = Served::up(&["--nodes", "2", "--pods-per-node", "1"]);
    let state = s.lab.state();
    let (from, to) = (&state.pods[0], &state.pods[1]);
    let before = s.get("/api/stats");
    let stop = Arc::new(AtomicBool::new(false));
    let ns = Netns::open(&Path::new("/run/netns").join(&from.netns)).unwrap();
    let dst = SocketAddrV4::new(to.ip, 9);
    let start = Instant::now();
    // Two senders, each a new source port every 64 datagrams: many packets, many flows.
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (ns, stop) = (ns.try_clone().unwrap(), stop.clone());
            std::thread::spawn(move || {
                ns.run(|| {
                    let mut sent = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
                        for _ in 0..64 {
                            if sock.send_to(b"flood", dst).is_ok() {
                                sent += 1;
                            }
                        }
                    }
                    sent
                })
                .unwrap()
            })
        })
        .collect();
    let mut peak_rss = 0;
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(250));
        peak_rss = peak_rss.max(s.get("/api/stats")["rss_kib"].as_u64().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let sent: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();
    let after = wait_until("the collector to drain", || {
        let st = s.get("/api/stats");
        (st["open"] == 0).then_some(st)
    });
    let c = &after["capture"];
    let n = |k: &str| c[k].as_u64().unwrap() - before["capture"][k].as_u64().unwrap();
    let dropped = n("dropped_queue") + n("dropped_kernel") + n("dropped_open");
    let rss0 = before["rss_kib"].as_u64().unwrap();
    eprintln!(
        "flood: {sent} datagrams in 3 s; frames read {}, captured {}, dropped {dropped}; traces {}; RSS {rss0} -> peak {peak_rss} KiB",
        n("read"),
        n("captured"),
        n("traces")
    );
    assert!(
        sent > 10_000,
        "the flood was too small to test anything: {sent}"
    );
    // Bounded: the queue, the open packets and the recent list have fixed sizes.
    assert!(
        peak_rss < rss0 + 64 * 1024,
        "memory grew from {rss0} to {peak_rss} KiB"
    );
    assert!(after["recent"].as_u64().unwrap() <= 256);
    // Every frame read was captured, ignored or counted as dropped.
    assert!(n("captured") + dropped > 0);
    // Still serving: a ping afterwards is captured and shown. The kernel may
    // still be handing over the flood's last frames, so allow a few tries.
    let shown = (0..5).any(|_| {
        let r = s.probe(&from.name, &to.name);
        let id = r["icmp_id"].as_u64().unwrap() as u16;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let found = s.traces().into_iter().any(|t| {
                matches!(t.trace.sent.map(|f| f.l4), Some(L4Repr::IcmpEcho { request: true, id: i, .. }) if i == id)
            });
            if found {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    assert!(
        shown,
        "no ping was shown after the flood: {}",
        s.get("/api/stats")
    );
}

/// `podnet lab record`: what the page would have received for each probe,
/// in one file; every request is among its packets and the model agrees
/// with the kernel at each of its places. A bad probe is refused before
/// anything is sent or written.
#[test]
fn a_recording_holds_each_probe_with_its_packets_and_the_model_agrees() {
    use podnet_core::lab_api::Recording;
    let lab = podnet_tests::Lab::up(&["--nodes", "2", "--pods-per-node", "1"]);
    let out = lab.podnet(&["lab", "record"]);
    assert!(out.status.success(), "{}", podnet_tests::text(&out.stderr));
    let rec: Recording = serde_json::from_slice(&out.stdout).expect("a recording");
    // Standard output is the file; the terminal is told what it holds.
    let told = podnet_tests::text(&out.stderr);
    assert!(
        told.contains("recorded lab") && told.contains("pod1-1 -> pod2-1 (ping): answered"),
        "{told}"
    );
    assert_eq!(rec.lab.name, lab.name);
    let cluster = rec.lab.cluster().expect("a valid cluster");
    let net = Network::new(&cluster).unwrap();
    let sent: Vec<String> = rec
        .sends
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s.request.from,
                s.request.to,
                s.request.proto.key()
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            "pod1-1 pod2-1 ping",
            "client node1 nodeport",
            "pod1-1 default/web udp"
        ]
    );
    let mut last_id = 0;
    for s in &rec.sends {
        assert!(s.result.answered, "{:?}", s.request);
        // The request and its answer (a reply, or an ICMP error).
        assert!(
            s.traces.len() >= 2,
            "{:?}: {} packets",
            s.request,
            s.traces.len()
        );
        let request = s.traces.iter().find(|t| s.result.sent(t));
        let request =
            request.unwrap_or_else(|| panic!("{:?}: its packet is not recorded", s.request));
        let cmp = compare(&replay(&net, &request.trace).unwrap(), &request.trace);
        assert!(cmp.agrees(), "{:?}: {cmp:?}", s.request);
        // In the stream's order, each packet once.
        for t in &s.traces {
            assert!(t.id > last_id, "{:?}", s.request);
            last_id = t.id;
        }
    }

    let file = std::env::temp_dir().join(format!("{}-rec.json", lab.name));
    // One an earlier run left would fail the check below for the wrong reason.
    let _ = std::fs::remove_file(&file);
    let bad = lab.podnet(&[
        "lab",
        "record",
        "--send",
        "pod1-1,nowhere",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let said = podnet_tests::text(&bad.stderr);
    assert!(
        said.contains("podnet lab record:") && said.contains("nowhere"),
        "{said}"
    );
    assert!(!file.exists(), "nothing written");
    let part_prefix = format!(".{}-rec.json.", lab.name);
    let parts: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&part_prefix) && n.ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "parts left: {parts:?}");
    let bad = lab.podnet(&["lab", "record", "--send", "pod1-1"]);
    assert!(!bad.status.success());
    assert!(
        podnet_tests::text(&bad.stderr).contains("is not FROM,TO[,PROTO]"),
        "{}",
        podnet_tests::text(&bad.stderr)
    );
}
