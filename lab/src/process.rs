//! Processes in namespaces, knowing nothing of labs: a command run inside
//! a network (and mount) namespace, a background process with its log, and
//! finding and stopping processes again.
//!
//! Every process a lab starts can be found again without the state file
//! (by a path of the lab's on its command line, or by a pid file checked
//! against its command line), so `down` works after a crash.

use std::fs::{self, File};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::LabError;

/// A command that will run inside network namespace `ns` (a lab name, or a
/// path such as `/proc/PID/ns/net`) and, if `detach`, in its own session.
pub fn command_in(
    ns: &str,
    program: impl AsRef<std::ffi::OsStr>,
    detach: bool,
) -> Result<Command, LabError> {
    command_in_ns(ns, None, program, detach)
}

/// Like [`command_in`], also inside the mount namespace kept at `mount_ns`
/// (a Kubernetes lab node's) and the UTS namespace kept beside it (`uts` in
/// the same directory, the node's hostname), when there is one.
pub fn command_in_ns(
    ns: &str,
    mount_ns: Option<&Path>,
    program: impl AsRef<std::ffi::OsStr>,
    detach: bool,
) -> Result<Command, LabError> {
    let path = super::ns_path(ns);
    let file = File::open(&path).map_err(LabError::file("open namespace", &path))?;
    let mnt = match mount_ns {
        Some(p) => Some(File::open(p).map_err(LabError::file("open namespace", p))?),
        None => None,
    };
    // A lab made before nodes had a hostname of their own has no such file.
    let uts = mount_ns.map(uts_ns_beside).and_then(|p| File::open(p).ok());
    let mut cmd = Command::new(program);
    // SAFETY: only async-signal-safe syscalls run between fork and exec; the
    // files are moved into the closure, so their descriptors stay open until exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(
                BorrowedFd::borrow_raw(file.as_raw_fd()),
                nix::sched::CloneFlags::CLONE_NEWNET,
            )?;
            if let Some(m) = &mnt {
                nix::sched::setns(
                    BorrowedFd::borrow_raw(m.as_raw_fd()),
                    nix::sched::CloneFlags::CLONE_NEWNS,
                )?;
            }
            if let Some(u) = &uts {
                nix::sched::setns(
                    BorrowedFd::borrow_raw(u.as_raw_fd()),
                    nix::sched::CloneFlags::CLONE_NEWUTS,
                )?;
            }
            if detach {
                nix::unistd::setsid()?;
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// The file that keeps a UTS namespace, beside the file of the mount
/// namespace it goes with.
pub fn uts_ns_beside(mount_ns: &Path) -> PathBuf {
    mount_ns.with_file_name("uts")
}

/// Where `program` is on `PATH`, if anywhere.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Runs a helper program to completion; its stderr goes into the error `wrap` makes.
pub(crate) fn run_checked(cmd: &mut Command, wrap: fn(String) -> LabError) -> Result<(), LabError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|source| LabError::Spawn {
        program: program.clone().into(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(wrap(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Refuses to go on without root, saying what needs it.
pub(crate) fn check_root(what: &'static str) -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot { what })
    }
}

/// Starts a lab process in the background, its output appended to `log`; returns its pid.
pub(crate) fn spawn_logged(
    mut cmd: Command,
    program: PathBuf,
    log: &Path,
) -> Result<u32, LabError> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(LabError::file("open", log))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(LabError::file("open", log))?)
        .stderr(file)
        .spawn()
        .map_err(|source| LabError::Spawn { program, source })?;
    Ok(child.id())
}

/// Whether a process is alive.
pub fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Processes with an argument that names a path under `dir` (the lab's
/// state directory): its agents and control plane, found even when the
/// state file lost track of them.
pub(crate) fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let found = cmdline
                .split(|&b| b == 0)
                .any(|arg| String::from_utf8_lossy(arg).contains(&needle));
            (found && pid != std::process::id()).then_some(pid)
        })
        .collect()
}

/// The process whose id a pid file holds, if it still runs and its command
/// line has the argument `arg` (a pid may have been reused since).
pub(crate) fn from_pid_file(file: &Path, arg: &str) -> Option<u32> {
    let pid: u32 = fs::read_to_string(file).ok()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline
        .split(|&b| b == 0)
        .any(|a| a == arg.as_bytes())
        .then_some(pid)
}

/// Stops a process the lab started (TERM, then KILL).
pub fn stop(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(pid as i32);
    if kill(pid, Signal::SIGTERM).is_ok() {
        let start = Instant::now();
        while kill(pid, None).is_ok() && start.elapsed() < Duration::from_secs(2) {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
}

/// Every process below `roots` in the process tree (children, their
/// children, …), read from `/proc`.
pub(crate) fn descendants(roots: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid …": comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found: Vec<u32> = Vec::new();
    let mut frontier: Vec<u32> = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parents {
            if parent == p && !found.contains(&child) && !roots.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Stops many processes at once: TERM to all, up to 3 s for them to go, then KILL.
pub(crate) fn stop_all(pids: &[u32]) {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag};
    use nix::unistd::Pid;
    let pids: Vec<Pid> = pids.iter().map(|&p| Pid::from_raw(p as i32)).collect();
    for &p in &pids {
        let _ = kill(p, Signal::SIGTERM);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let left = pids.iter().filter(|&&p| {
            let _ = waitpid(p, Some(WaitPidFlag::WNOHANG));
            kill(p, None).is_ok()
        });
        if left.count() == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for &p in &pids {
        let _ = kill(p, Signal::SIGKILL);
        let _ = waitpid(p, Some(WaitPidFlag::WNOHANG));
    }
}
