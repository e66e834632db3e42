//! A Kubernetes lab's Pods and Services, followed while `lab serve` runs.
//!
//! Two watches (`kubectl get pods|services --all-namespaces --watch`, run
//! in the control plane's namespace) wake a thread; once the events stop
//! for a moment it reads the lab again ([`LabState::current`]). New or gone
//! Pods restart the captures on the new set of namespaces ([`Generation`]);
//! any change replaces the state the handlers use and tells every stream
//! ([`Event::Changed`](podnet_core::lab_api::Event::Changed)), so the page
//! reads the lab again. A watch that ends (an API server restart) is
//! started again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::api::Shared;
use super::capture::Counters;
use super::Generation;
use crate::LabState;

/// Quiet time after the last event before the lab is read again: a Pod
/// that starts sends several events in a burst.
const SETTLE: Duration = Duration::from_millis(300);
/// The longest a burst may delay a re-read.
const SETTLE_MAX: Duration = Duration::from_secs(2);
/// Wait before starting a watch again after it ended.
const RETRY: Duration = Duration::from_secs(1);

/// The running follower.
pub struct Follower {
    thread: JoinHandle<()>,
    watches: Arc<Mutex<Vec<Child>>>,
    quit: Arc<AtomicBool>,
}

impl Follower {
    /// Stops the watches and the thread.
    pub fn stop(self) {
        self.quit.store(true, Ordering::Relaxed);
        kill(&self.watches);
        let _ = self.thread.join();
    }
}

fn kill(watches: &Mutex<Vec<Child>>) {
    for mut c in watches.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Starts following lab `lab`; `current` holds the captures it replaces.
pub fn start(
    lab: String,
    current: Arc<Mutex<Option<Generation>>>,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    quit: Arc<AtomicBool>,
) -> Follower {
    let watches = Arc::new(Mutex::new(Vec::new()));
    let w = watches.clone();
    let q = quit.clone();
    let thread = std::thread::spawn(move || {
        while !q.load(Ordering::Relaxed) {
            let (tx, rx) = mpsc::channel();
            for kind in ["pods", "services"] {
                match watch(&lab, kind, tx.clone()) {
                    Ok(child) => w.lock().unwrap_or_else(|e| e.into_inner()).push(child),
                    Err(e) => eprintln!("podnet lab serve: cannot watch {kind}: {e}"),
                }
            }
            drop(tx);
            follow(&lab, &rx, &current, &counters, &shared, &q);
            kill(&w);
            if !q.load(Ordering::Relaxed) {
                std::thread::sleep(RETRY);
            }
        }
    });
    Follower {
        thread,
        watches,
        quit,
    }
}

/// `kubectl get KIND -A --watch -o name`: every line is a change.
fn watch(lab: &str, kind: &str, tx: mpsc::Sender<()>) -> Result<Child, crate::LabError> {
    let state = LabState::load(lab)?;
    let cp = state
        .control_plane
        .ok_or_else(|| crate::LabError::Kubernetes("the lab has no control plane".into()))?;
    let mut child = crate::command_in(&cp.netns, "kubectl", false)?
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .args(["get", kind, "--all-namespaces", "--watch", "-o", "name"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| crate::LabError::Spawn {
            program: "kubectl".into(),
            source,
        })?;
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for _ in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    Ok(child)
}

/// Reacts to the watches' events until both end or `quit`.
fn follow(
    lab: &str,
    rx: &mpsc::Receiver<()>,
    current: &Mutex<Option<Generation>>,
    counters: &Arc<Counters>,
    shared: &Arc<Shared>,
    quit: &AtomicBool,
) {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) if !quit.load(Ordering::Relaxed) => continue,
            Err(_) => return,
        }
        let first = Instant::now();
        while first.elapsed() < SETTLE_MAX && rx.recv_timeout(SETTLE).is_ok() {}
        if quit.load(Ordering::Relaxed) {
            return;
        }
        refresh(lab, current, counters, shared);
    }
}

/// Reads the lab again; restarts the captures when its Pods changed.
fn refresh(
    lab: &str,
    current: &Mutex<Option<Generation>>,
    counters: &Arc<Counters>,
    shared: &Arc<Shared>,
) {
    let new = match LabState::current(lab) {
        Ok(s) => s,
        Err(e) => return eprintln!("podnet lab serve: cannot read the lab again: {e}"),
    };
    let old = shared.state();
    let pods_changed = old.pods != new.pods;
    let mut gen = current.lock().unwrap_or_else(|e| e.into_inner());
    if !pods_changed && new.spec.services == old.spec.services && gen.is_some() {
        return;
    }
    if pods_changed || gen.is_none() {
        if let Some(g) = gen.take() {
            g.stop();
        }
        match Generation::start(&new, counters, shared) {
            Ok(g) => *gen = Some(g),
            // A Pod whose sandbox is not there yet: the next event tries again.
            Err(e) => eprintln!("podnet lab serve: cannot capture on the new Pods yet: {e}"),
        }
    }
    let pods = new.pods.len();
    *shared
        .state
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
    shared.changed(pods);
    eprintln!("podnet lab serve: the lab changed; {pods} Pods");
}
