//! i. Live lab: a real lab's kernels, real captured packets, and the model beside them.
//!
//! The page connects to `podnet lab serve`, draws the cluster its kernels
//! report, lets the reader send a ping between two real pods, and animates
//! the captured packet with the same drawing and player as the other
//! scenes. Core replays the captured packet through the model and the table
//! below marks every place where the two differ. Without a lab, the reader
//! plays a real lab's recording shipped with the page (`podnet lab
//! record`): the same messages, through the same code.

use std::cell::RefCell;
use std::rc::Rc;

use futures::SinkExt;
use gloo::net::websocket::Message;
use podnet_core::forward::capture::{compare, replay};
use podnet_core::forward::{describe, Network, Step, Verdict};
use podnet_core::lab_api::{
    LabProbe, LabView, LiveTrace, ProbeRequest, ProbeResult, Recording, Role,
};
use podnet_core::topology::Cluster;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::{Packet, SceneProps};
use crate::components::compare::CompareTable;
use crate::components::topology::Topology;
use crate::lab_client;
use crate::state::Action;

/// Packets kept in the list.
const KEEP: usize = 100;

/// A connected lab, or a recorded one.
#[derive(Debug, PartialEq)]
pub struct Lab {
    /// Its address (none for a recording).
    pub addr: String,
    /// The recording played, instead of a server.
    pub recording: Option<Rc<Recording>>,
    /// What its kernels report.
    pub view: LabView,
    /// The same, as core models it.
    pub cluster: Rc<Cluster>,
}

/// The connection.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Status {
    /// Not connected.
    #[default]
    Idle,
    /// Connecting.
    Connecting,
    /// Streaming.
    Connected,
    /// Failed, or the stream ended.
    Failed(String),
}

/// The scene's own state.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Address typed.
    pub addr: String,
    /// Connection.
    pub status: Status,
    /// The lab, once read.
    pub lab: Option<Rc<Lab>>,
    /// Captured packets, oldest first.
    pub traces: Vec<Rc<LiveTrace>>,
    /// The packet shown.
    pub selected: Option<u64>,
    /// Probe sender, receiver and protocol.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// What to send.
    pub proto: LabProbe,
    /// The last probe's answer.
    pub probe: Option<Result<ProbeResult, String>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            addr: "127.0.0.1:7070".into(),
            status: Status::Idle,
            lab: None,
            traces: Vec::new(),
            selected: None,
            from: String::new(),
            to: String::new(),
            proto: LabProbe::Ping,
            probe: None,
        }
    }
}

/// What changes it.
pub enum LiveAction {
    /// The address field.
    Addr(String),
    /// Connecting.
    Connecting,
    /// The lab was read.
    Connected(Rc<Lab>),
    /// The lab's members changed and it was read again: the packets seen
    /// so far were drawn on the old members and go.
    Refreshed(Rc<Lab>),
    /// Connection failed or ended.
    Failed(String),
    /// A packet arrived.
    Trace(Rc<LiveTrace>),
    /// A recorded packet was played: numbered after the ones shown.
    Replayed(Rc<LiveTrace>),
    /// Show this packet.
    Select(u64),
    /// Probe sender.
    From(String),
    /// Probe receiver.
    To(String),
    /// Probe protocol.
    Proto(String),
    /// A probe was sent.
    Probed(Result<ProbeResult, String>),
}

impl Reducible for Live {
    type Action = LiveAction;

