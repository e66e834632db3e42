//! `podnet lab record`: a few probes and what `lab serve` would have
//! streamed for them, in one file ([`Recording`]) that the explainer's
//! scene i plays back on a page served anywhere, without root or a lab.
//!
//! The same capture and collector as `lab serve` ([`Generation`]), with the
//! stream read here instead of by a browser.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_core::lab_api::{Event, LabProbe, LiveTrace, ProbeRequest, RecordedSend, Recording};
use tokio::sync::broadcast;

use super::capture::Counters;
use super::collect::{MAX_AGE, QUIET};
use super::{shared, Config, Generation};
use crate::process::check_root;
use crate::{probe, LabError, LabState};

/// How long the stream must stay quiet after a probe's last packet: two
/// collector windows (the collector closes a packet at most [`MAX_AGE`]
/// after its first frame).
const QUIET_AFTER: Duration = MAX_AGE.saturating_add(QUIET).saturating_mul(2);

/// How long a probe's packets may take to reach the stream at most: its
/// request's and then its reply's must complete, with room for a slow machine.
const SETTLE: Duration = QUIET_AFTER.saturating_add(Duration::from_millis(500));

/// The probes recorded when none are named: a ping across nodes, a NodePort
/// from the client, and UDP to a Service, as far as the lab has them.
pub fn default_sends(state: &LabState) -> Vec<ProbeRequest> {
    let send = |from: &str, to: &str, proto| ProbeRequest {
        from: from.into(),
        to: to.into(),
        proto,
    };
    let mut v = Vec::new();
    if let (Some(first), Some(last)) = (state.pods.first(), state.pods.last()) {
        if first.node != last.node {
            v.push(send(&first.name, &last.name, LabProbe::Ping));
        }
    }
    if let Some(node) = state.nodes.first() {
        v.push(send("client", &node.name, LabProbe::NodePort));
    }
    if let (Some(pod), Some(svc)) = (state.pods.first(), state.spec.services.first()) {
        let name = format!("{}/{}", svc.namespace, svc.name);
        v.push(send(&pod.name, &name, LabProbe::Udp));
    }
    // Only what this lab can send (a lab without a client has no NodePort probe).
    v.retain(|r| probe::validate(state, r).is_ok());
    v
}

/// Sends each probe in the lab `lab` and records what the stream carried.
/// Every request is checked before anything is sent.
pub fn record(lab: &str, sends: &[ProbeRequest]) -> Result<Recording, LabError> {
    check_root("record captures packets in the lab's namespaces")?;
    let state = LabState::current(lab)?;
    if sends.is_empty() {
        return Err(LabError::Record(
            "nothing to record: name a probe with --send FROM,TO[,ping|udp|nodeport]".into(),
        ));
    }
    for r in sends {
        probe::validate(&state, r)
            .map_err(|e| LabError::Record(format!("--send {},{}: {e}", r.from, r.to)))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LabError::Record(format!("cannot start the runtime: {e}")))?;
    let counters = Arc::new(Counters::default());
    let cfg = Config {
        lab: lab.into(),
        listen: ([127, 0, 0, 1], 0).into(),
        allow_origins: Vec::new(),
        web: None,
    };
    let shared = shared(state.clone(), &cfg, cfg.listen, counters.clone());
    let mut rx = shared.events.subscribe();
    let generation = Generation::start(&state, &counters, &shared)?;
    let recorded = (|| {
        let mut out = Vec::new();
        for request in sends {
            // What came before this probe is not its: a late reply, or traffic.
            while !matches!(
                rx.try_recv(),
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
            ) {}
            let result = probe::run(&state, request).map_err(|e| {
                LabError::Record(format!("--send {},{}: {e}", request.from, request.to))
            })?;
            let is_request = |t: &LiveTrace| result.sent(t);
            let traces = of_the_probe(rt.block_on(collect(&mut rx, is_request)), is_request);
            if !traces.iter().any(is_request) {
                return Err(LabError::Record(format!(
                    "the packet {} sent to {} was not captured within {SETTLE:?}",
                    request.from, request.to
                )));
            }
            out.push(RecordedSend {
                request: request.clone(),
                result,
                traces,
            });
        }
        Ok(out)
    })();
    // The lab the packets were traced through, read once: a Kubernetes lab
    // changing meanwhile cannot make the file disagree with its traces.
    let lab_view = generation.lab().clone();
    generation.stop();
    Ok(Recording {
        podnet: env!("CARGO_PKG_VERSION").into(),
        recorded_us: probe::now_us(),
        lab: lab_view,
        sends: recorded?,
    })
}

