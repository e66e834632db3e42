//! The images a Kubernetes lab runs, built on this machine as one-layer OCI
//! archives and imported into each node's containerd: nothing is pulled.
//!
//! - [`PAUSE`]: the sandbox image, a static C program that waits for a
//!   signal and reaps children (what Kubernetes' own pause does);
//! - [`BUSYBOX`]: the workload's image, Debian's `busybox-static`;
//! - [`PODNET`]: podnet as `deploy/podnet.yaml` names it (`podnet:0.1.0`,
//!   which the runtime reads as `docker.io/library/podnet:0.1.0`): the
//!   agent, the CNI plugin, the reference `portmap` plugin, `install-cni`
//!   and `nft`, each with the shared
//!   libraries `ldd` lists, so the image runs without the host's `/usr`;
//! - with `lab up --e2e-images`, the images Kubernetes 1.20's network e2e
//!   tests name ([`E2E_IMAGES`], as `test/utils/image/manifest.go` spells
//!   them), for `tests/conformance.sh`.
//!
//! An archive is `oci-layout`, `index.json` (its manifest annotated with
//! `io.containerd.image.name`, which `ctr images import` names the image
//! by) and `blobs/sha256/…`: the layer as an uncompressed tar, the image
//! config and the manifest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::error::LabError;
use crate::process::{run_checked, which};

/// Runs a helper program (tar, ctr, mount, …); its stderr becomes the error.
pub(crate) fn run(cmd: &mut Command) -> Result<(), LabError> {
    run_checked(cmd, LabError::Kubernetes)
}

/// The sandbox ("pause") image.
pub const PAUSE: &str = "podnet.local/pause:1";
/// The workload's image (busybox).
pub const BUSYBOX: &str = "podnet.local/busybox:1";
/// podnet's image, as the runtime names `podnet:0.1.0` from the manifest.
pub const PODNET: &str = "docker.io/library/podnet:0.1.0";
/// Where the images that do not change (pause, busybox) are kept between labs.
pub const CACHE: &str = "/var/cache/podnet/images";

/// The e2e tests' agnhost: the `agnhost` program the Kubernetes build made,
/// with what its Dockerfile installs and the tests run (a POSIX `sh`,
/// curl, netcat-openbsd, dig, ss, getent), from this machine's Debian.
pub const E2E_AGNHOST: &str = "k8s.gcr.io/e2e-test-images/agnhost:2.21";
/// The DNS tests' second querier; the same root as agnhost (dig, getent, sh).
pub const E2E_DNSUTILS: &str = "gcr.io/kubernetes-e2e-test-images/jessie-dnsutils:1.0";
/// Busybox with every applet, as the tests' `busybox:1.29`.
pub const E2E_BUSYBOX: &str = "docker.io/library/busybox:1.29";
/// The tests' pause image (also the kubelet's default sandbox image).
pub const E2E_PAUSE: &str = "k8s.gcr.io/pause:3.2";
/// Every image name `--e2e-images` imports.
pub const E2E_IMAGES: [&str; 4] = [E2E_AGNHOST, E2E_DNSUTILS, E2E_BUSYBOX, E2E_PAUSE];

/// Debian programs in the agnhost image, by the path the tests call them at
/// (from packages scripts/install.sh installs).
const E2E_PROGRAMS: [(&str, &str); 11] = [
    ("/usr/bin/dash", "bin/sh"),
    ("/usr/bin/bash", "bin/bash"),
    ("/usr/bin/curl", "usr/bin/curl"),
    ("/bin/nc.openbsd", "usr/bin/nc"),
    ("/usr/bin/dig", "usr/bin/dig"),
    ("/usr/bin/nslookup", "usr/bin/nslookup"),
    ("/usr/bin/host", "usr/bin/host"),
    ("/usr/bin/getent", "usr/bin/getent"),
    ("/usr/bin/ss", "usr/bin/ss"),
    ("/usr/sbin/ip", "usr/sbin/ip"),
    ("/usr/bin/timeout", "usr/bin/timeout"),
];

/// The pause program: PID 1 of every pod sandbox.
const PAUSE_C: &str = r#"
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"#;

/// `install-cni DIR`: the DaemonSet's init container copies the plugins in
/// (podnet-cni, and the reference `portmap` chained after it for
/// hostPorts) atomically, so a runtime never executes a half-written binary.
const INSTALL_CNI: &str = "#!/bin/sh\nset -e\nfor p in podnet-cni portmap; do\n  cp \"/bin/$p\" \"$1/.$p.tmp\"\n  mv -f \"$1/.$p.tmp\" \"$1/$p\"\n  echo \"$p installed in $1\"\ndone\n";

