//! Shared by the lab and live tests: a lab that tears itself down on drop.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use podnet_core::lab_api::LiveTrace;
use podnet_node::lab::{self, LabState};
use serde_json::{json, Value};

pub const PODNET: &str = env!("CARGO_BIN_EXE_podnet");
pub static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Lab {
    pub name: String,
}

impl Lab {
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
        Command::new(PODNET)
            .args(["lab", "--name", &self.name])
            .args(&args[1..])
            .output()
            .expect("run podnet")
    }

    /// `podnet lab exec <who> -- <command>`.
    pub fn exec(&self, who: &str, command: &[&str]) -> Output {
        self.podnet(&[&["lab", "exec", who, "--"], command].concat())
    }

    pub fn state(&self) -> LabState {
        LabState::load(&self.name).expect("lab state")
    }

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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn bin_dir() -> PathBuf {
    Path::new(PODNET)
        .parent()
        .expect("target dir")
        .to_path_buf()
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
pub fn links_of(ns: &str) -> Vec<podnet_core::lab_api::LinkView> {
    let netns = podnet_node::netlink::Netns::open(&Path::new("/run/netns").join(ns)).unwrap();
    podnet_node::netlink::run_in(Some(&netns), |h| async move {
        podnet_node::netlink::links(&h).await
    })
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
                .gso_max
        })
        .collect()
}

/// A lab with its server running.
pub struct Served {
    pub server: Child,
    pub addr: String,
    // Dropped after the server: the lab goes last.
    pub lab: Lab,
}

impl Served {
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
        let mut server = Command::new(PODNET)
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

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, &[], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

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
