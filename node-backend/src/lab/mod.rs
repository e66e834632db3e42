//! `podnet lab`: an N-node cluster on one machine, built from network namespaces.
//!
//! Layout of a lab named `L` (default `pnlab`): namespace `L-lan` holds the
//! LAN bridge `lan0`; each node `nodeK` is namespace `L-nodeK` with `eth0`
//! (192.168.1.(10+K)/24) plugged into `lan0`, its own `podnet-agent`
//! process, and the pod range 10.244.K.0/24; each pod is namespace
//! `L-podK-J`, attached by the real `podnet-cni`. Everything the lab makes
//! is named with the prefix `L-` and recorded in `/run/podnet-lab/L/`, so
//! [`down`] removes it all even after a crash half-way through [`up`].

pub mod check;

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use podnet_core::net::MacAddr;
use podnet_core::topology::spec::{ClientSpec, ClusterSpec, NodeSpec, PodSpec, ServiceSpec};
use serde::{Deserialize, Serialize};

use crate::netlink::{self, NetlinkError, Netns};

/// Where labs keep their state.
pub const STATE_ROOT: &str = "/run/podnet-lab";

/// The machine outside the cluster on the lab's LAN (the seed's laptop).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);

/// The lab's NodePort service: UDP, so `lab check`'s responders answer it.
pub const NODE_PORT: u16 = 30080;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A clear message for the user.
    #[error("{0}")]
    Msg(String),
    /// The kernel refused.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

fn msg(s: impl Into<String>) -> LabError {
    LabError::Msg(s.into())
}

/// A node of the lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabNode {
    /// Name (`node1`).
    pub name: String,
    /// Its namespace.
    pub netns: String,
    /// eth0's address.
    pub ip: Ipv4Addr,
    /// Pod range.
    pub range: Ipv4Network,
    /// The agent's process id.
    pub agent_pid: Option<u32>,
}

/// A pod of the lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabPod {
    /// Name (`pod1-1`).
    pub name: String,
    /// Its node.
    pub node: String,
    /// Its namespace.
    pub netns: String,
    /// The address podnet-cni gave it.
    pub ip: Ipv4Addr,
}

/// Everything a lab made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabState {
    /// Lab name (the prefix of everything it creates).
    pub name: String,
    /// The cluster file the agents read.
    pub spec: ClusterSpec,
    /// Nodes.
    pub nodes: Vec<LabNode>,
    /// Pods.
    pub pods: Vec<LabPod>,
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Name and prefix.
    pub name: String,
    /// Number of nodes (1–200).
    pub nodes: usize,
    /// Pods per node.
    pub pods_per_node: usize,
    /// host-gw routes between nodes (off: each node only knows its own pods).
    pub cluster_network: bool,
    /// Directory with `podnet-agent` and `podnet-cni`.
    pub bin_dir: PathBuf,
    /// BIG TCP on the LAN: its links take GSO packets up to [`LAN_GSO_MAX`]
    /// instead of 64 KiB, like a NIC with BIG TCP on. Each agent passes
    /// the size on to its pods.
    pub big_tcp: bool,
}

/// The LAN's GSO size with BIG TCP: the most a veth takes (`tso_max_size`).
pub const LAN_GSO_MAX: u32 = netlink::GSO_MAX;

impl LabState {
    /// The state directory of a lab.
    pub fn dir(name: &str) -> PathBuf {
        Path::new(STATE_ROOT).join(name)
    }

    /// Reads a lab's state.
    pub fn load(name: &str) -> Result<LabState, LabError> {
        let path = LabState::dir(name).join("state.json");
        let text = fs::read(&path).map_err(|_| {
            msg(format!(
                "no lab named {name:?} is up (no {})",
                path.display()
            ))
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| msg(format!("{} is corrupt: {e}", path.display())))
    }

    fn save(&self) -> Result<(), LabError> {
        let dir = LabState::dir(&self.name);
        fs::create_dir_all(&dir)
            .map_err(|e| msg(format!("cannot create {}: {e}", dir.display())))?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| msg(e.to_string()))?;
        fs::write(dir.join("state.json"), text)
            .map_err(|e| msg(format!("cannot write lab state: {e}")))?;
        let text = serde_json::to_string_pretty(&self.spec).map_err(|e| msg(e.to_string()))?;
        fs::write(self.cluster_file(), &text)
            .map_err(|e| msg(format!("cannot write cluster file: {e}")))
    }