/// One entry of an image's only layer.
enum Entry {
    /// A host file copied in (ELF programs stripped of debug data).
    File { src: PathBuf, dst: String },
    /// A text file, mode 0755.
    Script { dst: String, text: &'static str },
    /// A symbolic link.
    Link { dst: String, target: String },
    /// An empty directory.
    Dir { dst: String },
}

/// The three archives, built (or taken from the cache) for a lab, and with
/// `e2e` the e2e tests' images (see [`e2e_archives`]).
pub fn build_all(
    bin_dir: &Path,
    lab_dir: &Path,
    e2e: bool,
) -> Result<Vec<(&'static str, PathBuf)>, LabError> {
    fs::create_dir_all(CACHE).map_err(LabError::file("create", CACHE))?;
    let cache = Path::new(CACHE);
    let pause = cache.join("pause.oci.tar");
    if !pause.is_file() {
        let bin = cache.join("pause");
        compile_pause(&bin)?;
        let entries = vec![Entry::File {
            src: bin,
            dst: "pause".into(),
        }];
        archive(&pause, PAUSE, &entries, &["/pause"])?;
    }
    // Named for its applet list: a cache from before a change is not reused.
    let busybox = cache.join("busybox-2.oci.tar");
    if !busybox.is_file() {
        let bb = static_busybox()?;
        let mut entries = vec![Entry::File {
            src: bb,
            dst: "bin/busybox".into(),
        }];
        for applet in [
            "sh", "sleep", "ip", "ping", "nc", "wget", "cat", "ls", "hostname", "nslookup",
            "mkdir", "httpd", "env",
        ] {
            entries.push(Entry::Link {
                dst: format!("bin/{applet}"),
                target: "busybox".into(),
            });
        }
        archive(&busybox, BUSYBOX, &entries, &["/bin/sh"])?;
    }
    // Rebuilt for every lab: it holds this build's podnet.
    let podnet = lab_dir.join("podnet.oci.tar");
    podnet_archive(bin_dir, &podnet)?;
    let mut all = vec![(PAUSE, pause), (BUSYBOX, busybox), (PODNET, podnet)];
    if e2e {
        all.extend(e2e_archives(cache)?);
    }
    Ok(all)
}

/// The e2e tests' images ([`E2E_IMAGES`]) in `cache`, built once: agnhost
/// (also named jessie-dnsutils), busybox with all its applets, pause.
fn e2e_archives(cache: &Path) -> Result<Vec<(&'static str, PathBuf)>, LabError> {
    let kube = crate::control_plane::kube_bin()?;
    let agnhost = kube.join("agnhost");
    if !agnhost.is_file() || !kube.join("porter/localhost.crt").is_file() {
        return Err(LabError::Missing {
            what: format!("{} (the e2e tests' agnhost)", agnhost.display()),
            fix: "bash scripts/kube-build.sh (builds e2e.test and agnhost beside the servers)",
        });
    }
    let bb = static_busybox()?;
    let applets = Command::new(&bb)
        .arg("--list")
        .output()
        .map_err(|source| LabError::Spawn {
            program: bb.clone(),
            source,
        })?;
    let applets: Vec<String> = String::from_utf8_lossy(&applets.stdout)
        .split_whitespace()
        .filter(|a| !a.contains('/') && *a != "busybox")
        .map(str::to_string)
        .collect();
    let busybox_root = |entries: &mut Vec<Entry>| {
        entries.push(Entry::File {
            src: bb.clone(),
            dst: "bin/busybox".into(),
        });
        for a in &applets {
            entries.push(Entry::Link {
                dst: format!("bin/{a}"),
                target: "busybox".into(),
            });
        }
        entries.push(Entry::Dir { dst: "tmp".into() });
    };

    let agnhost_tar = cache.join("e2e-agnhost-1.oci.tar");
    if !agnhost_tar.is_file() {
        // Debian's programs first: where a name is both, the test gets
        // Debian's (busybox's sh and nc lack what the tests use, `nc -u`).
        let mut entries = Vec::new();
        for (src, dst) in E2E_PROGRAMS {
            let src = Path::new(src);
            if !src.is_file() {
                return Err(LabError::Missing {
                    what: src.display().to_string(),
                    fix: "bash scripts/install.sh (dash, curl, netcat-openbsd, bind9-dnsutils, iproute2)",
                });
            }
            entries.extend(with_libraries(src, dst)?);
        }
        entries.extend(with_libraries(&agnhost, "agnhost")?);
        entries.push(Entry::Link {
            dst: "agnhost-2".into(),
            target: "agnhost".into(),
        });
        for f in ["localhost.crt", "localhost.key"] {
            entries.push(Entry::File {
                src: kube.join("porter").join(f),
                dst: f.into(),
            });
        }
        entries.push(Entry::Dir {
            dst: "uploads".into(),
        });
        busybox_root(&mut entries);
        archive_named(
            &agnhost_tar,
            &[E2E_AGNHOST, E2E_DNSUTILS],
            &entries,
            &["/agnhost"],
            &["pause"],
        )?;
    }
    let busybox_tar = cache.join("e2e-busybox-1.oci.tar");
    if !busybox_tar.is_file() {
        let mut entries = Vec::new();
        busybox_root(&mut entries);
        archive(&busybox_tar, E2E_BUSYBOX, &entries, &["sh"])?;
    }
    let pause_tar = cache.join("e2e-pause-1.oci.tar");
    if !pause_tar.is_file() {
        if !cache.join("pause").is_file() {
            compile_pause(&cache.join("pause"))?;
        }
        let entries = vec![Entry::File {
            src: cache.join("pause"),
            dst: "pause".into(),
        }];
        archive(&pause_tar, E2E_PAUSE, &entries, &["/pause"])?;
    }
    Ok(vec![
        (E2E_AGNHOST, agnhost_tar),
        (E2E_BUSYBOX, busybox_tar),
        (E2E_PAUSE, pause_tar),
    ])
}

/// podnet's image ([`PODNET`]) from the binaries in `bin_dir`, written to `out`.
pub fn podnet_archive(bin_dir: &Path, out: &Path) -> Result<(), LabError> {
    let mut entries = Vec::new();
    for (src, dst) in [
        (bin_dir.join("podnet-agent"), "bin/podnet-agent"),
        (bin_dir.join("podnet-cni"), "bin/podnet-cni"),
        (bin_dir.join("podnet-dns"), "bin/podnet-dns"),
        (PathBuf::from(PORTMAP), "bin/portmap"),
        (
            which("nft").unwrap_or_else(|| "/usr/sbin/nft".into()),
            "usr/sbin/nft",
        ),
        (static_busybox()?, "bin/busybox"),
    ] {
        if !src.is_file() {
            return Err(missing(&src));
        }
        entries.extend(with_libraries(&src, dst)?);
    }
    for applet in ["sh", "cp", "mv", "echo"] {
        entries.push(Entry::Link {
            dst: format!("bin/{applet}"),
            target: "busybox".into(),
        });
    }
    entries.push(Entry::Script {
        dst: "bin/install-cni".into(),
        text: INSTALL_CNI,
    });
    archive(out, PODNET, &entries, &["/bin/podnet-agent"])
}

/// The reference `portmap` plugin, from Debian's containernetworking-plugins.
const PORTMAP: &str = "/usr/lib/cni/portmap";

fn missing(path: &Path) -> LabError {
    let fix = if path.ends_with("nft") {
        "apt-get install nftables"
    } else if path.ends_with("portmap") {
        "apt-get install containernetworking-plugins"
    } else {
        "cargo build --bins (or pass --bin-dir)"
    };
    LabError::Missing {
        what: path.display().to_string(),
        fix,
    }
}

/// Debian's `busybox-static` (a static busybox runs in any image).
fn static_busybox() -> Result<PathBuf, LabError> {
    let path = PathBuf::from("/bin/busybox");
    let out = Command::new("ldd").arg(&path).output();
    let is_static =
        out.is_ok_and(|o| !o.status.success() || !o.stdout.windows(3).any(|w| w == b"=> "));
    if path.is_file() && is_static {
        Ok(path)
    } else {
        Err(LabError::Missing {
            what: "a static /bin/busybox".into(),
            fix: "apt-get install busybox-static (or bash scripts/install.sh)",
        })
    }
}

fn compile_pause(out: &Path) -> Result<(), LabError> {
    let src = out.with_extension("c");
    fs::write(&src, PAUSE_C).map_err(LabError::file("write", &src))?;
    let result = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(out)
        .arg(&src)
        .output();
    match result {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(LabError::Kubernetes(format!(
            "gcc -static pause.c failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(_) => Err(LabError::Missing {
            what: "gcc".into(),
            fix: "apt-get install gcc libc6-dev (builds the pause image once)",
        }),
    }
}

/// A program and every shared library `ldd` says it loads, at the same paths.
fn with_libraries(src: &Path, dst: &str) -> Result<Vec<Entry>, LabError> {
    let mut entries = vec![Entry::File {
        src: src.into(),
        dst: dst.into(),
    }];
    let out = Command::new("ldd")
        .arg(src)
        .output()
        .map_err(|source| LabError::Spawn {
            program: "ldd".into(),
            source,
        })?;
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x…)".
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            entries.push(Entry::File {
                src: p.into(),
                dst: p.trim_start_matches('/').into(),
            });
        }
    }
    Ok(entries)
}

