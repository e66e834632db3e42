//! `podnet`: the model in a terminal.
//!
//! Every line printed is computed by podnet-core: the plan of a node is what
//! the agent will program, a trace is what the browser animates.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use clap::{Parser, Subcommand};
use podnet_core::forward::{Cell, Matrix, Network, ProbeKind, Proto};
use podnet_core::plan::Plan;
use podnet_core::topology::{scenario, Backend, Cluster, Endpoint, Node};
use podnet_core::{Error, Result};

use crate as lab;
use crate::{LabError, LabState};

/// Explain and check a Kubernetes pod network.
#[derive(Debug, Parser)]
#[command(name = "podnet", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Which scenario, and whether its cluster network is on.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// Built-in scenario: one-node, unconnected-nodes, demo, node-port,
    /// routed-host-gw, routed-vxlan, routed-auto (see `podnet scenarios`).
    #[arg(short, long, default_value = "demo")]
    pub scenario: String,
    /// Turn the cluster network (host-gw routes) off, as before a CNI plugin runs.
    #[arg(long)]
    pub no_cluster_network: bool,
}

impl ScenarioArgs {
    fn cluster(&self) -> Result<Cluster> {
        let mut c = scenario::by_name(&self.scenario).ok_or_else(|| Error::Unknown {
            kind: "scenario",
            name: format!("{} (try: {})", self.scenario, scenario::NAMES.join(", ")),
        })?;
        if self.no_cluster_network {
            c.set_backend(Backend::None);
        }
        Ok(c)
    }
}

/// `--backend`: a cluster network's backend, checked by core.
fn parse_backend(s: &str) -> std::result::Result<Backend, String> {
    Backend::of_network(s).map_err(|e| e.to_string())
}

/// `--proto`: core's protocol names (ping, udp, tcp), checked by core.
fn parse_proto(s: &str) -> std::result::Result<Proto, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in scenarios.
    Scenarios,
    /// Walk through the seed's story: every scenario and the packet that matters in it.
    Story,
    /// Show a cluster: nodes, ranges, pods, and each node's plan (bridge, routes).
    Show(ScenarioArgs),
    /// Trace one packet hop by hop.
    Trace {
        /// Scenario options.
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Sender: a pod, node or client name.
        from: String,
        /// Receiver: a pod, node or client name, or an IPv4 address.
        to: String,
        /// What to send: ping, udp or tcp.
        #[arg(short, long, default_value = "ping", value_parser = parse_proto)]
        proto: Proto,
        /// Destination port for udp and tcp.
        #[arg(long, default_value_t = 80)]
        port: u16,
        /// Also write the packet to this pcapng file, as captured on every
        /// wire it crossed: one interface per veth pair or LAN, a comment
        /// per frame naming its hop (Wireshark; VXLAN as on the wire, UDP 8472).
        #[arg(long)]
        pcap: Option<std::path::PathBuf>,
    },
    /// The CNI requirements: every node and pod pings every node and pod.
    Matrix(ScenarioArgs),
    /// Build podnet's container image (`podnet:0.1.0`, as deploy/podnet.yaml
    /// names it) as an OCI archive, for `ctr -n k8s.io images import` on
    /// every node. Holds podnet-agent, podnet-cni, podnet-dns, portmap, install-cni and nft.
    Image {
        /// Where to write the archive.
        #[arg(long, default_value = "podnet.oci.tar")]
        out: std::path::PathBuf,
        /// Where podnet-agent and podnet-cni are (default: next to this program).
        #[arg(long)]
        bin_dir: Option<std::path::PathBuf>,
    },
    /// A real multi-node cluster on this machine, from network namespaces (needs root).
    Lab {
        /// What to do with it.
        #[command(subcommand)]
        action: LabAction,
        /// Lab name: the prefix of every namespace it creates.
        #[arg(long, default_value = "pnlab", global = true)]
        name: String,
    },
}

