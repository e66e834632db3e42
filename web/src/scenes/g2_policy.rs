//! g2. Isolating pods: NetworkPolicy, on the layout Kubernetes' own
//! NetworkPolicy tests use (namespaces x, y, z with pods a, b, c). The
//! learner picks a preset or writes policies as kubectl takes them (core
//! reads them; an error names its line), sees who reaches whom on a port
//! with the policy that decided each cell, and plays any cell's packet,
//! dropped at the node whose hook enforces the policy.

use std::rc::Rc;

use podnet_core::policy::layout::PRESETS;
use yew::prelude::*;

use super::{PacketView, SceneProps};
use crate::components::policy_editor::PolicyEditor;
use crate::state::{Action, PolicyCase};

/// Scene g2.
pub fn policy_scene(p: &SceneProps) -> Html {
    let Some(f) = p.model.policy.clone() else {
        return html! {
            <section class="scene" id="scene-g2">
                <p class="error">{ p.model.error.clone().unwrap_or_default() }</p>
            </section>
        };
    };
    let case = p.state.policy.clone();
    let set = |c: PolicyCase| {
        let on = p.on.clone();
        Callback::from(move |_: MouseEvent| on.emit(Action::SetPolicy(c.clone())))
    };
    let on_valid = {
        let (on, case) = (p.on.clone(), case.clone());
        Callback::from(move |yaml: Rc<str>| {
            on.emit(Action::SetPolicy(PolicyCase {
                yaml,
                pair: None,
                ..case.clone()
            }))
        })
    };
    let n = f.pods.len();
    let proto = if case.udp { "UDP" } else { "TCP" };
    let (from, to) = f.pair;
    // Core's explanation starts with the verdict ("denied: …").
    let (said, ok) = match f.cells.get(from * n + to) {
        Some(Some((ok, why))) => (
            format!(
                "{} → {} on {proto} {}: {why}",
                f.pods[from], f.pods[to], case.port
            ),
            *ok,
        ),
        _ => (
            format!(
                "{} to itself: loopback, which never leaves the pod; no policy applies.",
                f.pods[from]
            ),
            true,
        ),
    };
    let cell = |i: usize, j: usize| {
        let (class, mark, why) = match &f.cells[i * n + j] {
            Some((true, why)) => ("ok", "✓", why.clone()),
            Some((false, why)) => ("bad", "✗", why.clone()),
            None => ("none", "·", "a pod to itself (loopback)".to_string()),
        };
        let label = format!("{} → {}: {why}", f.pods[i], f.pods[j]);
        let pick = set(PolicyCase {
            pair: Some((i as u8, j as u8)),
            ..case.clone()
        });
        html! {
            <td class={classes!("cell", class, ((i, j) == f.pair).then_some("picked"))}>
                <button type="button" class="cell-btn" aria-label={label.clone()} title={label}
                    data-cell={format!("{i}-{j}")} onclick={pick}>{ mark }</button>
            </td>
        }
    };
    let ports = [(80, false), (81, false), (80, true), (81, true)];
    html! {
        <section class="scene" id="scene-g2">
            <div class="explain">
                <p>{ "Scene d's promise is that every pod reaches every pod. A NetworkPolicy takes some of that back: it selects pods in its namespace and isolates them, for traffic coming in (ingress), going out (egress), or both. An isolated pod gets only what some rule of the policies selecting it allows; the rules of all of them add up. A connection needs the sender's egress and the receiver's ingress; its replies always pass, and so does traffic from a pod's own node (the kubelet's probes)." }</p>
                <p>{ "The pods are the ones Kubernetes' own NetworkPolicy tests use: namespaces x, y and z (labelled ns: x, …), each with pods a, b and c (labelled pod: a, …), every pod serving TCP and UDP on ports 80 and 81. Pods a and b run on node1, c on node2." }</p>
                <div class="cases" role="group" aria-label="Presets">
                    { for PRESETS.iter().map(|pr| {
                        let on = *case.yaml == *pr.manifest;
                        html! {
                            <button id={format!("preset-{}", pr.key)} class={classes!(on.then_some("on"))} aria-pressed={on.to_string()}
                                onclick={set(PolicyCase { yaml: pr.manifest.into(), pair: None, ..case.clone() })}>{ pr.title }</button>
                        }
                    }) }
                    <button id="preset-none" class={classes!(case.yaml.trim().is_empty().then_some("on"))}
                        aria-pressed={case.yaml.trim().is_empty().to_string()}
                        onclick={set(PolicyCase { yaml: "".into(), pair: None, ..case.clone() })}>{ "No policy" }</button>
                </div>
                <PolicyEditor id="policy" yaml={case.yaml.clone()} {on_valid} note="The table still shows the last policies that were valid." />
                <ul id="policy-list">
                    { for f.policies.iter().map(|(name, what)| html! { <li><b>{ name }</b>{ format!(" {what}") }</li> }) }
                    { if f.policies.is_empty() { html! { <li>{ "No policy: nothing is isolated, every pod reaches every pod." }</li> } } else { html! {} } }
                </ul>
                <div class="cases" role="group" aria-label="Port and protocol of the table">
                    { for ports.iter().map(|&(port, udp)| {
                        let on = case.port == port && case.udp == udp;
                        html! {
                            <button id={format!("port-{}-{port}", if udp { "udp" } else { "tcp" })} class={classes!(on.then_some("on"))}
                                aria-pressed={on.to_string()} onclick={set(PolicyCase { port, udp, pair: None, ..case.clone() })}>
                                { format!("{} {port}", if udp { "UDP" } else { "TCP" }) }</button>
                        }
                    }) }
                </div>
                <p id="policy-count">{ format!(
                    "Of the {} connections between two different pods (TCP and UDP, ports 80 and 81), {} are allowed and {} denied.",
                    f.allowed.1, f.allowed.0, f.allowed.1 - f.allowed.0) }</p>
                <table class="reach" id="policy-table">
                    <caption>{ format!("Who reaches whom on {proto} {}: pick a cell to send its packet", case.port) }</caption>
                    <thead><tr><th>{ "from \\ to" }</th>{ for f.pods.iter().map(|x| html! { <th>{ x }</th> }) }</tr></thead>
                    <tbody>
                        { for (0..n).map(|i| html! {
                            <tr><th>{ format!("{} ({})", f.pods[i], f.nodes[i]) }</th>{ for (0..n).map(|j| cell(i, j)) }</tr>
                        }) }
                    </tbody>
                </table>
                <p id="policy-reason" class={classes!("cell-reason", if ok { "ok" } else { "bad" })} aria-live="polite">{ said }</p>
            </div>
            <PacketView ..p.clone() />
        </section>
    }
}