/// Writes a one-layer OCI archive for image `name` to `out`.
fn archive(out: &Path, name: &str, entries: &[Entry], cmd: &[&str]) -> Result<(), LabError> {
    archive_named(out, &[name], entries, &[], cmd)
}

/// Writes a one-layer OCI archive to `out` that `ctr images import` names
/// by each of `names` (one layer, one manifest, an index entry per name).
fn archive_named(
    out: &Path,
    names: &[&str],
    entries: &[Entry],
    entrypoint: &[&str],
    cmd: &[&str],
) -> Result<(), LabError> {
    let work = out.with_extension("build");
    let _ = fs::remove_dir_all(&work);
    let (root, oci) = (work.join("rootfs"), work.join("oci"));
    let blobs = oci.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(LabError::file("create", &blobs))?;
    for e in entries {
        stage(&root, e)?;
    }
    let layer = work.join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
        ])
        .arg(&root)
        .arg("-cf")
        .arg(&layer)
        .arg("."))?;
    let (layer_digest, layer_size) = blob(
        &blobs,
        &fs::read(&layer).map_err(LabError::file("read", &layer))?,
    )?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": if entrypoint.is_empty() { serde_json::Value::Null } else { json!(entrypoint) },
            "Cmd": cmd,
        },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    let (config_digest, config_size) = blob(&blobs, config.to_string().as_bytes())?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size }],
    });
    let (manifest_digest, manifest_size) = blob(&blobs, manifest.to_string().as_bytes())?;
    let manifests: Vec<_> = names
        .iter()
        .map(|name| {
            let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": { "architecture": "amd64", "os": "linux" },
                "annotations": { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag },
            })
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "manifests": manifests });
    write(&oci.join("index.json"), index.to_string().as_bytes())?;
    write(
        &oci.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let tmp = out.with_extension("tmp");
    run(Command::new("tar")
        .arg("-C")
        .arg(&oci)
        .arg("-cf")
        .arg(&tmp)
        .args(["oci-layout", "index.json", "blobs"]))?;
    fs::rename(&tmp, out).map_err(LabError::file("write", out))?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

fn stage(root: &Path, e: &Entry) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    let dst = match e {
        Entry::File { dst, .. }
        | Entry::Script { dst, .. }
        | Entry::Link { dst, .. }
        | Entry::Dir { dst } => root.join(dst),
    };
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).map_err(LabError::file("create", dir))?;
    }
    if dst.symlink_metadata().is_ok() {
        return Ok(());
    }
    match e {
        Entry::File { src, .. } => {
            // Our binaries carry debug data (~200 MB in a debug build); the image needs none of it.
            let stripped = Command::new("strip")
                .args(["--strip-debug", "-o"])
                .arg(&dst)
                .arg(src)
                .output();
            if !stripped.is_ok_and(|o| o.status.success()) {
                fs::copy(src, &dst).map_err(LabError::file("copy", src))?;
            }
        }
        Entry::Script { text, .. } => {
            write(&dst, text.as_bytes())?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))
                .map_err(LabError::file("chmod", &dst))?;
        }
        Entry::Link { target, .. } => {
            std::os::unix::fs::symlink(target, &dst).map_err(LabError::file("symlink", &dst))?;
        }
        Entry::Dir { .. } => fs::create_dir_all(&dst).map_err(LabError::file("create", &dst))?,
    }
    Ok(())
}

/// Stores a blob under its digest; returns the digest (`sha256:…`) and size.
fn blob(dir: &Path, data: &[u8]) -> Result<(String, usize), LabError> {
    let tmp = dir.join("incoming");
    write(&tmp, data)?;
    let out = Command::new("sha256sum")
        .arg(&tmp)
        .output()
        .map_err(|source| LabError::Spawn {
            program: "sha256sum".into(),
            source,
        })?;
    let hex: String = String::from_utf8_lossy(&out.stdout)
        .chars()
        .take(64)
        .collect();
    let path = dir.join(&hex);
    fs::rename(&tmp, &path).map_err(LabError::file("write", &path))?;
    Ok((format!("sha256:{hex}"), data.len()))
}

fn write(path: &Path, data: &[u8]) -> Result<(), LabError> {
    fs::write(path, data).map_err(LabError::file("write", path))
}

/// Imports an archive into a node's containerd (namespace `k8s.io`, where the CRI looks).
pub fn import(socket: &Path, archive: &Path) -> Result<(), LabError> {
    run(Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io", "images", "import"])
        .arg(archive))
}