/// `podnet lab` actions.
#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Build the lab: LAN, nodes with their agents, pods through podnet-cni.
    Up {
        /// Number of nodes.
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Pods on each node.
        #[arg(long, default_value_t = 2)]
        pods_per_node: usize,
        /// Build it without host-gw routes (each node only reaches its own pods).
        #[arg(long, conflicts_with = "backend")]
        no_cluster_network: bool,
        /// How pod traffic crosses nodes: host-gw (routes via peers, which
        /// must share a LAN), vxlan (every peer through podnet.1, VNI 1,
        /// UDP 8472, pod MTU 1450) or auto (host-gw on a LAN, VXLAN across).
        #[arg(long, default_value = "host-gw", value_parser = parse_backend)]
        backend: Backend,
        /// Put the nodes on this many LANs (192.168.1.0/24, 192.168.2.0/24, …;
        /// node K on LAN (K-1) mod N) joined by a router namespace NAME-router
        /// with .1 on each.
        #[arg(long, default_value_t = 1)]
        lans: usize,
        /// Keep the LAN's links at the legacy 64 KiB GSO size, like a NIC
        /// without BIG TCP (by default they take 512 KiB and pods follow).
        #[arg(long)]
        no_big_tcp: bool,
        /// A real Kubernetes control plane on the LAN (etcd, kube-apiserver,
        /// kube-controller-manager in namespace NAME-cp): node IPAM gives the
        /// ranges and the agents read Nodes from the API. Needs the binaries
        /// from scripts/kube-build.sh.
        #[arg(long, conflicts_with = "kubernetes")]
        api: bool,
        /// A real Kubernetes cluster: the control plane (with kube-scheduler)
        /// in NAME-cp, and on every node containerd, a kubelet and kube-proxy.
        /// podnet is installed with `kubectl apply -f deploy/podnet.yaml`; the
        /// pods are a Deployment with a NodePort Service. Takes about a minute;
        /// needs scripts/install.sh (containerd, Kubernetes 1.20.2).
        #[arg(long)]
        kubernetes: bool,
        /// With --kubernetes: also import the images Kubernetes 1.20's own
        /// e2e tests name (agnhost:2.21, jessie-dnsutils:1.0, busybox:1.29,
        /// pause:3.2), built here from the e2e build of scripts/kube-build.sh
        /// and Debian's dash, curl, netcat-openbsd and dig; for
        /// tests/conformance.sh.
        #[arg(long, requires = "kubernetes")]
        e2e_images: bool,
        /// With --kubernetes: also the layout of Kubernetes' own
        /// NetworkPolicy tests, namespaces x, y, z with Pods a, b, c;
        /// `lab check` then measures who reaches whom on TCP and UDP 80
        /// and 81 under the cluster's NetworkPolicies, cell by cell
        /// against the model.
        #[arg(long, requires = "kubernetes")]
        netpol: bool,
        /// Where podnet-agent and podnet-cni are (default: next to this program).
        #[arg(long)]
        bin_dir: Option<std::path::PathBuf>,
    },
    /// Nodes, ranges, agents, pods and each node's routes read from the kernel.
    Status,
    /// Run a command in a node or pod (the seed's "SSH into the worker node").
    Exec {
        /// node1, pod1-2, ...
        target: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run kubectl against the lab's API server (a `--api` or `--kubernetes`
    /// lab), from the control plane's namespace with its kubeconfig:
    /// `podnet lab kubectl -- get pods -o wide`, `… -- exec -it POD -- sh`.
    Kubectl {
        /// kubectl's arguments.
        #[arg(last = true, required = true)]
        args: Vec<String>,
    },
    /// Print the path of a kubeconfig for plain kubectl on the host:
    /// `export KUBECONFIG=$(podnet lab kubeconfig)`, then `kubectl get pods`.
    /// It names the lab's API server on the host's loopback (a relay
    /// `lab up` starts), so nothing but loopback is added to the host.
    Kubeconfig {
        /// Print the kubeconfig for programs run inside the control plane's
        /// namespace instead (`ip netns exec NAME-cp …`), which names the
        /// API server's LAN address.
        #[arg(long)]
        in_namespace: bool,
    },
    /// (Started by `lab up`.) The API server's relay on the host's loopback.
    #[command(hide = true)]
    ApiProxy {
        /// The control plane's namespace.
        #[arg(long)]
        netns: String,
        /// The API server's address in that namespace.
        #[arg(long)]
        to: std::net::SocketAddr,
        /// The lab's kubeconfig (read).
        #[arg(long)]
        kubeconfig: std::path::PathBuf,
        /// The host-side kubeconfig (written once the relay listens).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The CNI requirements measured for real, compared with the model; exits 1 on any failure or difference.
    Check,
    /// Remove everything the lab made (also after a crash).
    Down,
    /// Serve the live lab to the explainer: real state, captured packets, probes.
    ///
    /// Captures every frame on the lab's pod interfaces, veths, bridges,
    /// uplinks and LAN ports, and serves an HTTP API and a WebSocket stream
    /// of per-packet traces. Runs until Ctrl-C.
    Serve {
        /// Address to listen on. Anything but loopback exposes the lab's
        /// traffic to the network: only with care.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: std::net::SocketAddr,
        /// Also allow a browser page from this origin (e.g. http://127.0.0.1:9000).
        /// This server's own origin and the explainer's (port 8080) always are.
        #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = parse_origin)]
        allow_origins: Vec<String>,
        /// Serve the built explainer (trunk's dist/) at / as well.
        #[arg(long, value_name = "DIR")]
        web: Option<std::path::PathBuf>,
    },
    /// Record a few probes and the packets captured for them into one file,
    /// which the explainer's scene i plays back without a lab.
    ///
    /// What `lab serve` would have sent a page: the lab as its kernels report
    /// it, each probe's answer, and the packets the stream carried for it.
    /// Without --send: a ping across nodes, a NodePort from the client and
    /// UDP to a Service, as far as the lab has them. The explainer ships
    /// one, recorded with:
    /// podnet lab up --name rec --nodes 2 --pods-per-node 1 &&
    /// podnet lab record --name rec --out - > static/lab-recording.json
    Record {
        /// Where to write it ("-": standard output).
        #[arg(long, default_value = "-")]
        out: std::path::PathBuf,
        /// A probe to send: FROM,TO[,ping|udp|nodeport] (repeatable).
        #[arg(long = "send", value_name = "FROM,TO[,PROTO]", value_parser = parse_send)]
        sends: Vec<podnet_core::lab_api::ProbeRequest>,
    },
}

/// A probe for `lab record`: `FROM,TO[,PROTO]`.
fn parse_send(s: &str) -> std::result::Result<podnet_core::lab_api::ProbeRequest, String> {
    use podnet_core::lab_api::{LabProbe, ProbeRequest};
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let bad = || format!("{s:?} is not FROM,TO[,PROTO] (e.g. pod1-1,pod2-1,ping)");
    let (from, to, proto) = match parts[..] {
        [from, to] => (from, to, None),
        [from, to, p] => (from, to, Some(p)),
        _ => return Err(bad()),
    };
    if from.is_empty() || to.is_empty() {
        return Err(bad());
    }
    let proto = match proto {
        None => LabProbe::Ping,
        Some(p) => LabProbe::from_key(p)
            .ok_or_else(|| format!("{p:?} is not a probe: ping, udp or nodeport"))?,
    };
    Ok(ProbeRequest {
        from: from.into(),
        to: to.into(),
        proto,
    })
}

/// A browser origin: `http(s)://host[:port]`, nothing after.
fn parse_origin(s: &str) -> std::result::Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or("an origin starts with http:// or https://")?;
    let ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an origin such as http://127.0.0.1:9000 (no path, no trailing slash)"
        ))
    }
}

