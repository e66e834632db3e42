//! A Kubernetes node inside a lab namespace: containerd, a kubelet and
//! kube-proxy, each started in the node's network namespace **and** in a
//! mount namespace of the node's own.
//!
//! The mount namespace is what makes one machine hold several nodes: inside
//! it, the paths a node keeps to itself ([`NODE_PATHS`]: the CNI config and
//! plugin directories, IPAM state, pod logs, containerd's shim sockets and
//! the pod network namespaces) are bind mounts of directories under the
//! node's lab directory. So `deploy/podnet.yaml`'s hostPath volumes (
//! `/etc/cni/net.d`, `/opt/cni/bin`, …) land on *this* node's files, as they
//! would on a machine of its own, and containerd finds its CNI config at the
//! default `/etc/cni/net.d`. Container processes start in that namespace,
//! which lives on as the `nsfs` mount at `ns/mnt` until `lab down` unmounts
//! it; every mount the kubelet and containerd made inside goes with it.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::images::{self, run};
use crate::control_plane::CLUSTER_CIDR;
use crate::error::LabError;
use crate::process::{command_in_ns, spawn_logged, stop, uts_ns_beside};
use crate::state::{ControlPlane, NodeRuntime};
use podnet_core::services::dns::{CLUSTER_DOMAIN, DNS_IP};

/// Paths each node keeps to itself: the path on the node, and the directory
/// (under the node's runtime directory) mounted there.
pub const NODE_PATHS: &[(&str, &str)] = &[
    ("/etc/cni/net.d", "etc-cni-net.d"),
    ("/opt/cni/bin", "opt-cni-bin"),
    ("/var/lib/cni", "var-lib-cni"),
    ("/run/podnet", "run-podnet"),
    ("/var/log/pods", "var-log-pods"),
    ("/var/log/containers", "var-log-containers"),
    ("/run/containerd", "run-containerd"),
    // containerd names each pod's network namespace here: inside the node
    // they stay out of the machine's `ip netns list`.
    ("/run/netns", "netns"),
];

/// The standard plugins a node image carries beside its network's: the CRI
/// runs `loopback` for every pod's `lo`.
const NODE_IMAGE_PLUGINS: &[&str] = &["loopback"];
/// Where Debian's containernetworking-plugins has them.
const DEBIAN_CNI_DIR: &str = "/usr/lib/cni";

impl NodeRuntime {
    /// containerd's socket (the node's CRI endpoint).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// The file that keeps the node's mount namespace (its UTS namespace,
    /// with the node's hostname, is kept beside it: [`uts_ns_beside`]).
    pub fn mount_ns(&self) -> PathBuf {
        self.dir.join("ns/mnt")
    }

    /// Where a node path (one of [`NODE_PATHS`]) is on the machine.
    pub fn host_path(&self, node_path: &str) -> PathBuf {
        let (path, dir) = NODE_PATHS
            .iter()
            .find(|(p, _)| node_path.starts_with(p))
            .expect("one of NODE_PATHS");
        let rest = node_path[path.len()..].trim_start_matches('/');
        self.dir.join(dir).join(rest)
    }

    /// Makes the node's directories, its mount namespace, the standard CNI
    /// plugins and containerd's config. `record` lists host directories the
    /// lab had to create as mount points (so `down` removes them again).
    pub fn prepare(dir: PathBuf, name: &str, record: &Path) -> Result<NodeRuntime, LabError> {
        let rt = NodeRuntime {
            dir,
            containerd: None,
            kubelet: None,
            kube_proxy: None,
        };
        for (path, sub) in NODE_PATHS {
            let d = rt.dir.join(sub);
            fs::create_dir_all(&d).map_err(LabError::file("create", &d))?;
            ensure_host_dir(Path::new(path), record)?;
        }
        for plugin in NODE_IMAGE_PLUGINS {
            let src = Path::new(DEBIAN_CNI_DIR).join(plugin);
            if !src.is_file() {
                return Err(LabError::Missing {
                    what: src.display().to_string(),
                    fix: "apt-get install containernetworking-plugins (or bash scripts/install.sh)",
                });
            }
            let dst = rt.host_path("/opt/cni/bin").join(plugin);
            fs::copy(&src, &dst).map_err(LabError::file("copy", &src))?;
        }
        rt.make_namespaces(name)?;
        let conf = rt.dir.join("containerd.toml");
        fs::write(&conf, rt.containerd_config()).map_err(LabError::file("write", &conf))?;
        Ok(rt)
    }