    fn reduce(self: Rc<Self>, action: LiveAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            LiveAction::Addr(a) => s.addr = a,
            LiveAction::Connecting => {
                // The source before is being closed: nothing is sent to it
                // any more, even if the new one fails.
                s.lab = None;
                s.status = Status::Connecting;
                s.traces.clear();
                s.selected = None;
                s.probe = None;
            }
            LiveAction::Connected(lab) => {
                // Default probe: the first pod of the first node to the first pod of the last.
                let pods = lab.cluster.pods();
                let first = pods.first().map(|p| (p.node, p.name.clone()));
                let other = pods
                    .iter()
                    .rev()
                    .find(|p| first.as_ref().is_some_and(|f| f.0 != p.node))
                    .or(pods.last());
                s.from = first.map(|f| f.1).unwrap_or_default();
                s.to = other.map(|p| p.name.clone()).unwrap_or_default();
                s.lab = Some(lab);
                s.status = Status::Connected;
            }
            LiveAction::Refreshed(lab) => {
                // The chosen sender and receiver stay if they still exist.
                let names = members(&lab.cluster);
                let known = |n: &String| {
                    names.contains(n) || lab.cluster.services().iter().any(|v| &v.full_name() == n)
                };
                if !known(&s.from) {
                    s.from = names.first().cloned().unwrap_or_default();
                }
                if !known(&s.to) {
                    s.to = names.last().cloned().unwrap_or_default();
                }
                s.traces.clear();
                s.selected = None;
                s.lab = Some(lab);
            }
            LiveAction::Failed(e) => s.status = Status::Failed(e),
            LiveAction::Replayed(t) => {
                let next = s.traces.last().map_or(1, |l| l.id + 1);
                let t = Rc::new(LiveTrace {
                    id: next,
                    ..(*t).clone()
                });
                return Rc::new(s).reduce(LiveAction::Trace(t));
            }
            LiveAction::Trace(t) => {
                let wanted = match &s.probe {
                    Some(Ok(p)) => p.sent(&t),
                    _ => false,
                };
                if wanted || s.selected.is_none() {
                    s.selected = Some(t.id);
                }
                s.traces.push(t);
                if s.traces.len() > KEEP {
                    let drop = s.traces.len() - KEEP;
                    s.traces.drain(..drop);
                }
            }
            LiveAction::Select(id) => s.selected = Some(id),
            LiveAction::From(v) => s.from = v,
            LiveAction::To(v) => s.to = v,
            LiveAction::Proto(v) => s.proto = LabProbe::from_key(&v).unwrap_or_default(),
            LiveAction::Probed(r) => {
                if let Ok(p) = &r {
                    if let Some(t) = s.traces.iter().rev().find(|t| p.sent(t)) {
                        s.selected = Some(t.id);
                    }
                }
                s.probe = Some(r);
            }
        }
        Rc::new(s)
    }
}

/// Who can send or receive a probe: pods, nodes, clients.
fn members(c: &Cluster) -> Vec<String> {
    c.pods()
        .iter()
        .map(|p| p.name.clone())
        .chain(c.nodes().iter().map(|n| n.name.clone()))
        .chain(c.clients().iter().map(|c| c.name.clone()))
        .collect()
}

type Sink = futures::stream::SplitSink<gloo::net::websocket::futures::WebSocket, Message>;

/// A new source, a lab or the recording: from now on what the one before
/// sends is ignored (its generation is past).
fn begin(d: &UseReducerDispatcher<Live>, generation: &Rc<RefCell<u32>>) -> u32 {
    let gen = generation.borrow().wrapping_add(1);
    *generation.borrow_mut() = gen;
    d.dispatch(LiveAction::Connecting);
    gen
}

/// Closes the stream of the source before, if any.
async fn close(sink: &Rc<RefCell<Option<Sink>>>) {
    let old = sink.borrow_mut().take();
    if let Some(mut old) = old {
        let _ = old.close().await;
    }
}