    /// The namespace of the machine outside the cluster.
    pub fn client_netns(&self) -> String {
        format!("{}-client", self.name)
    }

    /// Waits until every node's agent has applied the cluster file as it is now.
    pub fn wait_applied(&self, timeout: Duration) -> Result<(), LabError> {
        let text = fs::read_to_string(self.cluster_file()).map_err(|e| msg(e.to_string()))?;
        let want = crate::agent::version_of(&text);
        let start = Instant::now();
        for node in &self.nodes {
            let status = LabState::dir(&self.name).join(&node.name).join("applied");
            while fs::read_to_string(&status).ok().as_deref() != Some(want.as_str()) {
                if start.elapsed() > timeout {
                    return Err(msg(format!(
                        "the agent of {} has not applied the cluster file after {timeout:?}; see {}",
                        node.name,
                        LabState::dir(&self.name).join(&node.name).join("agent.log").display()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// The cluster file the agents read.
    pub fn cluster_file(&self) -> PathBuf {
        LabState::dir(&self.name).join("cluster.json")
    }

    /// A node's CNI config directory.
    pub fn cni_dir(&self, node: &str) -> PathBuf {
        LabState::dir(&self.name).join(node).join("net.d")
    }

    /// The namespace of a node, a pod or the client, by name.
    pub fn netns_of(&self, target: &str) -> Option<String> {
        self.member(target).map(|(netns, _)| netns)
    }

    /// The namespace and address of a node, a pod or the client, by name.
    pub fn member(&self, target: &str) -> Option<(String, Ipv4Addr)> {
        if target == "client" {
            return Some((self.client_netns(), CLIENT_IP));
        }
        let node = self
            .nodes
            .iter()
            .find(|n| n.name == target)
            .map(|n| (n.netns.clone(), n.ip));
        node.or_else(|| {
            self.pods
                .iter()
                .find(|p| p.name == target)
                .map(|p| (p.netns.clone(), p.ip))
        })
    }
}

fn open_ns(name: &str) -> Result<Netns, LabError> {
    Ok(Netns::open(&Path::new("/run/netns").join(name))?)
}

/// A command that will run inside namespace `ns` (and, if `detach`, in its own session).
pub fn command_in(
    ns: &str,
    program: impl AsRef<std::ffi::OsStr>,
    detach: bool,
) -> Result<Command, LabError> {
    let file = File::open(Path::new("/run/netns").join(ns))
        .map_err(|e| msg(format!("namespace {ns}: {e}")))?;
    let mut cmd = Command::new(program);
    // SAFETY: only async-signal-safe syscalls run between fork and exec; `file`
    // is moved into the closure, so its descriptor stays open until exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(
                BorrowedFd::borrow_raw(file.as_raw_fd()),
                nix::sched::CloneFlags::CLONE_NEWNET,
            )?;
            if detach {
                nix::unistd::setsid()?;
            }
            Ok(())
        });
    }
    Ok(cmd)
}

fn check_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(msg("podnet lab needs root: it creates network namespaces"))
    }
}

/// Starts (or restarts) a node's agent; returns its pid.
pub fn start_agent(state: &LabState, node: &LabNode, bin_dir: &Path) -> Result<u32, LabError> {
    let dir = LabState::dir(&state.name).join(&node.name);
    fs::create_dir_all(&dir).map_err(|e| msg(e.to_string()))?;
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .map_err(|e| msg(e.to_string()))?;
    let child = command_in(&node.netns, bin_dir.join("podnet-agent"), true)?
        .arg("--cluster")
        .arg(state.cluster_file())
        .args(["--node", &node.name, "--interval", "2"])
        .arg("--cni-conf-dir")
        .arg(state.cni_dir(&node.name))
        .arg("--cni-data-dir")
        .arg(dir.join("ipam"))
        .arg("--status-file")
        .arg(dir.join("applied"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| msg(e.to_string()))?)
        .stderr(log)
        .spawn()
        .map_err(|e| {
            msg(format!(
                "cannot start {}: {e}",
                bin_dir.join("podnet-agent").display()
            ))
        })?;
    Ok(child.id())
}

impl LabState {
    /// Stops a node's agent and starts a new one, recording its pid.
    pub fn restart_agent(&mut self, node: &str, bin_dir: &Path) -> Result<u32, LabError> {
        let i = self
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| msg(format!("no node {node:?}")))?;
        if let Some(pid) = self.nodes[i].agent_pid.take() {
            stop(pid);
        }
        let pid = start_agent(self, &self.nodes[i], bin_dir)?;
        self.nodes[i].agent_pid = Some(pid);
        self.save()?;
        Ok(pid)
    }
}

