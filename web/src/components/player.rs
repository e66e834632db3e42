//! Simulation controls and the hop list: play, pause, step, speed, inspect, export.

use std::rc::Rc;

use podnet_core::forward::{describe, pcap, Trace, Verdict};
use podnet_core::topology::{Cluster, Endpoint};
use yew::prelude::*;

use super::download::download;
use super::headers::Headers;
use crate::state::Action;

/// Props.
#[derive(Properties, PartialEq)]
pub struct PlayerProps {
    /// The packet's path.
    pub trace: Rc<Trace>,
    /// Names come from here.
    pub cluster: Rc<Cluster>,
    /// Who the packet was meant for.
    #[prop_or_default]
    pub intended: Option<Endpoint>,
    /// Cursor.
    pub step: usize,
    /// Animation running.
    pub playing: bool,
    /// Speed factor.
    pub speed: u32,
    /// Where actions go.
    pub on: Callback<Action>,
}

/// The verdict in words, comparing who got the packet with who it was for.
pub fn verdict_text(c: &Cluster, t: &Trace, intended: Option<Endpoint>) -> (bool, String) {
    match t.verdict {
        Verdict::Delivered { to } if intended.is_some_and(|i| i != to) => (
            false,
            format!(
                "Delivered to {}, not to {}: both have {}. This isn't going to work.",
                c.name_of(to),
                c.name_of(intended.unwrap_or(to)),
                t.received().map(|f| f.dst.to_string()).unwrap_or_default()
            ),
        ),
        Verdict::Delivered { to } => {
            let (sent, seen) = (t.sent.map(|f| f.src), t.received().map(|f| f.src));
            let nat = if sent == seen {
                format!(
                    "source {} unchanged: no NAT",
                    seen.map(|s| s.to_string()).unwrap_or_default()
                )
            } else {
                format!(
                    "source rewritten from {} to {} (NAT)",
                    sent.map(|s| s.to_string()).unwrap_or_default(),
                    seen.map(|s| s.to_string()).unwrap_or_default()
                )
            };
            (true, format!("Delivered to {}; {nat}.", c.name_of(to)))
        }
        Verdict::Dropped { at, reason } => {
            (false, format!("Dropped at {}: {reason}.", at.label(c)))
        }
    }
}

/// Controls plus the hop list.
#[function_component(Player)]
pub fn player(p: &PlayerProps) -> Html {
    let t = &p.trace;
    let last = t.hops.len().saturating_sub(1);
    let on = |a: Action| {
        let cb = p.on.clone();
        Callback::from(move |_: MouseEvent| cb.emit(a.clone()))
    };
    let speed = {
        let cb = p.on.clone();
        Callback::from(move |e: Event| {
            let v = e
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            cb.emit(Action::Speed(v.parse().unwrap_or(1)));
        })
    };
    let export = {
        let t = t.clone();
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = download(
                "podnet-trace.pcap",
                "application/vnd.tcpdump.pcap",
                &pcap::to_pcap(&t),
            ) {
                gloo::console::error!(e);
            }
        })
    };
    let (ok, verdict) = verdict_text(&p.cluster, t, p.intended);
    let at_end = p.step >= last;
    html! {
        <div class="player">
            <div class="controls" role="toolbar" aria-label="simulation controls">
                <button id="btn-back" onclick={on(Action::Step(-1))} disabled={p.step == 0} title="Step back (←)">{ "◀ Back" }</button>
                <button id="btn-play" onclick={on(Action::TogglePlay)} title="Play or pause (space)">
                    { if p.playing { "❚❚ Pause" } else { "▶ Play" } }
                </button>
                <button id="btn-step" onclick={on(Action::Step(1))} disabled={at_end} title="Step forward (→)">{ "Step ▶" }</button>
                <label>{ "Speed " }
                    <select id="speed" onchange={speed}>
                        { for [1u32, 2, 4, 8].iter().map(|&s| html!{ <option value={s.to_string()} selected={s == p.speed}>{ format!("{s}×") }</option> }) }
                    </select>
                </label>
                <button id="btn-pcap" onclick={export} title="Every hop's frame, for Wireshark">{ "Export .pcap" }</button>
                <span class="counter" id="hop-counter">{ format!("hop {}/{}", p.step + 1, t.hops.len()) }</span>
            </div>
            <ol class="hops">
                { for t.hops.iter().enumerate().map(|(i, h)| {
                    let class = if i == p.step { "current" } else if i < p.step { "past" } else { "future" };
                    let before = i.checked_sub(1).map(|j| t.hops[j].frame);
                    let seek = on(Action::Seek(i));
                    html! {
                        <li class={classes!("hop", class)} data-hop={i.to_string()}>
                            <details open={i == p.step}>
                                <summary onclick={seek}>
                                    <span class="place">{ h.place.label(&p.cluster) }</span>
                                    <span class="step">{ describe(&h.step, &p.cluster) }</span>
                                </summary>
                                <Headers frame={h.frame} before={before} />
                            </details>
                        </li>
                    }
                }) }
            </ol>
            { if at_end {
                html! { <p id="verdict" class={classes!("verdict", if ok { "ok" } else { "bad" })}>{ verdict }</p> }
            } else { html! {} } }
        </div>
    }
}