fn connect(
    addr: String,
    d: UseReducerDispatcher<Live>,
    sink: Rc<RefCell<Option<Sink>>>,
    generation: Rc<RefCell<u32>>,
) {
    // A mistyped address changes nothing: the lab or recording shown stays.
    let addr = match lab_client::normalize(&addr) {
        Ok(a) => a,
        Err(e) => return d.dispatch(LiveAction::Failed(e)),
    };
    // From here, whatever the source before still sends is ignored.
    let gen = begin(&d, &generation);
    yew::platform::spawn_local(async move {
        close(&sink).await;
        let read = lab_client::fetch_lab(&addr).await;
        if *generation.borrow() != gen {
            return;
        }
        let view = match read {
            Ok(v) => v,
            Err(e) => return d.dispatch(LiveAction::Failed(e)),
        };
        let cluster = match view.cluster() {
            Ok(c) => Rc::new(c),
            Err(e) => {
                return d.dispatch(LiveAction::Failed(format!(
                    "the lab describes no valid cluster: {e}"
                )))
            }
        };
        let current = {
            let generation = generation.clone();
            move || *generation.borrow() == gen
        };
        let (on, changed, closed, d2) = (current.clone(), current.clone(), current, d.clone());
        let opened = lab_client::stream(
            &addr,
            move |t| {
                if on() {
                    d2.dispatch(LiveAction::Trace(Rc::new(t)));
                }
            },
            {
                let (d, addr) = (d.clone(), addr.clone());
                move || {
                    let (d, addr, changed) = (d.clone(), addr.clone(), changed.clone());
                    yew::platform::spawn_local(async move {
                        let read = lab_client::fetch_lab(&addr).await;
                        if !changed() {
                            return;
                        }
                        match read.and_then(|view| {
                            let cluster = view.cluster().map_err(|e| e.to_string())?;
                            Ok((view, cluster))
                        }) {
                            Ok((view, cluster)) => {
                                d.dispatch(LiveAction::Refreshed(Rc::new(Lab {
                                    addr,
                                    recording: None,
                                    view,
                                    cluster: Rc::new(cluster),
                                })))
                            }
                            Err(e) => d.dispatch(LiveAction::Failed(e)),
                        }
                    });
                }
            },
            {
                let d = d.clone();
                move |why| {
                    if closed() {
                        d.dispatch(LiveAction::Failed(format!("stream ended: {why}")));
                    }
                }
            },
        );
        match opened {
            Ok(s) => {
                *sink.borrow_mut() = Some(s);
                d.dispatch(LiveAction::Connected(Rc::new(Lab {
                    addr,
                    recording: None,
                    view,
                    cluster,
                })));
            }
            Err(e) => d.dispatch(LiveAction::Failed(e)),
        }
    });
}

/// Plays the recording shipped with the page: read like a lab, then its
/// first probe sent.
fn play(
    d: UseReducerDispatcher<Live>,
    sink: Rc<RefCell<Option<Sink>>>,
    generation: Rc<RefCell<u32>>,
) {
    let gen = begin(&d, &generation);
    yew::platform::spawn_local(async move {
        close(&sink).await;
        let read = lab_client::fetch_recording().await.and_then(|rec| {
            let cluster = rec
                .lab
                .cluster()
                .map_err(|e| format!("the recording describes no valid cluster: {e}"))?;
            Ok((rec, cluster))
        });
        if *generation.borrow() != gen {
            return;
        }
        let (rec, cluster) = match read {
            Ok(r) => r,
            Err(e) => return d.dispatch(LiveAction::Failed(e)),
        };
        let rec = Rc::new(rec);
        d.dispatch(LiveAction::Connected(Rc::new(Lab {
            addr: String::new(),
            view: rec.lab.clone(),
            recording: Some(rec.clone()),
            cluster: Rc::new(cluster),
        })));
        if let Some(first) = rec.sends.first() {
            d.dispatch(LiveAction::From(first.request.from.clone()));
            d.dispatch(LiveAction::To(first.request.to.clone()));
            d.dispatch(LiveAction::Proto(first.request.proto.key().into()));
            replay_send(&rec, &first.request, &d);
        }
    });
}

/// A recorded probe, as the lab sent it: its answer and its packets (with
/// ids after the ones shown, as a lab's stream would number them).
fn replay_send(rec: &Recording, req: &ProbeRequest, d: &UseReducerDispatcher<Live>) {
    let Some(sent) = rec.sends.iter().find(|s| &s.request == req) else {
        let recorded: Vec<String> = rec
            .sends
            .iter()
            .map(|s| {
                format!(
                    "{} → {} ({})",
                    s.request.from,
                    s.request.to,
                    s.request.proto.key()
                )
            })
            .collect();
        return d.dispatch(LiveAction::Probed(Err(if recorded.is_empty() {
            "the recording holds no probes: connect a lab to send one".to_string()
        } else {
            format!(
                "not in the recording, which has: {}; connect a lab to send anything",
                recorded.join(", ")
            )
        })));
    };
    d.dispatch(LiveAction::Probed(Ok(sent.result.clone())));
    for t in &sent.traces {
        d.dispatch(LiveAction::Replayed(Rc::new(t.clone())));
    }
}

