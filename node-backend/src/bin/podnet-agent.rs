//! `podnet-agent`: programs this node's bridge, forwarding and host-gw routes
//! from the cluster file, and keeps them so. See `podnet-agent --help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use podnet_node::agent::{reconcile, run, AgentConfig, AgentState};

/// Keep this node's pod network equal to the cluster file.
#[derive(Debug, Parser)]
#[command(name = "podnet-agent", version, about)]
struct Args {
    /// Cluster file (JSON: clusterCidr, nodePrefix, underlay, nodes[name, ip, podCidr]).
    #[arg(long)]
    cluster: PathBuf,
    /// This node's name in the cluster file.
    #[arg(long)]
    node: String,
    /// Where to write the CNI config for podnet-cni.
    #[arg(long, default_value = "/etc/cni/net.d")]
    cni_conf_dir: PathBuf,
    /// podnet-cni's IPAM state directory (written into the CNI config).
    #[arg(long, default_value = "/var/lib/cni/networks")]
    cni_data_dir: PathBuf,
    /// Write the applied cluster file's version here after each successful pass.
    #[arg(long)]
    status_file: Option<PathBuf>,
    /// Reconcile once and exit (status 0 when in sync).
    #[arg(long)]
    once: bool,
    /// Seconds between passes (a change of the cluster file triggers one at once).
    #[arg(long, default_value_t = 10)]
    interval: u64,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODNET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let cfg = AgentConfig {
        cluster_file: a.cluster,
        node: a.node,
        cni_conf_dir: a.cni_conf_dir,
        cni_data_dir: a.cni_data_dir,
        status_file: a.status_file,
    };
    if a.once {
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
        run(&cfg, Duration::from_secs(a.interval.max(1)));
    }
}