/// What `podnet` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the model.
    #[error(transparent)]
    Model(#[from] Error),
    /// From the lab.
    #[error(transparent)]
    Lab(#[from] LabError),
}

/// Runs a command; returns what to print and the exit status.
pub fn run_with_status(cli: &Cli) -> std::result::Result<(String, i32), CliError> {
    match &cli.command {
        Command::Lab { action, name } => Ok(lab_action(action, name)?),
        Command::Image { out, bin_dir } => {
            let bin_dir = bin_dir.clone().unwrap_or_else(own_dir);
            lab::kubernetes::images::podnet_archive(&bin_dir, out)?;
            let text = format!(
                "{}: image {} (import on every node: ctr -n k8s.io images import {})\n",
                out.display(),
                lab::kubernetes::images::PODNET,
                out.display()
            );
            Ok((text, 0))
        }
        _ => Ok((run(cli)?, 0)),
    }
}

/// One `podnet lab` subcommand: what to print and the exit status.
fn lab_action(action: &LabAction, name: &str) -> std::result::Result<(String, i32), LabError> {
    match action {
        LabAction::Up {
            nodes,
            pods_per_node,
            no_cluster_network,
            backend,
            lans,
            no_big_tcp,
            api,
            kubernetes,
            e2e_images,
            netpol,
            bin_dir,
        } => lab_up(&lab::LabConfig {
            name: name.to_string(),
            nodes: *nodes,
            pods_per_node: *pods_per_node,
            backend: if *no_cluster_network {
                Backend::None
            } else {
                *backend
            },
            lans: *lans,
            bin_dir: bin_dir.clone().unwrap_or_else(own_dir),
            big_tcp: !no_big_tcp,
            api: *api,
            kubernetes: *kubernetes,
            e2e_images: *e2e_images,
            netpol: *netpol,
        }),
        LabAction::Status => Ok((lab::status(&LabState::current(name)?)?, 0)),
        LabAction::Exec { target, command } => lab_exec(name, target, command),
        LabAction::Kubectl { args } => lab_kubectl(name, args),
        LabAction::Kubeconfig { in_namespace } => lab_kubeconfig(name, *in_namespace),
        LabAction::ApiProxy {
            netns,
            to,
            kubeconfig,
            out,
        } => lab::api_proxy::serve(netns, *to, kubeconfig, out).map(|()| (String::new(), 0)),
        LabAction::Check => {
            let report = lab::check::run(&LabState::current(name)?)?;
            Ok((report.render(), if report.all_ok() { 0 } else { 1 }))
        }
        LabAction::Serve {
            listen,
            allow_origins,
            web,
        } => lab_serve(lab::serve::Config {
            lab: name.to_string(),
            listen: *listen,
            allow_origins: allow_origins.clone(),
            web: web.clone(),
        }),
        LabAction::Record { out, sends } => lab_record(name, out, sends),
        LabAction::Down => lab_down(name),
    }
}

fn lab_up(cfg: &lab::LabConfig) -> std::result::Result<(String, i32), LabError> {
    let start = std::time::Instant::now();
    let text = lab::status(&lab::up(cfg)?)?;
    let took = start.elapsed();
    Ok((format!("{text}\nlab {} up in {took:.2?}\n", cfg.name), 0))
}

/// The lab's control plane, or an error naming the command that makes one.
fn control_plane_of(name: &str) -> std::result::Result<lab::state::ControlPlane, LabError> {
    LabState::load(name)?.control_plane.ok_or_else(|| {
        LabError::Kubernetes(format!(
            "lab {name} has no API server: make one with podnet lab up --kubernetes (or --api)"
        ))
    })
}

fn lab_kubeconfig(name: &str, in_namespace: bool) -> std::result::Result<(String, i32), LabError> {
    let cp = control_plane_of(name)?;
    if in_namespace {
        return Ok((format!("{}\n", cp.kubeconfig.display()), 0));
    }
    let host = lab::api_proxy::host_kubeconfig(&cp.dir);
    let running = cp.proxy.is_some_and(lab::process::alive);
    if !running || !host.is_file() {
        return Err(LabError::Kubernetes(format!(
            "lab {name}'s API relay on loopback is not running (a lab from an older podnet?): \
             podnet lab --name {name} down, then up again; meanwhile: podnet lab --name {name} kubectl -- ARGS"
        )));
    }
    Ok((format!("{}\n", host.display()), 0))
}

fn lab_kubectl(name: &str, args: &[String]) -> std::result::Result<(String, i32), LabError> {
    let cp = control_plane_of(name)?;
    let status = lab::command_in(&cp.netns, "kubectl", false)?
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .args(args)
        .status()
        .map_err(|source| LabError::Spawn {
            program: "kubectl".into(),
            source,
        })?;
    Ok((String::new(), status.code().unwrap_or(1)))
}

fn lab_exec(
    name: &str,
    target: &str,
    command: &[String],
) -> std::result::Result<(String, i32), LabError> {
    let state = match LabState::current(name) {
        Ok(state) => state,
        // The API server down (an outage, or a test of one): the Pods the
        // lab last saw still run, and a user may want into one of them.
        Err(e) => {
            let saved = LabState::load(name)?;
            if saved.netns_or_error(target).is_err() {
                return Err(e);
            }
            eprintln!("podnet lab exec: {e}; using the Pods the lab last saw");
            saved
        }
    };
    let ns = state.netns_or_error(target)?;
    // A Kubernetes node's own files (/etc/cni/net.d, …) are in its mount namespace.
    let mount_ns = state
        .nodes
        .iter()
        .find(|n| n.name == target)
        .and_then(|n| n.runtime.as_ref())
        .map(|rt| rt.mount_ns());
    let status = lab::command_in_ns(&ns, mount_ns.as_deref(), &command[0], false)?
        .args(&command[1..])
        .status()
        .map_err(|source| LabError::Spawn {
            program: command[0].clone().into(),
            source,
        })?;
    Ok((String::new(), status.code().unwrap_or(1)))
}

fn lab_serve(cfg: lab::serve::Config) -> std::result::Result<(String, i32), LabError> {
    if let Some(dir) = cfg.web.as_ref().filter(|d| !d.join("index.html").is_file()) {
        return Err(LabError::Serve(format!(
            "{} has no index.html: build the explainer first (trunk build)",
            dir.display()
        )));
    }
    lab::serve::serve(cfg)?;
    Ok((String::new(), 0))
}

fn lab_record(
    name: &str,
    out: &std::path::Path,
    sends: &[podnet_core::lab_api::ProbeRequest],
) -> std::result::Result<(String, i32), LabError> {
    let sends = if sends.is_empty() {
        lab::serve::record::default_sends(&LabState::current(name)?)
    } else {
        sends.to_vec()
    };
    // Written beside the target under this run's own name and renamed over
    // it at the end: a path that cannot be written is said before anything
    // is sent, a failed write leaves the old file whole, and create_new
    // follows no link another user left at that name.
    let stdout = out.as_os_str() == "-";
    let part = out.with_file_name(format!(
        ".{}.{}.part",
        out.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("recording"),
        std::process::id()
    ));
    let create_part = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .map_err(LabError::file("create", &part))
    };
    if !stdout {
        if out.is_dir() {
            return Err(LabError::Record(format!(
                "{} is a directory: give --out a file's path",
                out.display()
            )));
        }
        // Tried and removed at once, so a recording stopped by Ctrl-C
        // leaves nothing behind.
        create_part()?;
        let _ = std::fs::remove_file(&part);
    }
    let written = (|| -> std::result::Result<_, LabError> {
        let rec = lab::serve::record::record(name, &sends)?;
        let json = serde_json::to_string(&rec)
            .map_err(|e| LabError::Record(format!("cannot write the recording: {e}")))?;
        if !stdout {
            use std::io::Write;
            create_part()?
                .write_all(format!("{json}\n").as_bytes())
                .map_err(LabError::file("write", &part))?;
            std::fs::rename(&part, out).map_err(LabError::file("write", out))?;
        }
        Ok((rec, json))
    })();
    if written.is_err() && !stdout {
        // Whichever step failed, no part is left behind.
        let _ = std::fs::remove_file(&part);
    }
    let (rec, json) = written?;
    let summary: Vec<String> = rec
        .sends
        .iter()
        .map(|s| {
            format!(
                "  {} -> {} ({}): {}, {} packets",
                s.request.from,
                s.request.to,
                s.request.proto.key(),
                if s.result.answered {
                    "answered"
                } else {
                    "no answer"
                },
                s.traces.len()
            )
        })
        .collect();
    if stdout {
        // The recording is the output; what it holds goes to the terminal.
        eprintln!(
            "recorded lab {name}: {} probes\n{}",
            rec.sends.len(),
            summary.join("\n")
        );
        return Ok((format!("{json}\n"), 0));
    }
    Ok((
        format!(
            "recorded lab {name}: {} probes, {} bytes in {}\n{}\n",
            rec.sends.len(),
            json.len() + 1,
            out.display(),
            summary.join("\n")
        ),
        0,
    ))
}

