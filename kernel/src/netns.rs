//! Network namespaces: open one by path, create and delete named ones (as
//! `ip netns add` and `del` do, under `/run/netns`), and run code on a
//! thread inside one.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// Where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// An open network namespace (`/run/netns/x`, `/proc/PID/ns/net`).
#[derive(Debug)]
pub struct Netns(File);

impl Netns {
    /// Opens a namespace by path.
    pub fn open(path: &Path) -> Result<Netns> {
        File::open(path).map(Netns).map_err(Error::io(format!(
            "cannot open network namespace {}",
            path.display()
        )))
    }

    /// Opens a named namespace (`/run/netns/NAME`).
    pub fn named(name: &str) -> Result<Netns> {
        Netns::open(&Path::new(NETNS_DIR).join(name))
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> Result<Netns> {
        self.0
            .try_clone()
            .map(Netns)
            .map_err(Error::io("duplicate a namespace descriptor"))
    }

    /// The raw descriptor, for creating a link directly inside this namespace.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Runs `f` on a thread inside this namespace and returns what it
    /// returns: sockets it opens and sysctls it writes are the namespace's.
    /// `f` may borrow from the caller; the caller's thread never moves.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(self.0.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
                    what: "cannot enter the network namespace".into(),
                    source: e.into(),
                })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Io {
                    what: "a thread in the namespace panicked".into(),
                    source: std::io::Error::other("panic"),
                })
            })
        })
    }
}

/// Creates a named namespace (`/run/netns/NAME`, as `ip netns add`).
pub fn add(name: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(Error::io("start a runtime"))?;
    rt.block_on(rtnetlink::NetworkNamespace::add(name.to_string()))
        .map_err(Error::kernel(format!("create namespace {name}")))
}

/// Deletes a named namespace; `false` if it did not exist.
pub fn del(name: &str) -> Result<bool> {
    if !Path::new(NETNS_DIR).join(name).exists() {
        return Ok(false);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(Error::io("start a runtime"))?;
    rt.block_on(rtnetlink::NetworkNamespace::del(name.to_string()))
        .map_err(Error::kernel(format!("delete namespace {name}")))?;
    Ok(true)
}

/// Names of the namespaces in `/run/netns` that start with `prefix`, sorted.
pub fn with_prefix(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
