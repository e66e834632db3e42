//! The harness the privileged tests share: a lab that tears itself down on
//! drop, its live server, and where the binaries under test are.
//!
//! These tests need root (they build network namespaces), and the labs run
//! `podnet-agent` and `podnet-cni` from beside `podnet`: build them first
//! with `cargo build --workspace --bins` (`scripts/test.sh` does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use podnet_core::join;
use podnet_core::lab_api::LiveTrace;
use podnet_lab::{self as lab, LabState};
use serde_json::{json, Value};

/// The `podnet` binary under test.
pub static PODNET: LazyLock<PathBuf> = LazyLock::new(|| bin("podnet"));
/// Numbers the labs of one test run, so each has a name of its own.
pub static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A lab made by `podnet lab up`, removed by `lab down` when dropped.
pub struct Lab {
    /// Its name, unique to this process.
    pub name: String,
}

impl Lab {
    /// `podnet lab up` with `args`; fails the test if it fails.
    pub fn up(args: &[&str]) -> Lab {
        let name = format!(
            "pl{}x{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab { name };
        let out = lab.podnet(&[&["lab", "up"], args].concat());
        assert!(
            out.status.success(),
            "lab up: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        lab
    }

    /// `podnet lab --name <this lab> <args after "lab">`.
    pub fn podnet(&self, args: &[&str]) -> Output {
        assert_eq!(args[0], "lab");
        Command::new(&*PODNET)
            .args(["lab", "--name", &self.name])
            .args(&args[1..])
            .output()
            .expect("run podnet")
    }

    /// `podnet lab exec <who> -- <command>`.
    pub fn exec(&self, who: &str, command: &[&str]) -> Output {
        self.podnet(&[&["lab", "exec", who, "--"], command].concat())
    }

    /// The lab's state file.
    pub fn state(&self) -> LabState {
        LabState::load(&self.name).expect("lab state")
    }

    /// `ip route show` on a node.
    pub fn routes(&self, node: &str) -> String {
        text(
            &self
                .podnet(&["lab", "exec", node, "--", "ip", "route", "show"])
                .stdout,
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = lab::down(&self.name);
    }
}

/// The range node IPAM gave each node of a Kubernetes lab, in the order
/// it gave them, as core's model of it ([`join::ranges_taken`]) has them
/// given what kube-controller-manager's log says it took and gave back
/// ([`lab::control_plane::node_ipam_taken`]).
pub fn node_ipam_ranges(state: &LabState) -> Vec<(String, String)> {
    let cp = state
        .control_plane
        .as_ref()
        .expect("a lab with a control plane");
    let path = cp.dir.join("controller-manager.log");
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let taken = lab::control_plane::node_ipam_taken(&log);
    let cluster = lab::control_plane::CLUSTER_CIDR.parse().unwrap();
    let ranges =
        join::ranges_taken(cluster, 24, &taken).unwrap_or_else(|e| panic!("{taken:?}: {e}\n{log}"));
    ranges
        .into_iter()
        .map(|(n, r)| (n, r.to_string()))
        .collect()
}

/// A command's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Where cargo put the workspace's binaries: beside the `deps` directory
/// this test runs from. Checks that we run as root and that all three are
/// built, so a missing step is said plainly rather than as a failed lab.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in target/<profile>/deps")
        .to_path_buf();
    assert!(
        is_root(),
        "these tests build network namespaces: run them as root (scripts/test.sh does)"
    );
    for b in ["podnet", "podnet-agent", "podnet-cni"] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            dir.join(b).display()
        );
    }
    dir
}

/// One binary of the workspace, checked to be built.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Polls `f` until it returns something; fails the test after `within`.
pub fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `ok` until it holds; fails the test after 10 s.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(10), || ok().then_some(()))
}

/// Every link of namespace `ns` (a name under /run/netns), read over
/// netlink: Debian's iproute2 predates `gso_ipv4_max_size`.
pub fn links_of(ns: &str) -> Vec<podnet_kernel::Link> {
    podnet_kernel::Netlink::open(&podnet_kernel::Netns::named(ns).unwrap())
        .and_then(|nl| nl.links())
        .unwrap()
}

/// The IPv4 GSO size of each named link in namespace `ns`.
pub fn gso_sizes(ns: &str, names: &[&str]) -> Vec<u32> {
    let links = links_of(ns);
    names
        .iter()
        .map(|n| {
            links
                .iter()
                .find(|l| l.name == *n)
                .unwrap_or_else(|| panic!("{ns} has no link {n}"))
                .gso_ipv4_max
        })
        .collect()
}

/// A lab with its server running.
pub struct Served {
    /// `podnet lab serve`.
    pub server: Child,
    /// Where it listens.
    pub addr: String,
    // Dropped after the server: the lab goes last.
    /// The lab it serves.
    pub lab: Lab,
}

impl Served {
    /// A new lab, served.
    pub fn up(args: &[&str]) -> Served {
        Served::on(Lab::up(args))
    }

    /// Starts `podnet lab serve` on a lab that is up.
    pub fn on(lab: Lab) -> Served {
        let (server, addr) = serve(&lab.name);
        Served { server, addr, lab }
    }
}

/// Starts `podnet lab serve` for lab `name` on a free loopback port: (process, address).
pub fn serve(name: &str) -> (Child, String) {
    {
        let mut server = Command::new(&*PODNET)
            .args(["lab", "--name", name, "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start podnet lab serve");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the address");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        (server, addr)
    }
}

impl Served {
    /// One HTTP/1.1 request; (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        http(&self.addr, method, path, headers, body)
    }

    /// GET a JSON path of the server.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, &[], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Asks the server to send a probe between two members.
    pub fn probe(&self, from: &str, to: &str) -> Value {
        let body = json!({ "from": from, "to": to, "proto": "ping" }).to_string();
        let (status, text) = self.request(
            "POST",
            "/api/probe",
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 200, "probe {from} -> {to}: {text}");
        serde_json::from_str(&text).expect("probe result")
    }

    /// The packets the server captured and matched with the model so far.
    pub fn traces(&self) -> Vec<LiveTrace> {
        serde_json::from_value(self.get("/api/traces")).expect("traces")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.server.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.server.wait();
    }
}

/// One HTTP/1.1 request to `addr`; (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req += &format!("Host: {}\r\n", addr);
    }
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Small bodies arrive in one chunk; strip the chunk framing if any.
    let body = match body.split_once("\r\n") {
        Some((len, rest))
            if u32::from_str_radix(len.trim(), 16).is_ok()
                && !body.starts_with('{')
                && !body.starts_with('[') =>
        {
            rest.rsplit_once("\r\n0\r\n")
                .map_or(rest, |(b, _)| b)
                .trim_end()
                .to_string()
        }
        _ => body.to_string(),
    };
    (status, body)
}
