//! A real Kubernetes control plane inside the lab: etcd, kube-apiserver and
//! kube-controller-manager in the namespace `L-cp` on the lab's LAN.
//!
//! The binaries are Kubernetes 1.20.2, built from Debian's source package by
//! `scripts/kube-build.sh` (into [`DEFAULT_KUBE_BIN`], or `PODNET_KUBE_BIN`);
//! etcd is Debian's `etcd-server`. The API server listens on the LAN
//! address with a self-signed certificate and a static admin token; the
//! controller manager runs node IPAM (`--allocate-node-cidrs`), which is what
//! writes every Node's `spec.podCIDR`. Everything lives under the lab's state
//! directory, and every process names that directory on its command line, so
//! `lab down` finds them even without the state file.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use podnet_core::join::Taken;

use crate::error::LabError;
use crate::process::{command_in, run_checked, spawn_logged, stop, which};
use crate::state::ControlPlane;

/// Where `scripts/kube-build.sh` puts the Kubernetes binaries.
pub const DEFAULT_KUBE_BIN: &str = "/var/cache/podnet/kubernetes/bin";
/// The lab's cluster range, as kube-controller-manager allocates from it.
pub const CLUSTER_CIDR: &str = podnet_core::alloc::DEFAULT_CLUSTER_CIDR;
/// The Service range the API server is given (no Service is used yet).
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
/// The API server's port.
pub const API_PORT: u16 = 6443;

/// The Kubernetes binaries' directory, checked: a clear error names the command that builds them.
pub fn kube_bin() -> Result<PathBuf, LabError> {
    let dir = std::env::var_os("PODNET_KUBE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_KUBE_BIN.into());
    for b in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ] {
        if !dir.join(b).is_file() {
            return Err(LabError::Missing {
                what: format!("{} (Kubernetes 1.20.2)", dir.join(b).display()),
                fix: "bash scripts/kube-build.sh (builds it from Debian's source package, ~15 min once)",
            });
        }
    }
    for (b, pkg) in [
        ("etcd", "etcd-server"),
        ("kubectl", "kubernetes-client"),
        ("openssl", "openssl"),
    ] {
        if which(b).is_none() {
            return Err(LabError::Missing {
                what: b.into(),
                fix: match pkg {
                    "etcd-server" => "apt-get install etcd-server (or bash scripts/install.sh)",
                    "kubernetes-client" => {
                        "apt-get install kubernetes-client (or bash scripts/install.sh)"
                    }
                    _ => "apt-get install openssl",
                },
            });
        }
    }
    Ok(dir)
}

/// The admin token in the API server's token file (the lab is a sandbox; nothing else can reach it).
fn token(dir: &Path) -> Result<String, LabError> {
    let path = dir.join("token");
    if let Ok(t) = fs::read_to_string(&path) {
        return Ok(t.trim().to_string());
    }
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(LabError::file("read", "/dev/urandom"))?;
    let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    fs::write(&path, &t).map_err(LabError::file("write", &path))?;
    Ok(t)
}

impl ControlPlane {
    /// Starts etcd, the API server and the controller manager in `netns`
    /// (which must exist and have `ip` on its LAN link), and waits until the
    /// API server is ready.
    /// With `full`, also kube-scheduler and every controller a cluster with
    /// kubelets needs.
    pub fn start(
        netns: &str,
        ip: Ipv4Addr,
        dir: &Path,
        full: bool,
    ) -> Result<ControlPlane, LabError> {
        let bin = kube_bin()?;
        fs::create_dir_all(dir).map_err(LabError::file("create", dir))?;
        let mut cp = ControlPlane {
            netns: netns.into(),
            ip,
            dir: dir.into(),
            kubeconfig: dir.join("kubeconfig"),
            bin,
            etcd: None,
            apiserver: None,
            controller_manager: None,
            scheduler: None,
            full,
            proxy: None,
        };
        cp.write_keys_and_kubeconfig()?;
        cp.etcd = Some(cp.spawn("etcd", "etcd".into(), &cp.etcd_args())?);
        cp.start_apiserver()?;
        let cm = cp.bin.join("kube-controller-manager");
        cp.controller_manager =
            Some(cp.spawn("controller-manager", cm, &cp.controller_manager_args())?);
        if full {
            let args = [
                format!("--kubeconfig={}", cp.kubeconfig.display()),
                "--leader-elect=false".into(),
            ];
            cp.scheduler = Some(cp.spawn("scheduler", cp.bin.join("kube-scheduler"), &args)?);
        }
        cp.start_proxy()?;
        Ok(cp)
    }

