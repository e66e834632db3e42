//! Simulation controls and the hop list: play, pause, step, speed, inspect, export.

use std::rc::Rc;

use podnet_core::forward::{describe, pcap, plain, Trace};
use podnet_core::topology::{Cluster, Endpoint};
use yew::prelude::*;

use super::download::download;
use super::glossary::linked;
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
    /// The hop where the learner's prediction went wrong, marked.
    #[prop_or_default]
    pub wrong: Option<usize>,
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
        let (t, c) = (t.clone(), p.cluster.clone());
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = download(
                "podnet-trace.pcapng",
                "application/x-pcapng",
                &pcap::to_pcapng(&t, &c),
            ) {
                gloo::console::error!(e);
            }
        })
    };
    // Keep the current hop in view while playing or stepping: the list
    // scrolls to it, and the page as little as needed. Not on the first
    // render, so opening a scene never moves the page.
    let list = use_node_ref();
    let mounted = use_mut_ref(|| false);
    {
        let list = list.clone();
        use_effect_with(p.step, move |_| {
            if !std::mem::replace(&mut *mounted.borrow_mut(), true) {
                return;
            }
            let current = list
                .cast::<web_sys::Element>()
                .and_then(|l| l.query_selector("li.hop.current").ok().flatten());
            if let Some(li) = current {
                let opts = web_sys::ScrollIntoViewOptions::new();
                opts.set_block(web_sys::ScrollLogicalPosition::Nearest);
                li.scroll_into_view_with_scroll_into_view_options(&opts);
            }
        });
    }
    let verdict = t.summary(&p.cluster, p.intended);
    let at_end = p.step >= last;
    // What a screen reader hears as the packet moves.
    let narration = t.hops.get(p.step).map_or_else(String::new, |h| {
        format!(
            "Hop {} of {}: {}",
            p.step + 1,
            t.hops.len(),
            plain(h, &p.cluster)
        )
    });
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
                <button id="btn-pcap" onclick={export} title="The frame on every wire it crossed, one interface per veth or LAN, for Wireshark">{ "Export .pcapng" }</button>
                <span class="counter" id="hop-counter">{ format!("hop {}/{}", p.step + 1, t.hops.len()) }</span>
            </div>
            <p id="hop-narration" class="narration" aria-live="polite">{ narration }</p>
            { if at_end {
                html! { <p id="verdict" class={classes!("verdict", if verdict.ok { "ok" } else { "bad" })}>{ verdict.text }</p> }
            } else { html! {} } }
            <ol class="hops" ref={list}>
                { for t.hops.iter().enumerate().map(|(i, h)| {
                    let class = if i == p.step { "current" } else if i < p.step { "past" } else { "future" };
                    let before = i.checked_sub(1).map(|j| t.hops[j].frame);
                    let outer_before = i.checked_sub(1).and_then(|j| t.hops[j].outer);
                    // The page opens the current hop: the browser's own toggle
                    // would close it again on the same click.
                    let seek = {
                        let cb = p.on.clone();
                        Callback::from(move |e: MouseEvent| {
                            e.prevent_default();
                            cb.emit(Action::Seek(i));
                        })
                    };
                    html! {
                        <li class={classes!("hop", class, (p.wrong == Some(i)).then_some("wrong"))} data-hop={i.to_string()}>
                            <details open={i == p.step}>
                                <summary onclick={seek}>
                                    <span class="place">{ h.place.label(&p.cluster) }</span>
                                    <span class="step">{ describe(&h.step, &p.cluster) }</span>
                                    { if h.outer.is_some() { html! { <span class="encap-tag" title="inside VXLAN">{ "VXLAN" }</span> } } else { html! {} } }
                                </summary>
                                <p class="plain">{ linked(&plain(h, &p.cluster)) }</p>
                                <Headers frame={h.frame} before={before} outer={h.outer} outer_before={outer_before} />
                            </details>
                        </li>
                    }
                }) }
            </ol>
        </div>
    }
}