fn lab_down(name: &str) -> std::result::Result<(String, i32), LabError> {
    let r = lab::down(name)?;
    let server = if r.servers > 0 {
        "its live server stopped, "
    } else {
        ""
    };
    let text = format!(
        "lab {name} down: {} agents stopped, {server}{} namespaces removed\n",
        r.agents, r.namespaces
    );
    Ok((text, 0))
}

/// The directory of this program, where `podnet-agent` and `podnet-cni` are installed beside it.
fn own_dir() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| ".".into())
}

/// Runs a command and returns what it prints.
pub fn run(cli: &Cli) -> Result<String> {
    match &cli.command {
        Command::Scenarios => Ok(scenario::NAMES.iter().map(|n| format!("{n}\n")).collect()),
        Command::Story => story(),
        Command::Show(args) => show(&args.cluster()?),
        Command::Trace {
            scenario,
            from,
            to,
            proto,
            port,
            pcap,
        } => trace_to(
            &scenario.cluster()?,
            from,
            to,
            proto.probe(*port),
            pcap.as_deref(),
        ),
        Command::Matrix(args) => matrix(&args.cluster()?),
        Command::Lab { .. } | Command::Image { .. } => Err(Error::Unknown {
            kind: "command",
            name: "lab or image (use run_with_status)".into(),
        }),
    }
}