/// Processes whose command line names `needle` (the lab's cluster file):
/// the lab's agents, found even when the state file lost track of them.
fn processes_using(needle: &str) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let found = cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == needle.as_bytes());
        (found && pid != std::process::id()).then_some(pid)
    })
    .collect()
}

/// Where `podnet lab serve` records its process id.
pub fn serve_pid_file(name: &str) -> PathBuf {
    LabState::dir(name).join("serve.pid")
}

/// The `podnet lab serve` process of a lab, if one is running.
fn serving(name: &str) -> Option<u32> {
    let pid: u32 = fs::read_to_string(serve_pid_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // The pid may have been reused since: it must still be a `serve`.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmdline
        .split(|&b| b == 0)
        .any(|arg| arg == b"serve")
        .then_some(pid)
}

/// Stops a process the lab started (TERM, then KILL).
pub fn stop(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(pid as i32);
    if kill(pid, Signal::SIGTERM).is_ok() {
        let start = Instant::now();
        while kill(pid, None).is_ok() && start.elapsed() < Duration::from_secs(2) {
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
}

/// Builds a lab. On failure, what was built is torn down again.
pub fn up(cfg: &LabConfig) -> Result<LabState, LabError> {
    check_root()?;
    if cfg.nodes == 0 || cfg.nodes > 200 {
        return Err(msg("--nodes must be 1 to 200"));
    }
    if cfg.pods_per_node > 200 {
        return Err(msg("--pods-per-node must be at most 200"));
    }
    if cfg.name.is_empty()
        || cfg.name.len() > 20
        || !cfg.name.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(msg("--name must be 1-20 letters or digits"));
    }
    let clash = netlink::netns_with_prefix(&format!("{}-", cfg.name));
    if LabState::dir(&cfg.name).exists() || !clash.is_empty() {
        return Err(msg(format!(
            "a lab named {:?} already exists ({} namespaces); run `podnet lab down --name {}` first",
            cfg.name,
            clash.len(),
            cfg.name
        )));
    }
    build(cfg).inspect_err(|_| {
        let _ = down(&cfg.name);
    })
}

fn build(cfg: &LabConfig) -> Result<LabState, LabError> {
    let nodes: Vec<LabNode> = (1..=cfg.nodes)
        .map(|k| LabNode {
            name: format!("node{k}"),
            netns: format!("{}-node{k}", cfg.name),
            ip: Ipv4Addr::new(192, 168, 1, 10 + k as u8),
            range: Ipv4Network::new(Ipv4Addr::new(10, 244, k as u8, 0), 24).expect("/24"),
            agent_pid: None,
        })
        .collect();
    let spec = ClusterSpec {
        cluster_cidr: "10.244.0.0/16".into(),
        node_prefix: 24,
        underlay: "192.168.1.0/24".into(),
        cluster_network: cfg.cluster_network,
        nodes: nodes
            .iter()
            .map(|n| NodeSpec {
                name: n.name.clone(),
                ip: Some(n.ip),
                pod_cidr: Some(n.range.to_string()),
            })
            .collect(),
        pods: Vec::new(),
        services: Vec::new(),
        clients: vec![ClientSpec {
            name: "client".into(),
            ip: Some(CLIENT_IP),
        }],
    };
    let mut state = LabState {
        name: cfg.name.clone(),
        spec,
        nodes,
        pods: Vec::new(),
    };
    state.save()?;
    // The LAN: a bridge in its own namespace, one veth per node.
    let lan = format!("{}-lan", cfg.name);
    netlink::add_netns(&lan)?;
    let lan_ns = open_ns(&lan)?;
    netlink::run_in(Some(&lan_ns), |h| async move {
        netlink::ensure_bridge(&h, "lan0", None, [0x02, 0x50, 0x4e, 0, 0, 1])
            .await
            .map(|_| ())
    })?;
    let gso = cfg.big_tcp.then_some(LAN_GSO_MAX);
    for (k, node) in state.nodes.iter().enumerate() {
        netlink::add_netns(&node.netns)?;
        let ns = open_ns(&node.netns)?;
        let (fd, port) = (ns.fd(), format!("n{}", k + 1));
        let mac = MacAddr::from_ip([0x52, 0x54], node.ip).0;
        netlink::run_in(Some(&lan_ns), move |h| async move {
            let br = netlink::link(&h, "lan0")
                .await?
                .ok_or_else(|| NetlinkError::NoLink("lan0".into()))?;
            netlink::add_veth_into(&h, &port, "eth0", fd, None, Some(mac), gso).await?;
            netlink::attach(&h, &port, br.header.index, false)
                .await
                .map(|_| ())
        })?;
        let addr = Ipv4Network::new(node.ip, 24).expect("/24");
        netlink::run_in(Some(&ns), move |h| async move {
            netlink::set_up(&h, "lo").await?;
            let eth0 = netlink::link(&h, "eth0")
                .await?
                .ok_or_else(|| NetlinkError::NoLink("eth0".into()))?;
            netlink::set_up(&h, "eth0").await?;
            netlink::ensure_addr(&h, eth0.header.index, addr).await
        })?;
    }
    // The machine outside the cluster, on the same LAN.
    let client = state.client_netns();
    netlink::add_netns(&client)?;
    let client_ns = open_ns(&client)?;
    let fd = client_ns.fd();
    let client_mac = MacAddr::from_ip([0x52, 0x54], CLIENT_IP).0;
    netlink::run_in(Some(&lan_ns), move |h| async move {
        let br = netlink::link(&h, "lan0")
            .await?
            .ok_or_else(|| NetlinkError::NoLink("lan0".into()))?;
        netlink::add_veth_into(&h, "c0", "eth0", fd, None, Some(client_mac), gso).await?;
        netlink::attach(&h, "c0", br.header.index, false)
            .await
            .map(|_| ())
    })?;
    netlink::run_in(Some(&client_ns), move |h| async move {
        netlink::set_up(&h, "lo").await?;
        let eth0 = netlink::set_up(&h, "eth0").await?;
        netlink::ensure_addr(
            &h,
            eth0.header.index,
            Ipv4Network::new(CLIENT_IP, 24).expect("/24"),
        )
        .await
    })?;
    // The bridge's own limit only rises once it has ports.
    if let Some(size) = gso {
        netlink::run_in(Some(&lan_ns), move |h| async move {
            let br = netlink::link(&h, "lan0")
                .await?
                .ok_or_else(|| NetlinkError::NoLink("lan0".into()))?;
            netlink::follow_gso(&h, br.header.index, size)
                .await
                .map(|_| ())
        })?;
    }
    // One agent per node; each writes its CNI config once it has reconciled.
    for i in 0..state.nodes.len() {
        let pid = start_agent(&state, &state.nodes[i], &cfg.bin_dir)?;
        state.nodes[i].agent_pid = Some(pid);
        state.save()?;
    }
    state.wait_applied(Duration::from_secs(20))?;
    // Pods, through the real CNI plugin with the agent's config.
    for (k, node) in state.nodes.clone().iter().enumerate() {
        let list: serde_json::Value = serde_json::from_slice(
            &fs::read(state.cni_dir(&node.name).join("10-podnet.conflist"))
                .map_err(|e| msg(e.to_string()))?,
        )
        .map_err(|e| msg(e.to_string()))?;
        let mut plugin = list["plugins"][0].clone();
        plugin["cniVersion"] = list["cniVersion"].clone();
        plugin["name"] = list["name"].clone();
        for j in 1..=cfg.pods_per_node {
            let name = format!("pod{}-{j}", k + 1);
            let netns = format!("{}-{name}", cfg.name);
            netlink::add_netns(&netns)?;
            netlink::run_in(Some(&open_ns(&netns)?), |h| async move {
                netlink::set_up(&h, "lo").await.map(|_| ())
            })?;
            let ip = cni_add(&cfg.bin_dir, node, &netns, &name, &plugin)?;
            state.pods.push(LabPod {
                name,
                node: node.name.clone(),
                netns,
                ip,
            });
            state.save()?;
        }
    }
    // Tell the agents about the pods and a NodePort in front of the last one.
    state.spec.pods = state
        .pods
        .iter()
        .map(|p| PodSpec {
            name: p.name.clone(),
            node: p.node.clone(),
            ip: Some(p.ip),
        })
        .collect();
    if let Some(last) = state.pods.last() {
        state.spec.services = vec![ServiceSpec {
            name: "web".into(),
            protocol: "udp".into(),
            node_port: NODE_PORT,
            target_port: check::PORT,
            endpoints: vec![last.name.clone()],
            traffic_policy: None,
        }];
    }
    state.save()?;
    state.wait_applied(Duration::from_secs(20))?;
    Ok(state)
}

fn cni_add(
    bin_dir: &Path,
    node: &LabNode,
    netns: &str,
    name: &str,
    conf: &serde_json::Value,
) -> Result<Ipv4Addr, LabError> {
    use std::io::Write;
    let mut child = command_in(&node.netns, bin_dir.join("podnet-cni"), false)?
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", &bin_dir.display().to_string()),
        ])
        .env("CNI_CONTAINERID", name)
        .env("CNI_NETNS", Path::new("/run/netns").join(netns))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| msg(format!("cannot run podnet-cni: {e}")))?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(conf.to_string().as_bytes()));
    let out = child.wait_with_output().map_err(|e| msg(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if !out.status.success() {
        return Err(msg(format!(
            "podnet-cni ADD for {name} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    v["ips"][0]["address"]
        .as_str()
        .and_then(|a| a.split('/').next()?.parse().ok())
        .ok_or_else(|| {
            msg(format!(
                "podnet-cni ADD for {name} returned no address: {v}"
            ))
        })
}

/// What `down` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Agents stopped.
    pub agents: usize,
    /// `podnet lab serve` processes stopped.
    pub servers: usize,
    /// Namespaces deleted.
    pub namespaces: usize,
}

/// Removes every process, namespace and file of a lab; safe to run twice or after a crash.
pub fn down(name: &str) -> Result<DownReport, LabError> {
    check_root()?;
    let mut report = DownReport::default();
    let cluster_file = LabState::dir(name).join("cluster.json");
    for pid in processes_using(&cluster_file.display().to_string()) {
        stop(pid);
        report.agents += 1;
    }
    // A live server keeps the namespaces alive through its capture sockets.
    if let Some(pid) = serving(name) {
        stop(pid);
        report.servers += 1;
    }
    // By prefix, so namespaces a crashed `up` never recorded go too. Pods
    // first: their veths go with them, then nodes, then the LAN.
    let mut all = netlink::netns_with_prefix(&format!("{name}-"));
    all.sort_by_key(|n| (!n.contains("-pod"), n.ends_with("-lan")));
    for ns in all {
        if netlink::del_netns(&ns)? {
            report.namespaces += 1;
        }
    }
    let dir = LabState::dir(name);
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .map_err(|e| msg(format!("cannot remove {}: {e}", dir.display())))?;
    }
    Ok(report)
}

/// The lab as text: nodes, ranges, agents, pods, and each node's routes read back from the kernel.
pub fn status(state: &LabState) -> Result<String, LabError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lab {}  LAN {}  cluster {}",
        state.name, state.spec.underlay, state.spec.cluster_cidr
    );
    for n in &state.nodes {
        let alive = n.agent_pid.is_some_and(|p| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p as i32), None).is_ok()
        });
        let _ = writeln!(
            out,
            "\n{}  eth0 {}  pods {}  agent {}",
            n.name,
            n.ip,
            n.range,
            if alive { "running" } else { "NOT running" }
        );
        for p in state.pods.iter().filter(|p| p.node == n.name) {
            let _ = writeln!(out, "  {:<10} {}", p.name, p.ip);
        }
        let routes = netlink::run_in(Some(&open_ns(&n.netns)?), |h| async move {
            netlink::routes(&h).await
        })?;
        let _ = writeln!(out, "  routes:");
        for r in routes {
            let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
            let proto = match r.proto {
                2 => " proto kernel".to_string(),
                150 => " proto podnet".to_string(),
                p => format!(" proto {p}"),
            };
            let _ = writeln!(out, "    {}{via}{proto}", r.dst);
        }
    }
    Ok(out)
}
