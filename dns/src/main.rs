//! `podnet-dns`: cluster DNS for a Kubernetes cluster, fed by the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use hickory_server::Server;
use kube::{Client, Config};
use podnet_core::services::dns::{Zone, CLUSTER_DOMAIN};
use podnet_dns::{answer::ClusterDns, watch};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tracing::info;

/// Answers DNS queries for the cluster domain from the Kubernetes API
/// (Services, Endpoints, Namespaces), over UDP and TCP.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to answer on (UDP and TCP).
    #[arg(long, default_value = "0.0.0.0:53")]
    listen: SocketAddr,
    /// The cluster domain (the kubelets' --cluster-domain).
    #[arg(long, default_value = CLUSTER_DOMAIN)]
    domain: String,
    /// A kubeconfig; without it, the in-cluster config (a Pod's service account).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

async fn client(kubeconfig: Option<&PathBuf>) -> Result<Client, String> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None => Config::incluster().map_err(|e| {
            format!("no --kubeconfig and no in-cluster config (KUBERNETES_SERVICE_HOST and the service-account token): {e}")
        })?,
    };
    Client::try_from(config).map_err(|e| format!("cannot make a client: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let client = client(args.kubeconfig.as_ref()).await?;
    let (tx, mut changed) = mpsc::unbounded_channel();
    let stores = watch::start(client, tx);
    watch::ready(&stores).await?;
    let handler = ClusterDns::new(stores.zone(&args.domain));
    // Sockets open only once the zone is whole: a readiness probe on the
    // TCP port then says "answers", not "started".
    let mut server = Server::new(handler.clone());
    let udp = UdpSocket::bind(args.listen)
        .await
        .map_err(|e| format!("cannot bind UDP {}: {e}", args.listen))?;
    let tcp = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot bind TCP {}: {e}", args.listen))?;
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64);
    info!(listen = %args.listen, domain = %args.domain, "answering");
    let domain = args.domain.clone();
    tokio::spawn(async move {
        while changed.recv().await.is_some() {
            // A burst of events is one rebuild.
            while changed.try_recv().is_ok() {}
            let zone: Zone = stores.zone(&domain);
            handler.swap(zone);
        }
    });
    // PID 1 in its container: SIGTERM (the kubelet's stop) ends it at once.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    tokio::select! {
        r = server.block_until_done() => r.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODNET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: `kubectl logs` and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("podnet-dns: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("podnet-dns: {e}");
        std::process::exit(1);
    }
}
