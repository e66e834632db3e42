//! sysctls of a namespace (`/proc/sys/net` follows the namespace of the
//! thread that opens it).

use crate::error::{Error, Result};
use crate::Netlink;

/// Writes a sysctl of the namespace the calling thread is in.
pub fn write_here(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(Error::io(format!("write {path}")))
}

/// Reads a sysctl of the namespace the calling thread is in.
pub fn read_here(key: &str) -> Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(Error::io(format!("read {path}")))
}

impl Netlink {
    /// Writes a sysctl of this socket's namespace (`net.ipv4.ip_forward`).
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        match &self.ns {
            Some(ns) => ns.run(|| write_here(key, value))?,
            None => write_here(key, value),
        }
    }

    /// Reads a sysctl of this socket's namespace.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        match &self.ns {
            Some(ns) => ns.run(|| read_here(key))?,
            None => read_here(key),
        }
    }
}