/// Of the packets captured while a probe ran, those of the probe: its
/// request and whatever was sent from or to an address the request had on
/// its way (its reply, an ICMP error about it, and a NodePort's reply to
/// the address kube-proxy masqueraded it to: the node's, its bridge's or
/// its VTEP's). A lab's own traffic of the same moment between other
/// addresses (a Kubernetes lab's DNS and health checks, another user's
/// ping) is not the probe's.
fn of_the_probe(traces: Vec<LiveTrace>, is_request: impl Fn(&LiveTrace) -> bool) -> Vec<LiveTrace> {
    let Some(request) = traces.iter().find(|t| is_request(t)) else {
        return traces;
    };
    let ends: HashSet<Ipv4Addr> = request
        .trace
        .sent
        .iter()
        .chain(request.trace.hops.iter().map(|h| &h.frame))
        .flat_map(|f| [f.src, f.dst])
        .collect();
    traces
        .into_iter()
        .filter(|t| {
            t.trace
                .sent
                .is_some_and(|f| ends.contains(&f.src) || ends.contains(&f.dst))
        })
        .collect()
}

/// The packets the stream carries while a probe runs: until its request's
/// has come and then the stream has been quiet for [`QUIET_AFTER`] (a
/// reply, or an ICMP error that NAT rewrote and the collector sees as two
/// packets, comes within one collector window of the last), and never
/// after [`SETTLE`]; [`of_the_probe`] keeps the probe's.
async fn collect(
    rx: &mut broadcast::Receiver<Arc<str>>,
    is_request: impl Fn(&LiveTrace) -> bool,
) -> Vec<LiveTrace> {
    let mut traces = Vec::new();
    // A hard end: a lab that is never quiet (a Kubernetes lab's own
    // traffic) still ends the recording.
    let end = Instant::now() + SETTLE;
    let mut until = end;
    let mut request_seen = false;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(text)) => {
                let Ok(Event::Trace(t)) = serde_json::from_str::<Event>(&text) else {
                    continue;
                };
                request_seen |= is_request(&t);
                traces.push(*t);
                if request_seen {
                    until = (Instant::now() + QUIET_AFTER).min(end);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return traces,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::forward::{Network, ProbeKind, Trace};
    use podnet_core::topology::{scenario, Backend, Cluster};

    fn live(id: u64, trace: Trace) -> LiveTrace {
        LiveTrace {
            id,
            first_us: id,
            last_us: id,
            assembled_us: id,
            frames: 1,
            trace,
        }
    }

    fn ping(c: &Cluster, net: &Network, from: &str, to: &str) -> Trace {
        let from = c.endpoint_named(from).unwrap();
        let to = c.address_of(c.endpoint_named(to).unwrap()).unwrap();
        net.probe(from, to, ProbeKind::Ping).unwrap()
    }

    #[test]
    fn a_probe_keeps_its_own_packets_and_not_the_lab_s_other_traffic() {
        let c = scenario::demo();
        let net = Network::new(&c).unwrap();
        let request = ping(&c, &net, "pod-a", "pod-c");
        let reply = net.reply(&request).unwrap().unwrap();
        let other = ping(&c, &net, "pod-b", "pod-d");
        let sent = request.sent;
        let is_request = |t: &LiveTrace| t.trace.sent == sent;
        let traces = vec![
            live(1, other.clone()),
            live(2, request),
            live(3, reply),
            live(4, other),
        ];
        let kept = of_the_probe(traces, is_request);
        assert_eq!(kept.iter().map(|t| t.id).collect::<Vec<_>>(), [2, 3]);
        // No request captured: nothing to tell the probe's by, all kept
        // (the caller reports the request missing).
        let other = ping(&c, &net, "pod-b", "pod-d");
        assert_eq!(of_the_probe(vec![live(1, other)], |_| false).len(), 1);
    }

    /// A NodePort's reply leaves the backend for the address kube-proxy
    /// masqueraded the request to, which is neither end of the probe when
    /// the backend is on the node asked (its bridge's) or behind VXLAN (the
    /// VTEP's): it is the probe's all the same.
    #[test]
    fn a_node_port_s_reply_to_a_masquerade_address_is_kept() {
        let mut outside_the_ends = 0;
        for backend in [Backend::HostGw, Backend::Vxlan] {
            let mut c = scenario::node_port();
            c.set_backend(backend);
            let net = Network::new(&c).unwrap();
            let laptop = c.endpoint_named("laptop").unwrap();
            for node in c.nodes() {
                let request = net
                    .probe(laptop, node.underlay_ip, ProbeKind::TcpSyn(30080))
                    .unwrap();
                let at = format!("{backend:?} laptop -> {}", node.name);
                let reply = net
                    .reply(&request)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{at}: no reply"));
                let (req, rep) = (request.sent.unwrap(), reply.sent.unwrap());
                if ![req.src, req.dst].contains(&rep.dst) {
                    outside_the_ends += 1;
                }
                let sent = request.sent;
                let kept = of_the_probe(vec![live(1, request), live(2, reply)], |t| {
                    t.trace.sent == sent
                });
                assert_eq!(kept.len(), 2, "{at}: the reply {rep:?} was dropped");
            }
        }
        assert!(
            outside_the_ends > 0,
            "no reply went to a masquerade address"
        );
    }
}
