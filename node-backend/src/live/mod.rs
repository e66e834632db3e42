//! `podnet lab serve`: the live lab for the explainer.
//!
//! One process per lab: it reads the lab's real state from the kernels
//! ([`view`]), captures on every pod eth0, host veth, bridge, uplink and LAN
//! port ([`capture`]), groups the frames of each packet into core's
//! [`Trace`](podnet_core::forward::Trace) ([`collect`]), and serves the state,
//! the packets and a probe endpoint over HTTP and a WebSocket ([`api`]),
//! on 127.0.0.1 unless told otherwise.

pub mod api;
pub mod capture;
pub mod collect;
pub mod probe;
pub mod view;

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::lab::{LabError, LabState};
use api::Shared;
use capture::Counters;
use collect::Collector;
use view::LabView;

/// Frames queued between the capture threads and the collector.
pub const QUEUE: usize = 8192;
/// Frames the collector takes from the queue between two flushes.
pub const BATCH: usize = 1024;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The lab's name.
    pub lab: String,
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Origins allowed besides the defaults.
    pub allow_origins: Vec<String>,
    /// The built explainer (`dist/`), served at `/`.
    pub web: Option<PathBuf>,
}

fn msg(s: impl Into<String>) -> LabError {
    LabError::Msg(s.into())
}

/// Serves until SIGINT or SIGTERM. Prints the address once listening.
pub fn serve(cfg: Config) -> Result<(), LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(msg(
            "podnet lab serve captures packets in the lab's namespaces: run it as root",
        ));
    }
    let state = LabState::load(&cfg.lab)?;
    let view = LabView::read(&state)?;
    let cluster = view.cluster()?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let mut threads = Vec::new();
    let mut taps = 0;
    for (netns, map) in view.taps(&cluster) {
        if map.is_empty() {
            continue;
        }
        taps += map.len();
        let ns = crate::netlink::Netns::open(&std::path::Path::new("/run/netns").join(&netns))?;
        let t = capture::start(ns, map, tx.clone(), counters.clone(), stop.clone())
            .map_err(|e| msg(format!("cannot capture in {netns}: {e}")))?;
        threads.push(t);
    }
    drop(tx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| msg(e.to_string()))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(cfg.listen))
        .map_err(|e| msg(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(|e| msg(e.to_string()))?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "podnet lab serve: warning: listening on {addr}, not loopback: anyone who can reach it sees the lab's traffic and can send probes"
        );
    }
    let mut origins = api::default_origins(addr);
    origins.extend(cfg.allow_origins.iter().cloned());
    let (events, _) = broadcast::channel(api::STREAM_BUFFER);
    let shared = Arc::new(Shared {
        state,
        counters: counters.clone(),
        recent: Mutex::new(VecDeque::new()),
        events,
        origins,
        hosts: api::hosts(addr),
        open: Default::default(),
    });
    let collector = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = Collector::new(cluster, counters);
            while !stop.load(Ordering::Relaxed) {
                match rx.recv_timeout(Duration::from_millis(5)) {
                    Ok(f) => {
                        c.push(f, Instant::now());
                        // Take what is queued in batches, but flush between
                        // them: under a flood the queue is never empty.
                        for f in rx.try_iter().take(BATCH) {
                            c.push(f, Instant::now());
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                for t in c.flush(Instant::now()) {
                    shared.publish(t);
                }
                shared.open.store(c.open(), Ordering::Relaxed);
            }
        })
    };
    // So `podnet lab down` can stop this server with the lab.
    let pid_file = crate::lab::serve_pid_file(&cfg.lab);
    std::fs::write(&pid_file, std::process::id().to_string())
        .map_err(|e| msg(format!("cannot write {}: {e}", pid_file.display())))?;
    println!(
        "podnet lab serve: lab {} on http://{addr} ({taps} taps in {} namespaces){}",
        cfg.lab,
        threads.len(),
        if cfg.web.is_some() {
            ", explainer at /"
        } else {
            ""
        }
    );
    let _ = std::io::stdout().flush();
    let app = api::router(shared, cfg.web.clone());
    let served = rt.block_on(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
                }
            })
            .await
    });
    let _ = std::fs::remove_file(&pid_file);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = collector.join();
    served.map_err(|e| msg(format!("server: {e}")))
}
