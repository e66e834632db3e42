//! `podnet-agent`: programs this node's bridge, forwarding, routes to every
//! other node (host-gw or through the VTEP), NAT and CNI config, from a
//! cluster file or the Kubernetes API, and keeps them so. See
//! `podnet-agent --help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use podnet_agent::cluster_file::{reconcile, run};
use podnet_agent::kubernetes::{self, KubeSource};
use podnet_agent::{AgentConfig, AgentState};

/// Keep this node's pod network equal to the cluster: from a cluster file,
/// or from the Kubernetes API (Node objects: spec.podCIDR and InternalIP).
///
/// Without --cluster the agent reads the API: with --kubeconfig, or with the
/// in-cluster config when it runs in a pod (service-account token,
/// KUBERNETES_SERVICE_HOST). It writes the CNI config only once its Node
/// has a podCIDR, so the kubelet keeps the Node NotReady until then.
#[derive(Debug, Parser)]
#[command(name = "podnet-agent", version, about, long_about)]
struct Args {
    /// Cluster file (JSON: clusterCidr, nodePrefix, underlay, backend, lans,
    /// nodes[name, ip, podCidr], pods, services, clients; see docs/cluster.md).
    #[arg(long, conflicts_with = "kubeconfig")]
    cluster: Option<PathBuf>,
    /// Kubeconfig for the API server (default without --cluster: in-cluster config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The cluster range kube-controller-manager allocates node ranges from (API mode).
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: ipnetwork::Ipv4Network,
    /// How pod traffic crosses nodes (API mode; a cluster file says it in
    /// "backend"): host-gw (routes via peers on this LAN), vxlan (every peer
    /// through podnet.1, VNI 1, UDP 8472) or auto (host-gw on this LAN,
    /// VXLAN beyond it).
    #[arg(long, env = "PODNET_BACKEND", default_value = "host-gw", value_parser = parse_backend, conflicts_with = "cluster")]
    backend: podnet_core::topology::Backend,
    /// This node's name (as in the cluster file, or its Node object).
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// Where to write the CNI config for podnet-cni.
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// podnet-cni's IPAM state directory (written into the CNI config).
    #[arg(long, default_value = "/var/lib/cni/networks")]
    cni_data_dir: PathBuf,
    /// The cniVersion of the config it writes. 1.0.0 is what runtimes such as
    /// containerd 1.6 speak; 1.1.0 lets them call STATUS and GC.
    #[arg(long, default_value = "1.0.0", value_parser = clap::builder::PossibleValuesParser::new(podnet_cni::conf::SUPPORTED_VERSIONS))]
    cni_version: String,
    /// Have podnet-cni log every call here, one JSON line each (`logFile` in the config).
    #[arg(long)]
    cni_log_file: Option<PathBuf>,
    /// Chain the reference `portmap` plugin (from the CNI bin directory)
    /// after podnet-cni in the config, so Pods' `hostPort`s work. Its
    /// Debian build speaks CNI up to 1.0.0.
    #[arg(long)]
    port_mappings: bool,
    /// Write the applied cluster file's version here after each successful pass.
    #[arg(long)]
    status_file: Option<PathBuf>,
    /// Reconcile once and exit (status 0 when in sync; cluster-file mode).
    #[arg(long, requires = "cluster")]
    once: bool,
    /// Seconds between passes (a change of the cluster file triggers one at once).
    #[arg(long, default_value_t = 10)]
    interval: u64,
}

fn parse_backend(s: &str) -> Result<podnet_core::topology::Backend, String> {
    podnet_core::topology::Backend::of_network(s).map_err(|e| e.to_string())
}

/// SIGTERM and SIGINT end the agent at once. In a DaemonSet it is its
/// container's PID 1, and the kernel ignores a signal PID 1 has no handler
/// for: the kubelet would wait the whole grace period, then kill it. What
/// it programmed stays (a stopped agent leaves the routes in place).
extern "C" fn on_term(_: nix::libc::c_int) {
    // SAFETY: _exit is async-signal-safe; nothing needs flushing.
    unsafe { nix::libc::_exit(0) }
}

fn stop_on_signals() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only calls _exit.
        let _ = unsafe { signal(sig, SigHandler::Handler(on_term)) };
    }
}

fn main() {
    stop_on_signals();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODNET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: `kubectl logs` and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let a = Args::parse();
    let cfg = AgentConfig {
        cluster_file: a.cluster.clone().unwrap_or_default(),
        node: a.node,
        cni_conf_dir: a.cni_conf_dir,
        cni_data_dir: a.cni_data_dir,
        status_file: a.status_file,
        cni_version: a.cni_version,
        cni_log_file: a.cni_log_file,
        port_mappings: a.port_mappings,
    };
    let interval = Duration::from_secs(a.interval.max(1));
    if a.cluster.is_none() {
        let src = KubeSource {
            kubeconfig: a.kubeconfig,
            cluster_cidr: a.cluster_cidr,
            backend: a.backend,
        };
        let from = src
            .kubeconfig
            .as_ref()
            .map_or("in-cluster config".to_string(), |k| k.display().to_string());
        tracing::info!(node = %cfg.node, api = %from, "podnet-agent started (Kubernetes API)");
        if let Err(e) = kubernetes::run(&cfg, &src, interval) {
            eprintln!("podnet-agent: {e}");
            std::process::exit(1);
        }
    } else if a.once {
        match reconcile(&cfg, &mut AgentState::default()) {
            Ok(r) => {
                println!(
                    "added {} removed {} conflicts {} cni-conf {}",
                    r.added.len(),
                    r.removed.len(),
                    r.conflicts.len(),
                    r.cni_conf_written
                );
                for line in r.added.iter().chain(&r.removed).chain(&r.conflicts) {
                    println!("  {line}");
                }
            }
            Err(e) => {
                eprintln!("podnet-agent: {e}");
                std::process::exit(1);
            }
        }
    } else {
        tracing::info!(node = %cfg.node, file = %cfg.cluster_file.display(), "podnet-agent started");
        run(&cfg, interval);
    }
}
