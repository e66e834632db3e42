//! The NetworkPolicy truth table, measured on a lab's layout Pods
//! (`lab up --kubernetes --netpol`) and compared cell by cell with the
//! model under the same policies.
//!
//! Every layout Pod serves TCP and UDP on 80 and 81 for the length of the
//! check (listeners this process opens inside the Pod's namespace); every
//! Pod then connects to every other on each: a TCP handshake or a UDP
//! answer within a second is "allowed", silence "denied" (the policy table
//! drops, it does not refuse). All pairs are measured at once, so the 288
//! cells take about one timeout. The model is the cluster's
//! [`PolicySet`](podnet_core::policy::PolicySet), built from the same Pods,
//! Namespaces and NetworkPolicies the agents read.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use podnet_core::policy::layout::PORTS;
use podnet_core::policy::{Party, PolicyProtocol};
use podnet_kernel::Netns;

use crate::{LabError, LabPod, LabState};

/// How long a probe waits for the handshake or the answer.
const WAIT: Duration = Duration::from_secs(1);

/// One cell: a connection real and modelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCell {
    /// The sender (`x/a`).
    pub from: String,
    /// The receiver.
    pub to: String,
    /// The port.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: PolicyProtocol,
    /// The kernel let it through.
    pub real: bool,
    /// The model lets it through.
    pub model: bool,
    /// The model's verdict in words (which policy allowed or isolated).
    pub why: String,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTable {
    /// Every cell.
    pub cells: Vec<PolicyCell>,
    /// How many NetworkPolicies the cluster has.
    pub policies: usize,
}

impl PolicyTable {
    /// Cells where the kernel and the model differ.
    pub fn differences(&self) -> Vec<&PolicyCell> {
        self.cells.iter().filter(|c| c.real != c.model).collect()
    }
}

/// Measures and compares the table, or `None` when the lab has no layout Pods.
pub fn run(state: &LabState) -> Result<Option<PolicyTable>, LabError> {
    let names = crate::netpol::pod_names();
    let pods: Vec<LabPod> = names
        .iter()
        .filter_map(|n| state.pods.iter().find(|p| &p.name == n).cloned())
        .collect();
    if pods.len() != names.len() {
        return Ok(None);
    }
    let cluster = state.spec.build()?;
    let set = cluster.policy_set()?;
    let stop = Arc::new(AtomicBool::new(false));
    let servers = serve(&pods, &stop);
    let measured = servers.and_then(|_| measure(&pods));
    stop.store(true, Ordering::Relaxed);
    let measured = measured?;
    let mut cells = Vec::new();
    for (from, to, port, protocol, real) in measured {
        let (a, b) = (&pods[from], &pods[to]);
        let (Some(i), Some(j)) = (set.pod_at(a.ip), set.pod_at(b.ip)) else {
            return Err(LabError::Kubernetes(format!(
                "{} or {} is not in the model's Pods",
                a.name, b.name
            )));
        };
        let verdict = set.verdict(Party::Pod(i), Party::Pod(j), port, protocol);
        cells.push(PolicyCell {
            from: a.name.clone(),
            to: b.name.clone(),
            port,
            protocol,
            real,
            model: verdict.allowed(),
            why: verdict.explain(),
        });
    }
    Ok(Some(PolicyTable {
        cells,
        policies: cluster.policies().len(),
    }))
}

fn protocols() -> [PolicyProtocol; 2] {
    [PolicyProtocol::Tcp, PolicyProtocol::Udp]
}

/// Listeners on TCP and UDP 80 and 81 in every Pod until `stop`; returns
/// once all are bound.
fn serve(pods: &[LabPod], stop: &Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>, LabError> {
    let (ready, bound) = mpsc::channel();
    let mut threads = Vec::new();
    for pod in pods {
        for port in PORTS {
            for protocol in protocols() {
                let ns = Netns::open(&crate::ns_path(&pod.netns))?;
                let (ip, stop, ready) = (pod.ip, stop.clone(), ready.clone());
                threads.push(std::thread::spawn(move || {
                    let _ = ns.run(|| listen(ip, port, protocol, &ready, &stop));
                }));
            }
        }
    }
    drop(ready);
    for _ in 0..threads.len() {
        match bound.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                return Err(LabError::Kubernetes(format!(
                    "a NetworkPolicy listener: {e}"
                )));
            }
            Err(_) => break,
        }
    }
    Ok(threads)
}

fn listen(
    ip: Ipv4Addr,
    port: u16,
    protocol: PolicyProtocol,
    ready: &mpsc::Sender<Result<(), String>>,
    stop: &AtomicBool,
) {
    let tick = Duration::from_millis(20);
    match protocol {
        PolicyProtocol::Udp => {
            let sock = match UdpSocket::bind((ip, port)) {
                Ok(s) => s,
                Err(e) => return drop(ready.send(Err(format!("UDP {ip}:{port}: {e}")))),
            };
            let _ = sock.set_read_timeout(Some(tick));
            let _ = ready.send(Ok(()));
            let mut buf = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], peer);
                }
            }
        }
        _ => {
            let sock = match TcpListener::bind((ip, port)) {
                Ok(s) => s,
                Err(e) => return drop(ready.send(Err(format!("TCP {ip}:{port}: {e}")))),
            };
            let _ = sock.set_nonblocking(true);
            let _ = ready.send(Ok(()));
            while !stop.load(Ordering::Relaxed) {
                match sock.accept() {
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(tick),
                }
            }
        }
    }
}

/// Every ordered pair of distinct Pods, on each port and protocol, all
/// pairs at once: (from, to, port, protocol, allowed).
#[allow(clippy::type_complexity)]
fn measure(pods: &[LabPod]) -> Result<Vec<(usize, usize, u16, PolicyProtocol, bool)>, LabError> {
    let mut threads = Vec::new();
    for (i, a) in pods.iter().enumerate() {
        for (j, b) in pods.iter().enumerate() {
            if i == j {
                continue;
            }
            let ns = Netns::open(&crate::ns_path(&a.netns))?;
            let to = b.ip;
            threads.push(std::thread::spawn(move || {
                ns.run(|| {
                    let mut out = Vec::new();
                    for port in PORTS {
                        for protocol in protocols() {
                            out.push((i, j, port, protocol, reaches(to, port, protocol)));
                        }
                    }
                    out
                })
            }));
        }
    }
    let mut all = Vec::new();
    for t in threads {
        let cells = t
            .join()
            .map_err(|_| LabError::Kubernetes("a NetworkPolicy probe thread panicked".into()))??;
        all.extend(cells);
    }
    Ok(all)
}

/// A TCP handshake, or a UDP datagram answered, within [`WAIT`].
fn reaches(to: Ipv4Addr, port: u16, protocol: PolicyProtocol) -> bool {
    match protocol {
        PolicyProtocol::Udp => {
            let Ok(sock) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
                return false;
            };
            let _ = sock.set_read_timeout(Some(WAIT));
            let mut buf = [0u8; 64];
            sock.connect((to, port)).is_ok()
                && sock.send(crate::probe::PAYLOAD).is_ok()
                && sock.recv(&mut buf).is_ok()
        }
        _ => TcpStream::connect_timeout(&SocketAddr::from((to, port)), WAIT).is_ok(),
    }
}
