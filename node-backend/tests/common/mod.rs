//! Shared by the lab and live tests: a lab that tears itself down on drop.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use podnet_node::lab::{self, LabState};

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
