//! The lab's API server on the host's loopback, so plain `kubectl` works
//! from the host shell (`export KUBECONFIG=$(podnet lab kubeconfig)`).
//!
//! The API server listens on the lab's LAN, inside its namespaces; the host
//! has no address there, and giving it one would put lab addresses on the
//! machine's own network. Instead a small TCP relay listens on
//! `127.0.0.1:<free port>` in the host's namespace and opens each upstream
//! connection from inside the control plane's namespace (a thread that
//! entered it: a socket stays in the namespace it was made in). TLS passes
//! through untouched. The relay runs as `podnet lab api-proxy` with the
//! control plane's directory on its command line, so `lab down` stops it
//! as it stops the rest.

use std::fs::{self, File};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::thread;

use crate::error::LabError;

/// The host-side kubeconfig's file name in the control plane's directory.
pub const HOST_KUBECONFIG: &str = "kubeconfig-host";

/// Where the host-side kubeconfig of a control plane in `dir` is written.
pub fn host_kubeconfig(dir: &Path) -> PathBuf {
    dir.join(HOST_KUBECONFIG)
}

/// Listens on a free loopback port, writes `out` (the lab's `kubeconfig`
/// with that port as the server), then relays every connection to `to`
/// from inside namespace `netns`. Runs until killed.
pub fn serve(netns: &str, to: SocketAddr, kubeconfig: &Path, out: &Path) -> Result<(), LabError> {
    let ns_file = crate::ns_path(netns);
    // Fail now, not at the first connection, when the namespace is gone.
    File::open(&ns_file).map_err(LabError::file("open namespace", &ns_file))?;
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(LabError::file("listen", "127.0.0.1:0"))?;
    let local = listener
        .local_addr()
        .map_err(LabError::file("listen", "127.0.0.1:0"))?;
    let text = fs::read_to_string(kubeconfig).map_err(LabError::file("read", kubeconfig))?;
    let server = format!("server: https://{to}");
    if !text.contains(&server) {
        return Err(LabError::ControlPlane(format!(
            "{} does not name the API server {to}",
            kubeconfig.display()
        )));
    }
    let text = text.replace(&server, &format!("server: https://{local}"));
    // Written whole and renamed: `lab up` waits for this file to appear.
    let tmp = out.with_extension("tmp");
    fs::write(&tmp, text).map_err(LabError::file("write", &tmp))?;
    fs::rename(&tmp, out).map_err(LabError::file("write", out))?;
    eprintln!("api-proxy: 127.0.0.1:{} -> {to} in {netns}", local.port());
    for conn in listener.incoming() {
        let Ok(down) = conn else { continue };
        let ns_file = ns_file.clone();
        thread::spawn(move || {
            if let Err(e) = relay(down, &ns_file, to) {
                eprintln!("api-proxy: {e}");
            }
        });
    }
    Ok(())
}

/// One connection: enter the namespace (this thread only), connect, copy both ways.
fn relay(down: TcpStream, ns_file: &Path, to: SocketAddr) -> io::Result<()> {
    let ns = File::open(ns_file)?;
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
    let up = TcpStream::connect(to)?;
    let (mut up_r, mut down_w) = (up.try_clone()?, down.try_clone()?);
    let back = thread::spawn(move || {
        let _ = io::copy(&mut up_r, &mut down_w);
        let _ = down_w.shutdown(Shutdown::Write);
    });
    let (mut down_r, mut up_w) = (down, up);
    let _ = io::copy(&mut down_r, &mut up_w);
    let _ = up_w.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}