fn show(c: &Cluster) -> Result<String> {
    let mut out = String::new();
    let mode = match c.backend() {
        Backend::None => "none (no cluster network)".to_string(),
        d => format!("{d}, pod MTU {}", c.pod_mtu()),
    };
    let lans: Vec<String> = c.lans().iter().map(|l| l.to_string()).collect();
    let _ = writeln!(
        out,
        "cluster {}  node prefix /{}  LAN {}  network: {mode}",
        c.cidr(),
        c.node_prefix(),
        lans.join(" + ")
    );
    if let Some(r) = c.router() {
        let ports: Vec<String> = r.ports.iter().map(|(ip, _)| ip.to_string()).collect();
        let _ = writeln!(out, "router {}", ports.join(" "));
    }
    for node in c.nodes() {
        show_plan(&mut out, node, &c.plan(node.id)?);
    }
    for cl in c.clients() {
        let _ = writeln!(out, "\nclient {}  {}", cl.name, cl.ip);
    }
    for s in c.services() {
        for port in &s.ports {
            let eps: Vec<String> = c
                .port_endpoints(s, port)
                .iter()
                .map(|e| match e.pod {
                    Some(p) => format!("{} ({})", c.name_of(Endpoint::Pod(p)), e.addr),
                    None => e.addr.to_string(),
                })
                .collect();
            let node_port = port
                .node_port
                .map_or_else(String::new, |np| format!(", node port {np}"));
            let _ = writeln!(
                out,
                "service {}  {} {}:{}/{}{node_port} -> {}",
                s.full_name(),
                s.kind.key(),
                s.cluster_ip,
                port.port,
                port.protocol.name(),
                if eps.is_empty() {
                    "no endpoints".to_string()
                } else {
                    eps.join(", ")
                }
            );
        }
    }
    Ok(out)
}

