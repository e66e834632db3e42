//! h. Sandbox: set the ranges, add and remove nodes and pods, send any packet.

use podnet_core::forward::Proto;
use podnet_core::topology::Dataplane;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::{PacketView, SceneProps};
use crate::components::topology::Topology;
use crate::state::{Action, SandboxSpec, MAX_LANS, MAX_NODES, MAX_PODS};

/// A callback that edits a copy of the sandbox spec and sends it.
fn edit<E: 'static>(p: &SceneProps, f: impl Fn(&mut SandboxSpec, E) + 'static) -> Callback<E> {
    let (on, spec) = (p.on.clone(), p.state.sandbox.clone());
    Callback::from(move |e: E| {
        let mut s = spec.clone();
        f(&mut s, e);
        on.emit(Action::Sandbox(s));
    })
}

fn input_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

/// Scene h.
#[function_component(SandboxScene)]
pub fn sandbox_scene(p: &SceneProps) -> Html {
    let spec = &p.state.sandbox;
    let c = &p.model.cluster;
    let names: Vec<String> = c
        .nodes()
        .iter()
        .map(|n| n.name.clone())
        .chain(c.pods().iter().map(|p| p.name.clone()))
        .collect();
    let choose = |id: &'static str, current: &str, cb: Callback<Event>| {
        html! {
            <select id={id} onchange={cb}>
                { for names.iter().map(|n| html! { <option value={n.clone()} selected={n == current}>{ n.clone() }</option> }) }
                { if names.iter().any(|n| n == current) { html! {} } else { html! { <option selected=true value="">{ "—" }</option> } } }
            </select>
        }
    };
    html! {
        <section class="scene" id="scene-h">
            <form class="sandbox" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <label>{ "Cluster range " }
                    <input id="sb-cidr" value={spec.cidr.clone()} size="18" onchange={edit(p, |s, e: Event| s.cidr = input_value(&e))} />
                </label>
                <label>{ "Node prefix / " }
                    <input id="sb-prefix" value={spec.prefix.clone()} size="3" onchange={edit(p, |s, e: Event| s.prefix = input_value(&e))} />
                </label>
                <label>
                    <input id="sb-network" type="checkbox" checked={spec.network} onchange={edit(p, |s, _: Event| s.network = !s.network)} />
                    { " cluster network" }
                </label>
                <label>{ " backend " }
                    <select id="sb-backend" disabled={!spec.network}
                        onchange={edit(p, |s, e: Event| s.backend = select_value(&e).parse().unwrap_or(Dataplane::HostGw))}>
                        { for Dataplane::BACKENDS.iter().map(|&b| html! { <option value={b.key()} selected={b == spec.backend}>{ b.key() }</option> }) }
                    </select>
                </label>
                <label title="node K goes on LAN (K-1) mod N; a router joins the LANs">{ " LANs " }
                    <select id="sb-lans" onchange={edit(p, |s, e: Event| s.lans = select_value(&e).parse::<u8>().unwrap_or(1).clamp(1, MAX_LANS))}>
                        { for (1..=MAX_LANS).map(|n| html! { <option value={n.to_string()} selected={n == spec.lans}>{ n.to_string() }</option> }) }
                    </select>
                </label>
                <ul class="sb-nodes">
                    { for spec.pods.iter().enumerate().filter_map(|(i, &n)| Some((i, n?))).map(|(i, n)| html! {
                        <li>
                            { format!("node{}: {n} pods ", i + 1) }
                            <button type="button" id={format!("sb-minus-{}", i + 1)} disabled={n == 0}
                                onclick={edit(p, move |s, _: MouseEvent| s.pods[i] = s.pods[i].map(|n| n.saturating_sub(1)))}>{ "−" }</button>
                            <button type="button" id={format!("sb-plus-{}", i + 1)} disabled={n >= MAX_PODS}
                                onclick={edit(p, move |s, _: MouseEvent| s.pods[i] = s.pods[i].map(|n| (n + 1).min(MAX_PODS)))}>{ "+" }</button>
                            // A removed node leaves its place: the others keep their names and ranges.
                            <button type="button" id={format!("sb-remove-{}", i + 1)}
                                onclick={edit(p, move |s, _: MouseEvent| {
                                    s.pods[i] = None;
                                    while s.pods.last() == Some(&None) { s.pods.pop(); }
                                })}>{ "remove node" }</button>
                        </li>
                    }) }
                </ul>
                <button type="button" id="sb-add-node" disabled={spec.pods.len() >= MAX_NODES}
                    onclick={edit(p, |s, _: MouseEvent| s.pods.push(Some(1)))}>{ "Add node" }</button>
                { if spec.pods.len() >= MAX_NODES { html! {
                    <span id="sb-limit" class="limit">{ format!("The sandbox holds at most {MAX_NODES} nodes.") }</span>
                } } else { html! {} } }
                <div class="sb-send">
                    <label>{ "From " }{ choose("sb-from", &spec.from, edit(p, |s, e: Event| s.from = select_value(&e))) }</label>
                    <label>{ " to " }{ choose("sb-to", &spec.to, edit(p, |s, e: Event| s.to = select_value(&e))) }</label>
                    <label>{ " send " }
                        <select id="sb-proto" onchange={edit(p, |s, e: Event| s.proto = Proto::from_key(&select_value(&e)).unwrap_or(Proto::Ping))}>
                            { for Proto::ALL.iter().map(|&x| html! { <option value={x.key()} selected={x == spec.proto}>{ x.key() }</option> }) }
                        </select>
                    </label>
                </div>
            </form>
            { match &p.model.error {
                Some(e) => html! { <p id="sb-error" class="error" role="alert">{ e.clone() }</p> },
                None => html! {},
            } }
            { if p.model.trace.is_some() { html! { <PacketView ..p.clone() /> } } else { html! { <Topology cluster={c.clone()} /> } } }
        </section>
    }
}