fn trace_label(t: &LiveTrace, c: &Cluster) -> String {
    let what = match t.trace.sent.map(|f| f.l4) {
        Some(podnet_core::forward::L4Repr::IcmpEcho { request: true, .. }) => "ping",
        Some(podnet_core::forward::L4Repr::IcmpEcho { request: false, .. }) => "ping reply",
        Some(podnet_core::forward::L4Repr::Udp { .. }) => "udp",
        Some(podnet_core::forward::L4Repr::Tcp { .. }) => "tcp",
        _ => "ip",
    };
    let (src, dst) = t.trace.sent.map(|f| (f.src, f.dst)).unwrap_or((
        std::net::Ipv4Addr::UNSPECIFIED,
        std::net::Ipv4Addr::UNSPECIFIED,
    ));
    let end = match t.trace.verdict {
        Verdict::Delivered { to } => format!("delivered to {}", c.name_of(to)),
        Verdict::Dropped { at, .. } => format!("lost after {}", at.label(c)),
    };
    format!(
        "#{} {what} {src} → {dst}: {} hops, {end}",
        t.id,
        t.trace.hops.len()
    )
}

/// Scene i.
#[function_component(LiveScene)]
pub fn live_scene(p: &SceneProps) -> Html {
    let live = use_reducer(Live::default);
    let sink = use_mut_ref(|| None::<Sink>);
    // Bumped by each Connect, so a replaced stream's late messages are ignored.
    let generation = use_mut_ref(|| 0u32);
    let selected: Option<Rc<LiveTrace>> = live
        .selected
        .and_then(|id| live.traces.iter().find(|t| t.id == id).cloned());
    // A new packet on screen: the player starts from its first hop and plays.
    {
        let on = p.on.clone();
        let len = selected.as_ref().map_or(0, |t| t.trace.hops.len());
        let id = selected.as_ref().map(|t| (t.id, t.first_us));
        use_effect_with(id, move |id| {
            on.emit(Action::SetLen(len));
            on.emit(Action::Seek(0));
            if let Some((id, first_us)) = *id {
                on.emit(Action::TogglePlay);
                // For the latency figure: when the page showed the packet.
                let w = gloo::utils::window();
                let o = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&o, &"id".into(), &(id as f64).into());
                let _ = js_sys::Reflect::set(&o, &"firstUs".into(), &(first_us as f64).into());
                let _ = js_sys::Reflect::set(&o, &"shownMs".into(), &js_sys::Date::now().into());
                let _ = js_sys::Reflect::set(&w, &"podnetLive".into(), &o);
            }
        });
    }
    // One Rc per captured packet: a prediction's grade belongs to it.
    let shown = use_memo(selected.clone(), |s| {
        s.as_ref().map(|t| Rc::new(t.trace.clone()))
    });
    let comparison = {
        let lab = live.lab.clone();
        use_memo((selected.clone(), lab), |(t, lab)| {
            let (t, lab) = (t.as_ref()?, lab.as_ref()?);
            let net = Network::new(&lab.cluster).ok()?;
            let model = replay(&net, &t.trace).ok()?;
            // The model's address rewrite, where the kernel's is only seen
            // as a destination that changed between two captures.
            let nat = model.hops.iter().find_map(|h| {
                matches!(h.step, Step::Dnat { .. } | Step::HostPortDnat { .. }).then(|| {
                    format!(
                        "{}: {}",
                        h.place.label(&lab.cluster),
                        describe(&h.step, &lab.cluster)
                    )
                })
            });
            Some((Rc::new(compare(&model, &t.trace)), nat))
        })
    };
    let d = live.dispatcher();
    let addr_field = use_node_ref();
    let on_connect = {
        let (d, field, sink, generation) = (
            d.clone(),
            addr_field.clone(),
            sink.clone(),
            generation.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            // The field as it is now: Enter may come before its change event.
            let Some(addr) = field.cast::<HtmlInputElement>().map(|i| i.value()) else {
                return;
            };
            d.dispatch(LiveAction::Addr(addr.clone()));
            connect(addr, d.clone(), sink.clone(), generation.clone());
        })
    };
    let on_play = {
        let (d, sink, generation) = (d.clone(), sink.clone(), generation.clone());
        Callback::from(move |_: MouseEvent| play(d.clone(), sink.clone(), generation.clone()))
    };
    let select = |f: fn(String) -> LiveAction| {
        let d = d.clone();
        Callback::from(move |e: Event| {
            d.dispatch(f(e.target_unchecked_into::<HtmlSelectElement>().value()))
        })
    };
    let on_send = {
        let (d, live, generation) = (d.clone(), live.clone(), generation.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(lab) = live.lab.clone() else { return };
            let req = ProbeRequest {
                from: live.from.clone(),
                to: live.to.clone(),
                proto: live.proto,
            };
            if let Some(rec) = &lab.recording {
                return replay_send(rec, &req, &d);
            }
            let (d, generation) = (d.clone(), generation.clone());
            let gen = *generation.borrow();
            yew::platform::spawn_local(async move {
                let answer = lab_client::probe(&lab.addr, &req).await;
                // An answer from a lab since replaced is not this page's.
                if *generation.borrow() == gen {
                    d.dispatch(LiveAction::Probed(answer));
                }
            });
        })
    };
    let status = match &live.status {
        Status::Idle => html! { <span id="live-status">{ "not connected" }</span> },
        Status::Connecting => html! { <span id="live-status">{ "connecting…" }</span> },
        Status::Connected => {
            let text = match live.lab.as_deref() {
                Some(Lab { recording: Some(rec), view, .. }) if rec.sends.is_empty() => format!(
                    "the recording of lab {} holds no probes: connect a lab to send one",
                    view.name
                ),
                Some(Lab { recording: Some(rec), view, .. }) => format!(
                    "playing a recording of lab {} (podnet {}, {} probes): pick one of them and Send",
                    view.name,
                    rec.podnet,
                    rec.sends.len()
                ),
                lab => format!("connected to lab {}", lab.map_or("", |l| l.view.name.as_str())),
            };
            html! { <span id="live-status" class="ok">{ text }</span> }
        }
        Status::Failed(e) => html! { <span id="live-status" class="bad">{ e.clone() }</span> },
    };
    let members: Vec<String> = live
        .lab
        .as_ref()
        .map_or_else(Vec::new, |l| members(&l.cluster));
    // A Service is a receiver only: UDP to its ClusterIP, DNAT on the way.
    let services: Vec<(String, String)> = live.lab.as_ref().map_or_else(Vec::new, |l| {
        l.cluster
            .services()
            .iter()
            .map(|s| {
                let label = format!("Service {} ({})", s.name, s.cluster_ip);
                (s.full_name(), label)
            })
            .collect()
    });
    let choose = |id: &'static str, current: &str, cb: Callback<Event>, with_services: bool| {
        let extra: &[(String, String)] = if with_services { &services } else { &[] };
        html! {
            <select id={id} onchange={cb}>
                { for members.iter().map(|m| html! { <option value={m.clone()} selected={m == current}>{ m.clone() }</option> }) }
                { for extra.iter().map(|(v, label)| html! { <option value={v.clone()} selected={v == current}>{ label.clone() }</option> }) }
            </select>
        }
    };
    let probe_text = match &live.probe {
        None => html! {},
        Some(Ok(r)) => html! { <span id="live-probe-result" class="ok">{
            match r.rtt_us { Some(us) => format!("answered in {:.2} ms", us as f64 / 1000.0), None => "no answer".into() }
        }</span> },
        Some(Err(e)) => html! { <span id="live-probe-result" class="bad">{ e.clone() }</span> },
    };
    html! {
        <section class="scene" id="scene-i">
            <div class="explain">
                <p>{ "Everything so far was the model. Here is a real lab: network namespaces for nodes and pods, wired by podnet-agent and podnet-cni. As root, run " }
                    <code>{ "podnet lab up" }</code>{ " and " }<code>{ "podnet lab serve" }</code>
                    { ", then connect. The page draws what the kernels report, sends a real ping from inside the lab, and animates the frames captured on every veth, bridge and uplink. podnet-core replays the same packet through the model; the table marks every place where they differ. No lab at hand? Play the recording of a real one shipped with this page (made by " }<code>{ "podnet lab record" }</code>{ "): the same messages, compared by the same code." }</p>
                <form class="live-connect" onsubmit={on_connect}>
                    <label>{ "Lab server " }<input id="live-addr" ref={addr_field} value={live.addr.clone()} /></label>
                    <button id="live-connect" type="submit">{ "Connect" }</button>
                    { " or " }
                    <button id="live-play" type="button" onclick={on_play}>{ "Play a recorded lab" }</button>
                    { status }
                </form>
                { if live.lab.is_some() { html! {
                    <div class="live-probe">
                        { choose("live-from", &live.from, select(LiveAction::From), false) }
                        { " → " }
                        { choose("live-to", &live.to, select(LiveAction::To), true) }
                        <select id="live-proto" onchange={select(LiveAction::Proto)}>
                            <option value={LabProbe::Ping.key()} selected={live.proto == LabProbe::Ping}>{ "ping" }</option>
                            <option value={LabProbe::Udp.key()} selected={live.proto == LabProbe::Udp}>{ "UDP" }</option>
                            <option value={LabProbe::NodePort.key()} selected={live.proto == LabProbe::NodePort} title="UDP to the node's port 30080, DNAT to the service's pod">{ "NodePort (to a node)" }</option>
                        </select>
                        <button id="live-send" onclick={on_send}>{ "Send" }</button>
                        { probe_text }
                    </div>
                } } else { html! {} } }
                { match &live.lab { Some(lab) => html! {
                    <ul id="live-traces" class="live-traces">
                        { for live.traces.iter().rev().take(12).map(|t| {
                            let (d, id) = (d.clone(), t.id);
                            html! {
                                <li class={classes!((live.selected == Some(t.id)).then_some("current"))}>
                                    <button onclick={Callback::from(move |_: MouseEvent| d.dispatch(LiveAction::Select(id)))}>{ trace_label(t, &lab.cluster) }</button>
                                </li>
                            }
                        }) }
                    </ul>
                }, None => html! {} } }
            </div>
            { match (&live.lab, &selected) {
                (Some(lab), Some(_)) => {
                    let trace = (*shown).clone();
                    html! {
                        <>
                            <Packet trace={trace} cluster={lab.cluster.clone()} step={p.state.step}
                                playing={p.state.playing} speed={p.state.speed} on={p.on.clone()}
                                graded_by={Some(AttrValue::from("graded by the packet the lab captured"))} />
                            { match &*comparison { Some((cmp, nat)) => html! { <>
                                <CompareTable cmp={cmp.clone()} cluster={lab.cluster.clone()} />
                                { for nat.iter().map(|n| html! { <p id="live-model-nat">{ format!("In the model: {n}. The kernel's rewrite is the destination that changed between two captures; the model followed the endpoint it chose.") }</p> }) }
                            </> }, None => html! {} } }
                        </>
                    }
                }
                (Some(lab), None) => html! { <Topology cluster={lab.cluster.clone()} /> },
                _ => html! {},
            } }
            { match &live.lab { Some(lab) => html! {
                <details class="live-kernel">
                    <summary>{ "Routes as the kernels report them" }</summary>
                    { for lab.view.namespaces.iter().filter(|n| n.role == Role::Node).map(|n| html! {
                        <div>
                            <h4>{ n.name.clone() }</h4>
                            <ul>{ for n.routes.iter().map(|r| html! {
                                <li><code>{ format!("{}{} proto {}", r.dst, r.via.map(|v| format!(" via {v}")).unwrap_or_default(), r.proto) }</code></li>
                            }) }</ul>
                        </div>
                    }) }
                </details>
            }, None => html! {} } }
            { match &live.lab { Some(lab) if !lab.view.joins.is_empty() => html! {
                <crate::components::joins::Observed joins={lab.view.joins.clone()} cluster={lab.cluster.clone()} />
            }, _ => html! {} } }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_core::forward::capture::{assemble, Capture, Dir, Tap};
    use podnet_core::forward::ProbeKind;
    use podnet_core::topology::scenario;

    fn captured(id: u64, icmp_id: u16) -> Rc<LiveTrace> {
        let c = scenario::demo();
        let a = c.pod_named("pod-a").unwrap();
        let mut frame = ProbeKind::Ping.frame(a.ip, "10.244.2.2".parse().unwrap());
        frame.l4 = podnet_core::forward::L4Repr::IcmpEcho {
            request: true,
            id: icmp_id,
            seq: 1,
        };
        let cap = Capture {
            tap: Tap::PodEth(a.id),
            dir: Dir::Out,
            at_us: 1,
            frame,
            outer: None,
        };
        Rc::new(LiveTrace {
            id,
            first_us: 1,
            last_us: 1,
            assembled_us: 2,
            frames: 1,
            trace: assemble(&c, &[cap], Vec::new()).unwrap(),
        })
    }

    fn probed(icmp_id: u16) -> LiveAction {
        LiveAction::Probed(Ok(ProbeResult {
            from: "pod-a".into(),
            to: "pod-c".into(),
            dst: "10.244.2.2".parse().unwrap(),
            proto: LabProbe::Ping,
            icmp_id: Some(icmp_id),
            icmp_seq: Some(1),
            src_port: None,
            sent_us: 0,
            answered: true,
            rtt_us: Some(300),
        }))
    }

    #[test]
    fn the_probe_s_packet_is_shown_whichever_arrives_first() {
        // Packet first, then the probe's answer.
        let s = Rc::new(Live::default())
            .reduce(LiveAction::Trace(captured(1, 7)))
            .reduce(LiveAction::Trace(captured(2, 42)))
            .reduce(probed(42));
        assert_eq!(s.selected, Some(2));
        // The answer first, then unrelated traffic, then the packet.
        let s = Rc::new(Live::default())
            .reduce(LiveAction::Trace(captured(1, 7)))
            .reduce(probed(42))
            .reduce(LiveAction::Trace(captured(2, 9)))
            .reduce(LiveAction::Trace(captured(3, 42)))
            .reduce(LiveAction::Trace(captured(4, 9)));
        assert_eq!(s.selected, Some(3));
    }

    #[test]
    fn a_new_source_leaves_nothing_of_the_old_one_to_send_to() {
        let rec: Recording =
            serde_json::from_str(include_str!("../../../static/lab-recording.json")).unwrap();
        let cluster = Rc::new(rec.lab.cluster().unwrap());
        let lab = Rc::new(Lab {
            addr: "127.0.0.1:7070".into(),
            recording: None,
            view: rec.lab.clone(),
            cluster,
        });
        let s = Rc::new(Live::default())
            .reduce(LiveAction::Connected(lab))
            .reduce(LiveAction::Trace(captured(1, 7)));
        assert!(s.lab.is_some());
        // Connecting to another lab, or playing the recording, which may
        // then fail: Send has no lab until the new source is read.
        let s = s
            .reduce(LiveAction::Connecting)
            .reduce(LiveAction::Failed("refused".into()));
        assert!(s.lab.is_none());
        assert!(s.traces.is_empty());
        assert_eq!(s.status, Status::Failed("refused".into()));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut s = Rc::new(Live::default());
        for i in 0..(KEEP as u64 + 50) {
            s = s.reduce(LiveAction::Trace(captured(i + 1, 1)));
        }
        assert_eq!(s.traces.len(), KEEP);
        assert_eq!(s.traces[0].id, 51);
    }
}
