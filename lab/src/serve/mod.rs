//! `podnet lab serve`: the lab's kernels and packets, served to the explainer's Live scene.
//!
//! One process per lab: it reads the lab's real state from the kernels
//! ([`view`]), captures on every pod eth0, host veth, bridge, uplink and LAN
//! port ([`capture`]), groups the frames of each packet into core's
//! [`Trace`](podnet_core::forward::Trace) ([`collect`]), and serves the state,
//! the packets and a probe endpoint over HTTP and a WebSocket ([`api`]),
//! on 127.0.0.1 unless told otherwise. The messages are core's
//! ([`podnet_core::lab_api`]); probes are the lab's ([`crate::probe`]).
//! In a Kubernetes lab it follows the cluster's Pods ([`follow`]): when
//! they change, the captures start again on the new set and every stream
//! is told to read the lab again.

pub mod api;
pub mod capture;
pub mod collect;
pub mod follow;
pub mod record;
pub mod view;

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use podnet_core::topology::Cluster;
use tokio::sync::broadcast;

use crate::process::check_root;
use crate::{LabError, LabState};
use api::Shared;
use capture::{Counters, Frame};
use collect::Collector;

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

fn failed(what: &str) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |e| LabError::Serve(format!("{what}: {e}"))
}

/// Serves until SIGINT or SIGTERM. Prints the address once listening.
pub fn serve(cfg: Config) -> Result<(), LabError> {
    check_root("serve captures packets in the lab's namespaces")?;
    // A Kubernetes lab's Pods as the API and containerd report them now.
    let state = LabState::current(&cfg.lab)?;
    let counters = Arc::new(Counters::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed("cannot start the runtime"))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(cfg.listen))
        .map_err(|e| LabError::Serve(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(failed("listener"))?;
    let shared = shared(state.clone(), &cfg, addr, counters.clone());
    let first = Generation::start(&state, &counters, &shared)?;
    let taps = first.taps;
    let threads = first.capture.len();
    let current = Arc::new(Mutex::new(Some(first)));
    let quit = Arc::new(AtomicBool::new(false));
    let follower = state.kubernetes.then(|| {
        follow::start(
            cfg.lab.clone(),
            current.clone(),
            counters,
            shared.clone(),
            quit.clone(),
        )
    });
    // So `podnet lab down` can stop this server with the lab.
    let pid_file = LabState::serve_pid_file(&cfg.lab);
    std::fs::write(&pid_file, std::process::id().to_string())
        .map_err(LabError::file("write", &pid_file))?;
    println!(
        "podnet lab serve: lab {} on http://{addr} ({taps} taps in {threads} namespaces){}{}",
        cfg.lab,
        if follower.is_some() {
            ", following the cluster's Pods"
        } else {
            ""
        },
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
            .with_graceful_shutdown(until_signal())
            .await
    });
    let _ = std::fs::remove_file(&pid_file);
    quit.store(true, Ordering::Relaxed);
    if let Some(f) = follower {
        f.stop();
    }
    if let Some(g) = current.lock().unwrap_or_else(|e| e.into_inner()).take() {
        g.stop();
    }
    served.map_err(failed("server"))
}

/// The capture threads and the collector for one set of the lab's members;
/// replaced whole when a Kubernetes lab's Pods change.
pub struct Generation {
    stop: Arc<AtomicBool>,
    capture: Vec<JoinHandle<()>>,
    collector: JoinHandle<()>,
    taps: usize,
    lab: podnet_core::lab_api::LabView,
}

impl Generation {
    /// Reads the lab's kernels, starts capturing on every tap and assembling packets.
    pub fn start(
        state: &LabState,
        counters: &Arc<Counters>,
        shared: &Arc<Shared>,
    ) -> Result<Generation, LabError> {
        let lab = view::read(state)?;
        let cluster = lab.cluster()?;
        let stop = Arc::new(AtomicBool::new(false));
        let capture = match start_capture(&lab, &cluster, counters, &stop) {
            Ok(c) => c,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let collector = start_collector(cluster, counters.clone(), capture.frames, shared, &stop);
        Ok(Generation {
            stop,
            capture: capture.threads,
            collector,
            taps: capture.taps,
            lab,
        })
    }

    /// The lab as its kernels were read when this started: the one its
    /// packets are traced through.
    pub fn lab(&self) -> &podnet_core::lab_api::LabView {
        &self.lab
    }

    /// Stops its threads and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.capture {
            let _ = t.join();
        }
        let _ = self.collector.join();
    }
}

/// The capture threads, one per namespace with taps, and their frames.
struct Capturing {
    threads: Vec<JoinHandle<()>>,
    frames: mpsc::Receiver<Frame>,
    taps: usize,
}

fn start_capture(
    lab: &podnet_core::lab_api::LabView,
    cluster: &Cluster,
    counters: &Arc<Counters>,
    stop: &Arc<AtomicBool>,
) -> Result<Capturing, LabError> {
    let (tx, frames) = mpsc::sync_channel(QUEUE);
    let mut threads = Vec::new();
    let mut taps = 0;
    for (netns, map) in view::taps(lab, cluster) {
        if map.is_empty() {
            continue;
        }
        taps += map.len();
        let opened = podnet_kernel::Netns::open(&crate::ns_path(&netns))
            .map_err(LabError::from)
            .and_then(|ns| {
                capture::start(ns, map, tx.clone(), counters.clone(), stop.clone())
                    .map_err(|e| LabError::Serve(format!("cannot capture in {netns}: {e}")))
            });
        match opened {
            Ok(t) => threads.push(t),
            Err(e) => {
                // The threads already started end with the others.
                stop.store(true, Ordering::Relaxed);
                for t in threads {
                    let _ = t.join();
                }
                return Err(e);
            }
        }
    }
    Ok(Capturing {
        threads,
        frames,
        taps,
    })
}

/// What the handlers share; warns when the address is not loopback.
fn shared(state: LabState, cfg: &Config, addr: SocketAddr, counters: Arc<Counters>) -> Arc<Shared> {
    if !addr.ip().is_loopback() {
        eprintln!(
            "podnet lab serve: warning: listening on {addr}, not loopback: anyone who can reach it sees the lab's traffic and can send probes"
        );
    }
    let mut origins = api::default_origins(addr);
    origins.extend(cfg.allow_origins.iter().cloned());
    let (events, _) = broadcast::channel(api::STREAM_BUFFER);
    Arc::new(Shared {
        state: std::sync::RwLock::new(state),
        counters,
        recent: Mutex::new(VecDeque::new()),
        events,
        origins,
        hosts: api::hosts(addr),
        open: Default::default(),
    })
}

/// The collector thread: frames in, traces out to every client.
fn start_collector(
    cluster: Cluster,
    counters: Arc<Counters>,
    rx: mpsc::Receiver<Frame>,
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
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
}

/// Resolves on Ctrl-C or SIGTERM.
async fn until_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}