    /// A private mount namespace kept at [`mount_ns`](Self::mount_ns), with
    /// the node's own paths bound in, and a UTS namespace whose hostname is
    /// the node's name: separate machines have their own (the kubelet's
    /// hostNetwork Pods and Kubernetes' tests see it).
    fn make_namespaces(&self, name: &str) -> Result<(), LabError> {
        let ns_dir = self.dir.join("ns");
        fs::create_dir_all(&ns_dir).map_err(LabError::file("create", &ns_dir))?;
        // The namespace file must sit on a private mount, or the new
        // namespace would see (and pin) itself.
        run(Command::new("mount")
            .arg("--bind")
            .arg(&ns_dir)
            .arg(&ns_dir))?;
        run(Command::new("mount").arg("--make-private").arg(&ns_dir))?;
        let file = self.mount_ns();
        let uts = uts_ns_beside(&file);
        for f in [&file, &uts] {
            fs::write(f, b"").map_err(LabError::file("create", f))?;
        }
        let mut script = String::from("set -e\n");
        for (path, sub) in NODE_PATHS {
            script.push_str(&format!(
                "mount --bind '{}' '{path}'\n",
                self.dir.join(sub).display()
            ));
        }
        // The node's name is the lab's (nodeK): no quoting needed, checked anyway.
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(LabError::Kubernetes(format!("{name:?} is not a hostname")));
        }
        script.push_str(&format!("hostname {name}\n"));
        run(Command::new("unshare")
            .arg(format!("--mount={}", file.display()))
            .arg(format!("--uts={}", uts.display()))
            .args(["--propagation", "private", "--", "sh", "-c", &script]))
    }

    fn containerd_config(&self) -> String {
        let d = self.dir.display();
        format!(
            r#"# containerd of one lab node (written by podnet lab up --kubernetes)
version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{d}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Root here may lack CAP_SYS_RESOURCE: never ask runc for a lower OOM score than ours.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
"#,
            pause = images::PAUSE
        )
    }

    fn command(
        &self,
        netns: &str,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> Result<Command, LabError> {
        command_in_ns(netns, Some(&self.mount_ns()), program, true)
    }

    /// Starts containerd and waits until it answers on its socket.
    pub fn start_containerd(&mut self, netns: &str) -> Result<(), LabError> {
        let mut cmd = self.command(netns, "containerd")?;
        cmd.arg("--config").arg(self.dir.join("containerd.toml"));
        self.containerd = Some(spawn_logged(
            cmd,
            "containerd".into(),
            &self.dir.join("containerd.log"),
        )?);
        let start = Instant::now();
        loop {
            let ok = Command::new("ctr")
                .arg("--address")
                .arg(self.socket())
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(LabError::Kubernetes(format!(
                    "containerd did not answer on {} in 30 s; see {}",
                    self.socket().display(),
                    self.dir.join("containerd.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the kubelet: it registers Node `name` with InternalIP `ip`.
    pub fn start_kubelet(
        &mut self,
        netns: &str,
        name: &str,
        ip: Ipv4Addr,
        cp: &ControlPlane,
    ) -> Result<(), LabError> {
        let d = self.dir.display();
        // The node's own resolver settings, which Pods with dnsPolicy
        // Default get and ClusterFirst Pods append to their search list:
        // none, since the lab has no DNS upstream (not the machine's).
        let resolv = self.dir.join("resolv.conf");
        fs::write(&resolv, "# a podnet lab node: no DNS upstream\n")
            .map_err(LabError::file("write", &resolv))?;
        let mut cmd = self.command(netns, cp.bin.join("kubelet"))?;
        cmd.arg(format!("--kubeconfig={}", cp.kubeconfig.display()))
            .args([
                "--container-runtime=remote".to_string(),
                format!(
                    "--container-runtime-endpoint=unix://{}",
                    self.socket().display()
                ),
                format!("--hostname-override={name}"),
                format!("--node-ip={ip}"),
                // ClusterFirst Pods ask the cluster DNS (deploy/dns.yaml).
                format!("--cluster-dns={DNS_IP}"),
                format!("--cluster-domain={CLUSTER_DOMAIN}"),
                format!("--resolv-conf={}", resolv.display()),
                format!("--root-dir={d}/kubelet"),
                format!("--cert-dir={d}/kubelet-pki"),
                format!("--volume-plugin-dir={d}/volume-plugins"),
                format!("--pod-infra-container-image={}", images::PAUSE),
                // What lets a kubelet run beside others on one machine
                // without systemd: no QoS cgroups, no allocatable enforcement,
                // no eviction or image GC by the machine's (shared) usage.
                "--cgroup-driver=cgroupfs".into(),
                "--cgroups-per-qos=false".into(),
                "--enforce-node-allocatable=".into(),
                "--fail-swap-on=false".into(),
                "--eviction-hard=".into(),
                "--image-gc-high-threshold=100".into(),
                "--image-gc-low-threshold=99".into(),
                "--read-only-port=0".into(),
                // Ready follows the CNI config within seconds, not the default 10 s.
                "--node-status-update-frequency=2s".into(),
            ]);
        self.kubelet = Some(spawn_logged(
            cmd,
            "kubelet".into(),
            &self.dir.join("kubelet.log"),
        )?);
        Ok(())
    }

    /// Starts kube-proxy (iptables mode), so NodePort Services are kube-proxy's, as on a real cluster.
    pub fn start_kube_proxy(
        &mut self,
        netns: &str,
        name: &str,
        cp: &ControlPlane,
    ) -> Result<(), LabError> {
        let mut cmd = self.command(netns, cp.bin.join("kube-proxy"))?;
        cmd.arg(format!("--kubeconfig={}", cp.kubeconfig.display()))
            .args([
                format!("--hostname-override={name}"),
                "--proxy-mode=iptables".into(),
                format!("--cluster-cidr={CLUSTER_CIDR}"),
                // The conntrack table size and timeouts are the machine's, not a node's: leave them.
                "--conntrack-max-per-core=0".into(),
                "--conntrack-tcp-timeout-established=0".into(),
                "--conntrack-tcp-timeout-close-wait=0".into(),
                "--metrics-bind-address=127.0.0.1:10249".into(),
            ]);
        self.kube_proxy = Some(spawn_logged(
            cmd,
            "kube-proxy".into(),
            &self.dir.join("kube-proxy.log"),
        )?);
        Ok(())
    }

    /// Stops the kubelet (its pods keep running), as a crash or an upgrade would.
    pub fn stop_kubelet(&mut self) {
        if let Some(pid) = self.kubelet.take() {
            stop(pid);
        }
    }

    /// Stops containerd (the shims and pods keep running).
    pub fn stop_containerd(&mut self) {
        if let Some(pid) = self.containerd.take() {
            stop(pid);
        }
    }

    /// Imports an image archive into this node's containerd.
    pub fn import(&self, archive: &Path) -> Result<(), LabError> {
        images::import(&self.socket(), archive)
    }

    /// Every running pod sandbox: (namespace, pod name, PID of its pause
    /// process, whose `/proc/PID/ns/net` is the pod's network namespace,
    /// sandbox id: the `CNI_CONTAINERID` of its ADD and DEL).
    pub fn sandboxes(&self) -> Vec<(String, String, u32, String)> {
        let ctr = |args: &[&str]| {
            Command::new("ctr")
                .arg("--address")
                .arg(self.socket())
                .args(["--namespace", "k8s.io"])
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let Some(tasks) = ctr(&["tasks", "ls"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in tasks.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(id), Some(Ok(pid)), Some(&"RUNNING")) =
                (f.first(), f.get(1).map(|p| p.parse::<u32>()), f.get(2))
            else {
                continue;
            };
            let Some(info) = ctr(&["containers", "info", id]) else {
                continue;
            };
            let info: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
            let labels = &info["Labels"];
            if labels["io.cri-containerd.kind"] != "sandbox" {
                continue;
            }
            if let (Some(ns), Some(name)) = (
                labels["io.kubernetes.pod.namespace"].as_str(),
                labels["io.kubernetes.pod.name"].as_str(),
            ) {
                out.push((ns.to_string(), name.to_string(), pid, id.to_string()));
            }
        }
        out
    }
}

/// Where the host directories Kubernetes labs created as mount points are
/// recorded: shared by all labs, since another lab's nodes may be using
/// them (removing a mount point detaches it in every namespace).
pub fn host_dirs_record() -> PathBuf {
    Path::new(crate::STATE_ROOT).join("host-dirs")
}

/// Creates a host directory the node paths are mounted on, when missing,
/// and records every directory it made, outermost first.
fn ensure_host_dir(path: &Path, record: &Path) -> Result<(), LabError> {
    let mut made = Vec::new();
    let mut p = path;
    while !p.exists() {
        made.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    if made.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(path).map_err(LabError::file("create", path))?;
    let mut text = fs::read_to_string(record).unwrap_or_default();
    for d in made.iter().rev() {
        text.push_str(&format!("{}\n", d.display()));
    }
    fs::write(record, text).map_err(LabError::file("write", record))
}

/// Removes what [`ensure_host_dir`] made, innermost first, where still
/// empty, once no lab is left that could be using them.
pub fn remove_host_dirs() {
    let record = host_dirs_record();
    let labs_left = fs::read_dir(crate::STATE_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().is_dir());
    let Ok(text) = fs::read_to_string(&record) else {
        return;
    };
    if labs_left {
        return;
    }
    for d in text.lines().rev() {
        let _ = fs::remove_dir(d);
    }
    let _ = fs::remove_file(&record);
}

/// Unmounts a node's mount namespace (after its processes are gone): every
/// mount made inside it goes with it.
pub fn release_mount_ns(dir: &Path) {
    let ns_dir = dir.join("ns");
    for target in [ns_dir.join("mnt"), ns_dir.join("uts"), ns_dir] {
        let _ = Command::new("umount").arg("--lazy").arg(&target).output();
    }
}