    /// Starts `podnet lab api-proxy` (when this program is `podnet`) and
    /// waits for the host-side kubeconfig it writes.
    fn start_proxy(&mut self) -> Result<(), LabError> {
        let Ok(me) = std::env::current_exe() else {
            return Ok(());
        };
        if me.file_name().is_none_or(|n| n != "podnet") {
            return Ok(());
        }
        let out = crate::api_proxy::host_kubeconfig(&self.dir);
        let _ = fs::remove_file(&out);
        let mut cmd = Command::new(&me);
        cmd.args(["lab", "api-proxy", "--netns", &self.netns])
            .arg(format!("--to={}:{API_PORT}", self.ip))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--out")
            .arg(&out);
        // Its own session: it outlives `lab up`, as the other processes do.
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let pid = spawn_logged(cmd, me, &self.dir.join("api-proxy.log"))?;
        self.proxy = Some(pid);
        let start = Instant::now();
        while !out.is_file() {
            if !crate::process::alive(pid) || start.elapsed() > Duration::from_secs(10) {
                return Err(LabError::ControlPlane(format!(
                    "podnet lab api-proxy did not start; see {}",
                    self.dir.join("api-proxy.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn write_keys_and_kubeconfig(&self) -> Result<(), LabError> {
        let (key, public) = (self.dir.join("sa.key"), self.dir.join("sa.pub"));
        if !key.is_file() {
            run_checked(
                Command::new("openssl")
                    .args(["genrsa", "-out"])
                    .arg(&key)
                    .arg("2048"),
                LabError::ControlPlane,
            )?;
            run_checked(
                Command::new("openssl")
                    .args(["rsa", "-pubout", "-in"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&public),
                LabError::ControlPlane,
            )?;
        }
        let token = token(&self.dir)?;
        let tokens = self.dir.join("tokens.csv");
        fs::write(&tokens, format!("{token},admin,admin,system:masters\n"))
            .map_err(LabError::file("write", &tokens))?;
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://{}:{API_PORT}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: admin\ncurrent-context: lab\n",
            self.ip
        );
        fs::write(&self.kubeconfig, kubeconfig).map_err(LabError::file("write", &self.kubeconfig))
    }

    fn etcd_args(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("--data-dir={d}/etcd"),
            "--listen-client-urls=http://127.0.0.1:2379".into(),
            "--advertise-client-urls=http://127.0.0.1:2379".into(),
            "--listen-peer-urls=http://127.0.0.1:2380".into(),
            "--log-level=warn".into(),
        ]
    }

    fn apiserver_args(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            "--etcd-servers=http://127.0.0.1:2379".into(),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--service-account-key-file={d}/sa.pub"),
            format!("--service-account-signing-key-file={d}/sa.key"),
            format!("--token-auth-file={d}/tokens.csv"),
            "--authorization-mode=RBAC".into(),
            format!("--secure-port={API_PORT}"),
            format!("--bind-address={}", self.ip),
            format!("--advertise-address={}", self.ip),
            format!("--cert-dir={d}/pki"),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--insecure-port=0".into(),
            // As kubeadm sets it: a CNI agent's DaemonSet is privileged.
            "--allow-privileged=true".into(),
            // kubectl exec, logs and port-forward go through the API server
            // to the kubelet: at the Node's address, as kubeadm sets it (a
            // node's name resolves nowhere in the lab).
            "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP".into(),
        ]
    }

    fn controller_manager_args(&self) -> Vec<String> {
        let d = self.dir.display();
        let mut args = vec![
            format!("--kubeconfig={d}/kubeconfig"),
            "--allocate-node-cidrs".into(),
            format!("--cluster-cidr={CLUSTER_CIDR}"),
            "--node-cidr-mask-size=24".into(),
            "--leader-elect=false".into(),
        ];
        if self.full {
            // Tokens for Pods' service accounts, with the API server's own
            // certificate as their CA, so in-cluster clients verify it.
            args.extend([
                "--controllers=*".into(),
                format!("--service-account-private-key-file={d}/sa.key"),
                format!("--root-ca-file={d}/pki/apiserver.crt"),
            ]);
        } else {
            args.push("--controllers=nodeipam,serviceaccount".into());
        }
        args
    }

    /// One process in the control-plane namespace, its output in `<name>.log`.
    fn spawn(&self, name: &str, program: PathBuf, args: &[String]) -> Result<u32, LabError> {
        let mut cmd = command_in(&self.netns, &program, true)?;
        cmd.args(args);
        spawn_logged(cmd, program, &self.dir.join(format!("{name}.log")))
    }

    /// Starts the API server (again) and waits until it answers `/readyz`.
    pub fn start_apiserver(&mut self) -> Result<(), LabError> {
        let program = self.bin.join("kube-apiserver");
        self.apiserver = Some(self.spawn("apiserver", program, &self.apiserver_args())?);
        self.wait_ready(Duration::from_secs(60))
    }

    /// Stops the API server (the others keep running), as an outage would.
    pub fn stop_apiserver(&mut self) {
        if let Some(pid) = self.apiserver.take() {
            stop(pid);
        }
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), LabError> {
        let start = Instant::now();
        loop {
            let ok = self
                .kubectl(&["get", "--raw", "/readyz"], None)
                .is_ok_and(|out| out.trim() == "ok");
            if ok {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(LabError::ControlPlane(format!(
                    "kube-apiserver did not become ready in {timeout:?}; see {}",
                    self.dir.join("apiserver.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs kubectl against the lab's API server, from its namespace; returns stdout.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
        use std::io::Write;
        let mut child = command_in(&self.netns, "kubectl", false)?
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn {
                program: "kubectl".into(),
                source,
            })?;
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            let _ = input.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(|source| LabError::Spawn {
            program: "kubectl".into(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(LabError::Kubectl {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Registers a Node as its kubelet would: name, InternalIP and Hostname.
    /// (Nodes may carry their status on create.)
    pub fn register_node(&self, name: &str, ip: Ipv4Addr) -> Result<(), LabError> {
        let node = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name } },
            "status": { "addresses": [
                { "type": "InternalIP", "address": ip.to_string() },
                { "type": "Hostname", "address": name },
            ] },
        });
        self.kubectl(&["create", "-f", "-"], Some(&node.to_string()))
            .map(|_| ())
    }

    /// Every Node's podCIDR, once node IPAM has given each of `nodes` one.
    pub fn wait_pod_cidrs(
        &self,
        nodes: &[&str],
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, LabError> {
        let start = Instant::now();
        loop {
            let list: serde_json::Value =
                serde_json::from_str(&self.kubectl(&["get", "nodes", "-o", "json"], None)?)
                    .unwrap_or_default();
            let got: Vec<(String, String)> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| {
                    let name = n["metadata"]["name"].as_str()?;
                    let cidr = n["spec"]["podCIDR"].as_str()?;
                    Some((name.to_string(), cidr.to_string()))
                })
                .collect();
            if nodes.iter().all(|n| got.iter().any(|(g, _)| g == n)) {
                return Ok(got);
            }
            if start.elapsed() > timeout {
                return Err(LabError::ControlPlane(format!(
                    "kube-controller-manager gave no podCIDR to {nodes:?} in {timeout:?}; see {}",
                    self.dir.join("controller-manager.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops every process (safe to call twice). The processes outlive the
    /// `podnet lab up` that started them; `lab down` stops them.
    pub fn stop(&mut self) {
        for pid in [
            self.proxy.take(),
            self.scheduler.take(),
            self.controller_manager.take(),
            self.apiserver.take(),
            self.etcd.take(),
        ]
        .into_iter()
        .flatten()
        {
            stop(pid);
        }
    }
}

/// What kube-controller-manager 1.20's range allocator says of each range
/// it took, in its log's order: "Set node N PodCIDR to [...]" when node N
/// kept it, "… Releasing the new one" or "… Releasing allocated CIDR" when
/// it gave it back (range_allocator.go's updateCIDRsAllocation).
pub fn node_ipam_taken(log: &str) -> Vec<Taken<'_>> {
    log.lines()
        .filter_map(|l| {
            if let Some((_, rest)) = l.split_once("Set node ") {
                rest.split_once(" PodCIDR to ")
                    .map(|(node, _)| Taken::Kept(node))
            } else if l.contains("Releasing the new one") || l.contains("Releasing allocated CIDR")
            {
                Some(Taken::Released)
            } else {
                None
            }
        })
        .collect()
}