/// A node's plan: what its agent programs.
fn show_plan(out: &mut String, node: &Node, plan: &Plan) {
    let _ = writeln!(
        out,
        "\nnode {}  eth0 {}  pods {}  bridge {} {}",
        node.name, plan.uplink.address, node.pod_range, plan.bridge.name, plan.bridge.address
    );
    for v in &plan.veths {
        let _ = writeln!(
            out,
            "  pod {:<16} {:<16} veth {}",
            v.pod, v.pod_if.address, v.host_name
        );
    }
    let _ = writeln!(out, "  routes:");
    for r in &plan.routes {
        let _ = writeln!(out, "    {r}");
    }
    if let Some(v) = &plan.vtep {
        let _ = writeln!(
            out,
            "  vxlan {} id {} dstport {} local {} mtu {}  {} {}",
            v.name, v.vni, v.port, v.local, v.mtu, v.address, v.mac
        );
        for p in &v.peers {
            let _ = writeln!(
                out,
                "    neigh {} lladdr {}   fdb {} dst {}   ({})",
                p.vtep_ip, p.mac, p.mac, p.underlay, p.node
            );
        }
    }
    for s in &plan.skipped {
        let _ = writeln!(
            out,
            "  !! no route to {} ({}): {}",
            s.route.dst, s.node, s.reason
        );
    }
}

fn trace(c: &Cluster, from: &str, to: &str, kind: ProbeKind) -> Result<String> {
    trace_to(c, from, to, kind, None)
}

