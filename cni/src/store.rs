//! IPAM state on disk: one JSON file per network, guarded by an flock.
//!
//! `<dataDir>/<network>/ipam.json` holds core's [`NodeIpamState`]; the lock
//! is `flock(2)` on `<dataDir>/<network>/lock`, so concurrent ADDs on a node
//! never hand out one address twice, and a plugin killed with -9 drops its
//! lock with its file descriptors. Writes go to a temporary file that is
//! synced and renamed over the old one, so a crash leaves either the old or
//! the new state, never half of one. An address allocated by an ADD that
//! then died is still recorded; GC (with the runtime's list of valid
//! attachments) gives it back.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use podnet_core::alloc::{IpamConfig, NodeIpam, NodeIpamState};

use crate::error::{CniError, CniResult, Code};

/// How long an operation waits for another plugin holding the lock before "try again".
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The state directory of one network.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> CniError {
    CniError::new(Code::Io, format!("{what} {}", path.display())).details(e.to_string())
}

impl Store {
    /// The store of network `name` under `data_dir` (created if missing).
    pub fn open(data_dir: &Path, name: &str) -> CniResult<Store> {
        let dir = data_dir.join(name);
        fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
        Ok(Store { dir })
    }

    /// The state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("ipam.json")
    }

    fn lock(&self) -> CniResult<Flock<File>> {
        let path = self.dir.join("lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("cannot open", &path, e))?;
        let start = Instant::now();
        // Holders keep the lock for well under a millisecond, so the first
        // retries come quickly; the wait grows to 2 ms for a stuck holder.
        let mut wait = Duration::from_micros(50);
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < LOCK_TIMEOUT => {
                    file = f;
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(2));
                }
                Err((_, e)) => {
                    return Err(CniError::new(
                        Code::TryAgain,
                        format!("IPAM state {} is locked", path.display()),
                    )
                    .details(format!("gave up after {:?}: {e}", start.elapsed())))
                }
            }
        }
    }

    fn load(&self, config: &IpamConfig) -> CniResult<NodeIpam> {
        let path = self.state_path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(NodeIpam::new(config.clone())?)
            }
            Err(e) => return Err(io("cannot read", &path, e)),
        };
        let state: NodeIpamState = serde_json::from_slice(&text).map_err(|e| {
            CniError::new(
                Code::Decode,
                format!("IPAM state {} is corrupt", path.display()),
            )
            .details(e.to_string())
        })?;
        let ipam = NodeIpam::try_from(state).map_err(|e| {
            CniError::new(
                Code::Decode,
                format!("IPAM state {} is inconsistent", path.display()),
            )
            .details(e.to_string())
        })?;
        if ipam.config() == config {
            Ok(ipam)
        } else if ipam.is_empty() {
            Ok(NodeIpam::new(config.clone())?)
        } else {
            Err(CniError::new(Code::InvalidConfig, "the IPAM range changed while addresses are allocated").details(format!(
                "{} holds {} allocations from {}; DEL those containers (or GC) before changing the range",
                path.display(),
                ipam.len(),
                ipam.subnet()
            )))
        }
    }

    fn save(&self, ipam: &NodeIpam) -> CniResult<()> {
        let path = self.state_path();
        let tmp = self.dir.join(format!("ipam.json.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(ipam).map_err(|e| io("cannot encode", &path, e))?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io("cannot write", &path, e)
        })
    }

    /// Runs `f` on the state under the lock and saves it if `f` succeeded and changed it.
    pub fn with_ipam<T>(
        &self,
        config: &IpamConfig,
        f: impl FnOnce(&mut NodeIpam) -> CniResult<T>,
    ) -> CniResult<T> {
        let _lock = self.lock()?;
        let mut ipam = self.load(config)?;
        let before = ipam.clone();
        let out = f(&mut ipam)?;
        if ipam != before {
            self.save(&ipam)?;
        }
        Ok(out)
    }

    /// The state without changing it (STATUS, CHECK).
    pub fn read(&self, config: &IpamConfig) -> CniResult<NodeIpam> {
        let _lock = self.lock()?;
        self.load(config)
    }
}