/// [`trace`], and with `pcap` every hop's frame written there.
fn trace_to(
    c: &Cluster,
    from: &str,
    to: &str,
    kind: ProbeKind,
    pcap: Option<&std::path::Path>,
) -> Result<String> {
    let net = Network::new(c)?;
    let src = c.endpoint_named(from)?;
    // An address is sent to as it is; a name is also who the packet is for.
    let (dst, intended) = match to.parse::<Ipv4Addr>() {
        Ok(ip) => (ip, None),
        Err(_) => {
            let e = c.endpoint_named(to)?;
            let ip = c.address_of(e).ok_or_else(|| Error::Unknown {
                kind: "endpoint",
                name: to.into(),
            })?;
            (ip, Some(e))
        }
    };
    let t = net.probe(src, dst, kind)?;
    let mut out = format!("{} -> {to} ({dst}), {kind:?}\n", c.name_of(src));
    for line in t.explain(c) {
        let _ = writeln!(out, "  {line}");
    }
    let summary = t.summary(c, intended);
    let mark = if summary.ok { "" } else { "!! " };
    let _ = writeln!(out, "  {mark}{}", summary.text);
    if let Some(file) = pcap {
        let bytes = podnet_core::forward::pcap::to_pcapng(&t, c);
        let frames = podnet_core::forward::pcap::read_pcapng(&bytes).map_or(0, |r| r.len());
        std::fs::write(file, bytes).map_err(|e| Error::InvalidConfig {
            field: "--pcap".into(),
            reason: format!("cannot write {}: {e}", file.display()),
        })?;
        let _ = writeln!(
            out,
            "  wrote {frames} frames (those on a wire) to {}",
            file.display()
        );
    }
    Ok(out)
}

fn matrix(c: &Cluster) -> Result<String> {
    let m = Matrix::compute(&Network::new(c)?)?;
    let names: Vec<String> = m.endpoints.iter().map(|&e| c.short_name_of(e)).collect();
    let width = names.iter().map(String::len).max().unwrap_or(4) + 1;
    let mut out = format!("{:width$}", "from\\to");
    for n in &names {
        let _ = write!(out, "{n:>width$}");
    }
    out.push('\n');
    for (i, n) in names.iter().enumerate() {
        let _ = write!(out, "{n:width$}");
        for j in 0..names.len() {
            let mark = match m.get(i, j) {
                Some(Cell::Ok) => "ok",
                Some(Cell::NatSeen { .. }) => "NAT",
                Some(Cell::WrongDestination { .. }) => "WRONG",
                Some(Cell::Dropped { .. }) => "--",
                Some(Cell::ReplyLost { .. }) => "NOREPLY",
                Some(Cell::ReplyAstray { .. }) => "ASTRAY",
                None => "?",
            };
            let _ = write!(out, "{mark:>width$}");
        }
        out.push('\n');
    }
    let r = m.requirements();
    let line = |name: &str, t: podnet_core::forward::Tally| {
        format!(
            "{} {name}: {}/{}\n",
            if t.all_ok() { "[x]" } else { "[ ]" },
            t.ok,
            t.total
        )
    };
    out += &line("every pod reaches every pod without NAT", r.pod_to_pod);
    out += &line("every node reaches every pod without NAT", r.node_to_pod);
    out += &line("every pod reaches every node without NAT", r.pod_to_node);
    if r.node_port.total > 0 {
        out += &line("outside reaches every NodePort, reply from it", r.node_port);
    }
    Ok(out)
}

fn story() -> Result<String> {
    let mut out = String::new();
    let mut chapter = |title: &str, body: String| {
        let _ = writeln!(out, "== {title}\n{body}");
    };
    let one = scenario::one_node();
    chapter(
        "One node: pods on the internal network 10.244.0.0/24",
        show(&one)?,
    );
    let un = scenario::unconnected_nodes();
    chapter(
        "Two nodes, no cluster network, same range: this isn't going to work",
        trace(&un, "pod-a", "pod-d", ProbeKind::Ping)?,
    );
    chapter(
        "The CNI requirements, without a cluster network",
        matrix(&un)?,
    );
    let demo = scenario::demo();
    chapter(
        "A CNI plugin gives each node its own range and routes",
        show(&demo)?,
    );
    chapter("The CNI requirements, met", matrix(&demo)?);
    chapter(
        "A pod on node1 to a pod on node2",
        trace(&demo, "pod-a", "pod-c", ProbeKind::Ping)?,
    );
    chapter(
        "SSH into node1, then reach a pod",
        trace(&demo, "node1", "pod-c", ProbeKind::TcpSyn(8080))?,
    );
    let np = scenario::node_port();
    chapter(
        "From outside: a NodePort service",
        trace(&np, "laptop", "192.168.1.11", ProbeKind::TcpSyn(30080))?,
    );
    Ok(out)
}
